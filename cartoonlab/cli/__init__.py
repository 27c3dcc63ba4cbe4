"""The `cartoonlab` command: subcommand groups, each in its own module."""

from __future__ import annotations

import argparse
import sys

from cartoonlab.cli import data

GROUPS = {"data": data}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cartoonlab",
        description="Photo-to-cartoon GAN experiments (CartoonGAN, CycleGAN, improved CartoonGAN).",
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name, module in GROUPS.items():
        module.register(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    code = args.func(args) or 0
    if __name__ != "__main__":
        raise SystemExit(code)
    return code
