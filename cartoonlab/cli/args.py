"""argparse value types that refuse bad numbers where they enter, naming the value."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"int >= {low}"  # argparse names the type in its message
    return parse


positive_int = int_at_least(1)


def folder_path(text: str) -> str:
    """A folder argument: the empty string is refused (it would mean the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty string")
    return text


def words(values: list[str] | None) -> list[str] | None:
    """A multi-value option's values: separate words (`--cells a b`), and, as before, one
    quoted string with spaces or commas (`--cells "a b"`, `--cells a,b`)."""
    return " ".join(values).replace(",", " ").split() if values else None
