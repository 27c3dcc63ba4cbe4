"""`cartoonlab data smooth`: edge-promote a cartoon folder once, in parallel, cached.

The output mirrors the source tree (`DST/<relative path>[.png]`). A manifest
`DST/.cartoonlab-smooth.json` records the parameters and, per file, the SHA-256
of the source and of its output; a file whose source, parameters and output are
unchanged is not redone, so a second run does nothing, and an output that was
edited or corrupted since is smoothed again. Every output is written to a temporary name and
renamed (`write_image`), so an interrupted run never leaves a half-written image,
and a failed write is counted as failed.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2

from cartoonlab.data.edges import EdgeParams, edge_smooth
from cartoonlab.data.folders import file_sha256, list_images, load_rgb, write_image
from cartoonlab.utils import atomic_write_text, die_with_parent

MANIFEST = ".cartoonlab-smooth.json"


def smooth_path(dst: Path, rel: str) -> Path:
    """Where the smoothed twin of source file `rel` lives under `dst`."""
    return dst / (rel if rel.lower().endswith(".png") else rel + ".png")


@dataclass
class SmoothStats:
    written: int = 0
    reused: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    manifest_ignored: str | None = None  # why the previous manifest could not be used


def _smooth_one(job: tuple[str, str, EdgeParams]) -> str | None:
    src, out, params = job
    cv2.setNumThreads(1)  # one process per core already
    try:
        write_image(Path(out), edge_smooth(load_rgb(src), params))  # checked and atomic
    except Exception as err:  # noqa: BLE001 - reported and counted by the caller
        return f"{type(err).__name__}: {err}"
    return None


def _read_manifest(path: Path) -> tuple[dict, str | None]:
    """The previous run's manifest, or `{}` and why not: a corrupt one (truncated,
    edited, not ours) is ignored, so every image is smoothed again and it is rewritten."""
    if not path.exists():
        return {}, None
    try:
        old = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        return {}, f"{path}: not valid JSON ({err})"
    if isinstance(old, dict) and isinstance(old.get("files", {}), dict):
        return old, None
    return {}, f"{path}: not a cartoonlab manifest"


def smooth_folder(
    src: str | Path, dst: str | Path, params: EdgeParams = EdgeParams(), workers: int | None = None
) -> SmoothStats:
    """Edge-promote every image of `src` into `dst`; reuse what is already there."""
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError(
            f"output folder {dst} is (inside) the source folder {src}: the cartoons would be "
            "overwritten or smoothed again on the next run; choose another folder"
        )
    sources = list_images(src)
    if not sources:
        raise ValueError(f"no image files in {src}: nothing to smooth")
    claimed: dict[Path, str] = {}
    for path in sources:  # `x.JPG` and `x.JPG.png` both map to `x.JPG.png`: refused before writing
        rel = path.relative_to(src).as_posix()
        other = claimed.setdefault(smooth_path(dst, rel), rel)
        if other != rel:
            raise ValueError(
                f"{other} and {rel} would both be smoothed into {smooth_path(dst, rel)}: rename one"
            )
    dst.mkdir(parents=True, exist_ok=True)
    manifest_file = dst / MANIFEST
    old, problem = _read_manifest(manifest_file)
    old_files = old.get("files", {}) if old.get("params") == asdict(params) else {}

    stats, files, jobs = SmoothStats(manifest_ignored=problem), {}, []
    for path in sources:
        rel = path.relative_to(src).as_posix()
        out = smooth_path(dst, rel)
        try:
            was, files[rel] = old_files.get(rel), {"src": file_sha256(path)}
        except OSError as err:  # unreadable: counted as failed, the others go on
            stats.failed[rel] = f"cannot read: {err.strerror or err}"
            continue
        if (
            isinstance(was, dict)
            and was.get("src") == files[rel]["src"]
            and out.is_file()
            and was.get("out") == file_sha256(out)
        ):
            files[rel] = was
            stats.reused += 1
        else:
            jobs.append((str(path), str(out), params))

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if len(jobs) > 16 and workers > 1:
        with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
            errors = list(pool.map(_smooth_one, jobs, chunksize=16))
    else:
        errors = [_smooth_one(job) for job in jobs]
    for (path, out, _), err in zip(jobs, errors):
        rel = Path(path).relative_to(src).as_posix()
        if err is None:
            files[rel]["out"] = file_sha256(out)
            stats.written += 1
        else:
            stats.failed[rel] = err
            files.pop(rel)
    atomic_write_text(manifest_file, json.dumps({"params": asdict(params), "files": files}, indent=1))
    return stats
