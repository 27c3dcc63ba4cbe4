"""Inception features of image files and tensors, with an on-disk cache for reference sets.

A reference set's features are keyed by the SHA-256 of every file's content, the
image size it is evaluated at and the backbone name, so a second run, and every
ablation cell on the same data, reuses them.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from cartoonlab.data.folders import file_sha256, load_rgb
from cartoonlab.data.transforms import eval_transform
from cartoonlab.metrics.backbone import InceptionFeatures
from cartoonlab.utils import cache_dir, replacing


def to_uint8_tensor(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 0..255 (what FID implementations read from PNGs)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


MAX_BATCH_PIXELS = 32 * 512 * 512


def _load(path: Path, image_size: int | None) -> np.ndarray:
    img = load_rgb(path)
    return eval_transform(image_size)(image=img)["image"] if image_size else img


@torch.no_grad()
def file_features(
    backbone: InceptionFeatures,
    paths: list[Path],
    image_size: int | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Features of image files; `image_size` crops like the DataModule's eval
    transform (None: native size, batched by equal sizes)."""
    backbone = backbone.to(device)
    feats = torch.empty(len(paths), backbone.num_features)
    batch: list[np.ndarray] = []
    first = 0  # index of batch[0] in paths

    def flush() -> None:
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(device)
        feats[first : first + len(batch)] = backbone(x).cpu()
        if progress:
            progress(len(batch))

    # streamed: consecutive images of one shape form a batch of at most `batch_size` images and
    # MAX_BATCH_PIXELS pixels, so memory stays bounded whatever the number and size of the files
    for i, path in enumerate(paths):
        img = _load(path, image_size)
        if batch and (
            img.shape != batch[0].shape
            or len(batch) == batch_size
            or (len(batch) + 1) * img.shape[0] * img.shape[1] > MAX_BATCH_PIXELS
        ):
            flush()
            batch, first = [], i
        batch.append(img)
    if batch:
        flush()
    return feats


def reference_features(
    backbone: InceptionFeatures,
    paths: Iterable[Path],
    image_size: int | None = None,
    device: str | torch.device = "cpu",
    **kw,
) -> torch.Tensor:
    """`file_features`, cached on disk (see the module docstring)."""
    paths = list(paths)
    h = hashlib.sha256(f"{backbone.name}|{image_size}".encode())
    for p in paths:
        h.update(bytes.fromhex(file_sha256(p)))
    path = cache_dir() / "fid" / f"{h.hexdigest()[:32]}.pt"
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - a corrupt cache entry is recomputed, not fatal
            warnings.warn(f"unreadable FID cache {path} ({type(err).__name__}): recomputing", stacklevel=2)
    feats = file_features(backbone, paths, image_size, device, **kw)
    try:  # the cache is optional: a read-only cache folder must not lose the features
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            torch.save(feats, tmp)
    except OSError as err:
        warnings.warn(
            f"FID features not cached ({err.strerror or err}: {err.filename or path.parent}); "
            f"set CARTOONLAB_CACHE to a writable folder to reuse them",
            stacklevel=2,
        )
    return feats
