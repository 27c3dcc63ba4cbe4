"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "instance", "instance_affine", "none"]
Activation = Literal["relu", "leaky_relu"]
Upsample = Literal["transposed", "resize_conv"]


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    """BatchNorm; InstanceNorm without affine or running stats (CycleGAN reference);
    "instance_affine": InstanceNorm with a learned scale and shift and eps 1e-9, the
    CartoonGAN author's released test network (`cartoonlab.released`); or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "instance_affine":
        return nn.InstanceNorm2d(channels, eps=1e-9, affine=True, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use batch, instance, instance_affine or none")


def make_activation(kind: Activation, slope: float = 0.01) -> nn.Module:
    """ReLU, or LeakyReLU with `slope` (PyTorch's default 0.01, as in the DIYA post)."""
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leaky_relu":
        return nn.LeakyReLU(slope, inplace=True)
    raise ValueError(f"unknown activation {kind!r}; use relu or leaky_relu")


def uses_bias(norm: Norm) -> bool:
    # BatchNorm has its own shift; InstanceNorm without affine cancels a bias anyway
    # (the reference keeps bias only with InstanceNorm, which we follow).
    return norm != "batch"


class ResBlock(nn.Module):
    """x + conv-norm-act-conv-norm(x), reflection padded (both references)."""

    def __init__(self, channels: int, norm: Norm, act: Activation, slope: float) -> None:
        super().__init__()
        bias = uses_bias(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
            make_activation(act, slope),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def up_conv(cin: int, cout: int, kernel: int, mode: Upsample, bias: bool) -> nn.Module:
    """x2 upsampling: a stride-2 transposed conv, or nearest resize + conv (no checkerboard)."""
    if mode == "transposed":
        return nn.ConvTranspose2d(
            cin,
            cout,
            kernel,
            stride=2,
            padding=kernel // 2 - (kernel % 2 == 0),
            output_padding=1 if kernel % 2 else 0,
            bias=bias,
        )
    if mode == "resize_conv":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1, bias=bias)
        )
    raise ValueError(f"unknown upsampling {mode!r}; use transposed or resize_conv")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """N(0, std) for convs, N(1, std) for norm scales, zero biases (both references)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def init_config(net: nn.Module, args: dict) -> dict:
    """What a network records as `net.config`, so that a checkpoint or an export can rebuild it:
    `{"class_path": "module.Class", "init_args": {...}}`. `args` is `locals()` taken on the first
    line of its keyword-only `__init__`: every constructor argument, defaults applied."""
    cls = type(net)
    init_args = {k: v for k, v in args.items() if k not in ("self", "__class__")}  # __class__: super()'s cell
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}
