"""The `cartoonlab` command: subcommand groups, each in its own module."""

from __future__ import annotations

import argparse
import sys

from cartoonlab.cli import ablation, cartoonize, data, metrics

SUBCOMMANDS = ("fit", "validate", "test", "predict")

GROUPS = {"data": data, "metrics": metrics, "cartoonize": cartoonize, "ablation": ablation}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cartoonlab",
        description="Photo-to-cartoon GAN experiments (CartoonGAN, CycleGAN, improved CartoonGAN).",
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        sub.add_parser(name, help=f"Lightning CLI: {name} a model (see `cartoonlab {name} --help`)",
                       add_help=False)
    for name, module in GROUPS.items():
        module.register(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SUBCOMMANDS:  # the Lightning CLI parses these itself
        from cartoonlab.cli.train import run_cli

        run_cli(argv)
        return 0
    args = build_parser().parse_args(args)
    code = args.func(args) or 0
    if __name__ != "__main__":
        raise SystemExit(code)
    return code
