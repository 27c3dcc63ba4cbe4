"""The `cartoonlab` command's exit codes (re-exported by `cartoonlab.cli`), importable by
every subcommand module without importing the package's `main`."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran but did not do what was asked (e.g. nothing written, a run failed)
EXIT_USER = 2  # bad input: a value, a missing or unreadable file, a refused output (argparse's code too)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM
