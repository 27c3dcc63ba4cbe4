"""Small helpers shared by every layer (no imports from cartoonlab)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_dir() -> Path:
    """cartoonlab's cache root: `$CARTOONLAB_CACHE`, else `~/.cache/cartoonlab`."""
    root = os.environ.get("CARTOONLAB_CACHE") or Path.home() / ".cache" / "cartoonlab"
    return Path(root)


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies, even by SIGKILL
    (PR_SET_PDEATHSIG): a killed command leaves no orphaned worker behind. Used as the
    `preexec_fn` of run subprocesses and the `initializer` of process pools; a no-op
    elsewhere."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
