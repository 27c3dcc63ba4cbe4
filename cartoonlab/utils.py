"""Small helpers shared by every layer (no imports from cartoonlab)."""

from __future__ import annotations

import os
import platform
import re
import tempfile
from pathlib import Path


def atomic_write_text(path: str | Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` so that readers see the old or the new file, never half.
    The file gets the mode a plain `open()` would give it (0666 less the umask), not
    `mkstemp`'s private 0600, so a shared results folder stays readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, save a matplotlib figure to a temporary name and rename it over `path`
    (never a half-written PNG), close it; `path`."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
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
