"""Reading checkpoint files without running code, and without importing Lightning
(`cartoonize`, `export` and the reports use it; `cartoonlab.checkpointing` adds the
Lightning parts that write checkpoints).

Loading goes through `torch.load(weights_only=True)`; a checkpoint that holds pickled
objects other than tensors and plain data raises `UnsafeCheckpointError` with the path, and
its code never runs; an empty, truncated or foreign file raises `NotACheckpointError`
(`read_checkpoint`), and so does a zip whose entries are compressed (`_check_stored`).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cartoonlab.utils import regular_file


class UnsafeCheckpointError(pickle.UnpicklingError):
    """`torch.load(weights_only=True)` refused a checkpoint."""

    def __init__(self, path: Any, cause: BaseException) -> None:
        text = str(cause)
        found = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
        reason = (
            found.group(1)
            if found
            else text.strip().splitlines()[0]
            if text.strip()
            else type(cause).__name__
        ).split(". ")[0]
        super().__init__(
            f"cannot load checkpoint {path} safely: torch.load(weights_only=True) refused it ({reason}). "
            "cartoonlab loads only checkpoints that hold tensors and plain data, never other pickled "
            "objects, whose loading can run arbitrary code. Use a checkpoint that cartoonlab wrote."
        )


class NotACheckpointError(ValueError):
    """The file is empty, truncated, or not a PyTorch checkpoint at all."""

    def __init__(self, path: Any, what: str) -> None:
        super().__init__(f"{path} is not a checkpoint ({what}); give a .ckpt written by `cartoonlab fit`")


@contextmanager
def checkpoint_errors(path: Any) -> Iterator[None]:
    """Turn `torch.load`'s failures on a bad file into `UnsafeCheckpointError` /
    `NotACheckpointError` naming `path` (a missing file stays a `FileNotFoundError`).
    A local file that starts as neither a zip archive (torch >= 1.6) nor a binary pickle
    (the legacy format) is refused before `torch.load` reads it: a text file is not a
    PyTorch file, and not an unsafe one either."""
    _check_magic(path)
    try:
        yield
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(path, e) from e
    except EOFError as e:
        raise NotACheckpointError(path, "empty or truncated") from e
    except (KeyError, IndexError, UnicodeDecodeError) as e:  # a text or other non-pickle file
        raise NotACheckpointError(path, "not a PyTorch file") from e
    except OSError as e:
        if e.filename is not None:  # missing, a folder, no permission: the OS names the file
            raise
        raise NotACheckpointError(path, "truncated or corrupt archive") from e
    except RuntimeError as e:
        if "zip archive" not in str(e) and "PytorchStreamReader" not in str(e):
            raise  # e.g. CUDA tensors on a machine without CUDA: not the file's fault
        raise NotACheckpointError(path, "truncated or corrupt archive") from e


def _check_magic(path: Any) -> None:
    if isinstance(path, (str, Path)):
        regular_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except (OSError, TypeError, ValueError):  # missing, a folder, a URL: torch.load says which
        return
    if not head:
        raise NotACheckpointError(path, "empty or truncated")
    if head != b"PK" and head[:1] != b"\x80":
        raise NotACheckpointError(path, "not a PyTorch file")
    if head == b"PK":
        _check_stored(path)


def _check_stored(path: Any) -> None:
    """`torch.save` stores every entry of its zip uncompressed (so tensors can be mapped),
    so a checkpoint's size bounds what loading it allocates. An archive with a compressed
    entry was not written by torch.save, and one deflated entry can inflate to any size (a
    zip bomb): refused from the central directory alone, before any entry is read."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            packed = [i for i in z.infolist() if i.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # torch.load reports a damaged archive itself
    if packed:
        biggest = max(packed, key=lambda i: i.file_size)
        raise NotACheckpointError(
            path,
            f"{len(packed)} compressed entr{'y' if len(packed) == 1 else 'ies'} (e.g. {biggest.filename}, "
            f"{biggest.compress_size} bytes inflating to {biggest.file_size}): torch.save stores them "
            "uncompressed, so this was not written by it and is not loaded",
        )


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A Lightning checkpoint's contents, loaded with `weights_only=True`."""
    import torch

    with checkpoint_errors(path):
        state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise NotACheckpointError(path, "no state_dict: not written by Lightning")
    return state
