"""The `cartoonlab` command: subcommand groups, each in its own module.

Exit codes: every subcommand handler (`func(args) -> int`, set by each module's
`register`) returns its exit code, `EXIT_OK` (0) or `EXIT_FAILED` (1: it ran but did not do
what was asked); it never calls `sys.exit`. `main(argv) -> int` returns that code and
never raises `SystemExit`: argparse's and jsonargparse's own exits (`--help`,
`--print_config`, a usage error: `EXIT_USER`, 2, after their usage message) are caught and
returned as their code too. Only the entry points exit: the `cartoonlab` console script
and `python -m cartoonlab` do `sys.exit(main())`. In-process callers (the tests) write
`assert main([...]) == EXIT_USER`.

Error policy: a failure prints one line on stderr, `cartoonlab: error: ...`, naming the file
or value, and gives a code that says what kind of failure it was (`cartoonlab.cli.exits`:
`EXIT_USER` for bad input, `EXIT_FAILED` otherwise, `EXIT_INTERRUPTED` for Ctrl-C/SIGTERM).
Set `CARTOONLAB_TRACEBACK=1` to get the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys

from cartoonlab.cli import ablation, cartoonize, data, export, metrics, survey
from cartoonlab.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USER  # re-exported

SUBCOMMANDS = ("fit", "validate", "test", "predict")

GROUPS = {
    "data": data,
    "metrics": metrics,
    "cartoonize": cartoonize,
    "export": export,
    "ablation": ablation,
    "survey": survey,
}


def version() -> str:
    """The installed distribution's version (pyproject.toml's, once installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("cartoonlab")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cartoonlab",
        description="Photo-to-cartoon GAN experiments (CartoonGAN, CycleGAN, improved CartoonGAN).",
    )
    parser.add_argument("--version", action="version", version=f"cartoonlab {version()}")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        sub.add_parser(
            name, help=f"Lightning CLI: {name} a model (see `cartoonlab {name} --help`)", add_help=False
        )
    for name, module in GROUPS.items():
        module.register(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


TRACEBACK_ENV = "CARTOONLAB_TRACEBACK"
# what a user's input causes; anything else is reported the same way but as EXIT_FAILED
USER_ERRORS = (OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError, UnicodeError)


_UNION = "Does not validate against any of the Union subtypes"


def describe(err: BaseException) -> str:
    """One line for an exception: the file for an OSError, the message otherwise."""
    while _UNION in str(err) and err.__cause__ is not None:  # jsonargparse's wrapping of a class's error
        err = err.__cause__
    if isinstance(err, OSError) and err.filename is not None:
        text = f"{err.strerror or type(err).__name__}: {err.filename}"
    else:
        text = " ".join(str(err).split()) or type(err).__name__
        # a Union error without its cause: the first subtype's error, when it can be found
        inner = re.search(rf"{_UNION} .*?Errors: - (.*?) - Expected a <class 'NoneType'>", text)
        text = inner.group(1) if inner else text
        if not isinstance(err, (ValueError, OSError, pickle.UnpicklingError)):
            text = f"{type(err).__name__}: {text}"
    return text if len(text) <= 400 else text[:397] + "..."


def _dispatch(args: list[str]) -> int:
    if args and args[0] in SUBCOMMANDS:  # the Lightning CLI parses these itself
        from cartoonlab.cli.train import run_cli

        return run_cli(args)
    ns = build_parser().parse_args(args)
    return ns.func(ns)


def _exit_code(exit_: SystemExit) -> int:
    """The code of a `SystemExit` raised by a parser (or a refusal that carries its message),
    as the interpreter would exit with it: None is 0, a message is printed on stderr and is 1."""
    if exit_.code is None or isinstance(exit_.code, int):
        return exit_.code or EXIT_OK
    print(exit_.code, file=sys.stderr)
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Run `cartoonlab ARGV` (default `sys.argv[1:]`) and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if hasattr(sys.stdout, "reconfigure"):  # names that are not valid UTF-8 print escaped, never crash
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        return _dispatch(args)
    except SystemExit as exit_:  # --help, --print_config, a usage error: its message is printed already
        return _exit_code(exit_)
    except KeyboardInterrupt:
        print("cartoonlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # the policy above; bugs too, with the way to see their traceback
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        print(
            f"cartoonlab: error: {describe(err)} (set {TRACEBACK_ENV}=1 for the traceback)", file=sys.stderr
        )
        return EXIT_USER if isinstance(err, USER_ERRORS) else EXIT_FAILED
