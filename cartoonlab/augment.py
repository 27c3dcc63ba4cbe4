"""Differentiable augmentation of what a discriminator sees (DiffAugment: Zhao, Liu, Lin,
Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020).

With a few hundred images D memorises the real set, and G learns nothing useful from it.
DiffAugment applies the same kind of random transform to real and fake images before D,
each sample its own draw, and keeps it differentiable so G's gradient flows through it.
The policies are the paper's, built from kornia's augmentations: `color` (brightness,
saturation, contrast), `translation` (up to 1/8 of the side, grey padding), `cutout` (a
grey square of half the side). Images are in [-1, 1].
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

POLICIES = ("color", "translation", "cutout")


class DiffAugment(nn.Module):
    """`DiffAugment("color,translation,cutout")`: the policies in that order; "" is the identity."""

    def __init__(self, policy: str = "") -> None:
        super().__init__()
        names = [p.strip() for p in policy.split(",") if p.strip()]
        unknown = sorted(set(names) - set(POLICIES))
        if unknown:
            raise ValueError(
                f"unknown DiffAugment policy {', '.join(unknown)}; use a comma list of {POLICIES}"
            )
        ops = {
            "color": K.ColorJiggle(brightness=0.5, contrast=0.5, saturation=1.0, p=1.0),
            "translation": K.RandomAffine(degrees=0.0, translate=(0.125, 0.125), padding_mode="zeros", p=1.0),
            "cutout": K.RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0.0, p=1.0),
        }
        self.policy = names
        self.ops = nn.ModuleList(ops[n] for n in names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, op in zip(self.policy, self.ops):
            # kornia's colour ops work on [0, 1] images; padding and cutout are 0 in [-1, 1] (grey),
            # as in the paper's code
            x = op((x + 1) / 2) * 2 - 1 if name == "color" else op(x)
        return x
