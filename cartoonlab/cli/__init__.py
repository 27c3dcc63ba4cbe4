"""The `cartoonlab` command: subcommand groups, each in its own module.

Error policy: a failure prints one line on stderr, `cartoonlab: error: ...`, naming the file
or value, and exits with a code that says what kind of failure it was (`EXIT_*` below). Set
`CARTOONLAB_TRACEBACK=1` to get the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys

from cartoonlab.cli import ablation, cartoonize, data, export, metrics, survey

SUBCOMMANDS = ("fit", "validate", "test", "predict")

GROUPS = {"data": data, "metrics": metrics, "cartoonize": cartoonize, "export": export,
          "ablation": ablation, "survey": survey}


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


EXIT_FAILED = 1  # the command ran but did not do what was asked (e.g. nothing written, a run failed)
EXIT_USER = 2  # bad input: a value, a missing or unreadable file, a refused output (argparse's code too)
EXIT_INTERRUPTED = 130
TRACEBACK_ENV = "CARTOONLAB_TRACEBACK"
# what a user's input causes; anything else is reported the same way but as EXIT_FAILED
USER_ERRORS = (OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError, UnicodeError)


def describe(err: BaseException) -> str:
    """One line for an exception: the file for an OSError, the message otherwise."""
    if isinstance(err, OSError) and err.filename is not None:
        text = f"{err.strerror or type(err).__name__}: {err.filename}"
    else:
        text = " ".join(str(err).split()) or type(err).__name__
        # jsonargparse wraps a class's own ValueError in a Union error (model: LightningModule | None)
        inner = re.search(r"Union subtypes .*?Errors: - (.*?) - Expected a <class 'NoneType'>", text)
        text = inner.group(1) if inner else text
        if not isinstance(err, (ValueError, OSError, pickle.UnpicklingError)):
            text = f"{type(err).__name__}: {text}"
    return text if len(text) <= 400 else text[:397] + "..."


def _dispatch(args: list[str]) -> int:
    if args and args[0] in SUBCOMMANDS:  # the Lightning CLI parses these itself
        from cartoonlab.cli.train import run_cli

        run_cli(args)
        return 0
    ns = build_parser().parse_args(args)
    return ns.func(ns) or 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if hasattr(sys.stdout, "reconfigure"):  # names that are not valid UTF-8 print escaped, never crash
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        code = _dispatch(args)
    except KeyboardInterrupt:
        print("cartoonlab: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as err:  # the policy above; bugs too, with the way to see their traceback
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        print(f"cartoonlab: error: {describe(err)} (set {TRACEBACK_ENV}=1 for the traceback)", file=sys.stderr)
        code = EXIT_USER if isinstance(err, USER_ERRORS) else EXIT_FAILED
    if __name__ != "__main__":
        raise SystemExit(code)
    return code
