"""Small helpers shared by every layer (no imports from cartoonlab)."""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import re
import secrets
from pathlib import Path


def regular_file(path: str | Path) -> Path:
    """`path`, checked before it is opened for reading: a named pipe, a device or a socket
    is refused (OSError naming it), since reading one can block forever or never end. A
    missing file or a folder passes: the caller's own open reports those."""
    import stat

    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return path
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise OSError(errno.EINVAL, f"{kind}, not a regular file: give a file", str(path))
    return path


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


def temp_path(path: str | Path, suffix: str = ".tmp") -> Path:
    """A temporary name beside `path` for writing it atomically: hidden, unique to this
    writer (pid and a random token: two writers of one file never share it), ending in
    `suffix` (a writer that goes by the extension passes the real one), and never longer
    than a file name may be, however long `path`'s name is. Every atomic writer of
    cartoonlab takes its temporary name from here."""
    path = Path(path)
    tail = f".{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    name = os.fsencode(path.name)  # the bytes on disk (undecodable names included)
    room = NAME_MAX - 1 - len(os.fsencode(tail))
    if len(name) > room:  # cut at a whole UTF-8 character
        name = name[:room]
        while name and (name[-1] & 0xC0) == 0x80:
            name = name[:-1]
        if name and name[-1] >= 0xC0:
            name = name[:-1]
    return path.with_name(f".{os.fsdecode(name)}{tail}")


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = ".tmp"):
    """Write `path` atomically: yields a `temp_path` to write; when the block ends without
    an error it is renamed over `path` (readers see the old file or the new one, never half
    of one), otherwise it is removed. The file gets the mode a plain `open()` would give it
    (0666 less the umask) whatever the writer gave the temporary file (safetensors: 0600)."""
    tmp = temp_path(path, suffix)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w"):
    """An open file (`mode` "w" or "wb") whose contents replace `path` when the block ends
    without an error, flushed to disk first: readers see the old file or the new one, never
    half. It gets the mode a plain `open()` would give it (0666 less the umask), so a shared
    results folder stays readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` atomically (`atomic_file`)."""
    with atomic_file(path, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, save a matplotlib figure to a temporary name and rename it over `path`
    (never a half-written PNG), close it; `path`."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with replacing(path, ".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")  # long row labels stay whole
    finally:
        plt.close(fig)
    return path


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")


def check_name(name: str, what: str) -> str:
    """`name` if it is one plain path component (letters, digits, `_ . + = -`, not
    starting with a dot): a run or cell name must not place files outside its root."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} must be one folder name: letters, digits and _ . + = - "
            "(no '/', no '..', not starting with a dot)"
        )
    return name


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


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers (/proc/cpuinfo on Linux; a
    virtual machine's name alone, e.g. "AMD EPYC", can hide different chips), else
    `platform.processor()`, or "unknown"."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip():  # the first processor's block ends
                break
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or "unknown"
    numbers = [f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields]
    return f"{fields['model name']} ({', '.join(numbers)})" if numbers else fields["model name"]


MACHINE_PACKAGES = (
    "lightning",
    "torchmetrics",
    "torchvision",
    "numpy",
    "opencv-python-headless",
    "albumentations",
    "kornia",
    "timm",
)


def machine_info() -> dict:
    """What a run's figures depend on besides its code, config and seeds: the same run gives
    the same figures to the digit on one machine, but not always on another CPU (whose
    kernels round differently), so every record says where it ran."""
    from importlib import metadata

    import torch

    info = {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    for package in MACHINE_PACKAGES:  # what the figures can depend on (data, augmentation, networks)
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info
