"""Augmentation presets (albumentations, on CPU workers) and tensor conversion.

- `cyclegan`: resize to 286/256 of the crop size, random crop, horizontal flip
  (the reference `resize_and_crop` + flip).
- `cartoongan`: resize the short side to the crop size, centre crop, flip.
- eval (validation, test, predict): short side to the crop size, centre crop. The
  systems translate these at the scale G was trained at (`load_size`), so objects have
  the size in pixels they had in training, and score them at the crop size.

The edge-smoothed twin of a cartoon is computed from its augmented crop (see
`UnpairedTrainDataset`), so it always has the same crop and flip.
"""

from __future__ import annotations

from typing import Literal

import albumentations as A
import cv2
import numpy as np
import torch

Preset = Literal["cyclegan", "cartoongan"]


def load_size(preset: Preset, size: int) -> int:
    """The short side of a whole training image before its `size` crop: the scale at
    which G learns strokes and objects (286 for a 256 crop under `cyclegan`, as the
    reference's load_size; the crop size itself under `cartoongan`)."""
    return round(size * 286 / 256) if preset == "cyclegan" else size


def train_transform(preset: Preset, size: int) -> A.Compose:
    if preset == "cyclegan":
        load = load_size(preset, size)
        ops = [A.Resize(load, load, interpolation=cv2.INTER_CUBIC), A.RandomCrop(size, size)]
    elif preset == "cartoongan":
        ops = [A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_AREA), A.CenterCrop(size, size)]
    else:
        raise ValueError(f"unknown augmentation preset {preset!r}; use 'cyclegan' or 'cartoongan'")
    return A.Compose([*ops, A.HorizontalFlip(p=0.5)])


def eval_transform(size: int) -> A.Compose:
    return A.Compose(
        [A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_AREA), A.CenterCrop(size, size)]
    )


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    """3xHxW (or Bx3xHxW) float in [-1, 1] -> HxWx3 (or BxHxWx3) uint8."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()
