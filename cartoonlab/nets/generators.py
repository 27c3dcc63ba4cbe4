"""Generators: CartoonGAN's, CycleGAN's ResNet and U-Net. Input and output in [-1, 1].

Shapes for a 256 px input, ResNet-style generators (stride 4 in the middle):
    [B,3,256,256] -> 7x7 -> [B,64,256,256] -> down x2 -> [B,256,64,64]
    -> n residual blocks -> up x2 -> [B,64,256,256] -> 7x7 -> tanh -> [B,3,256,256]
"""

from __future__ import annotations

import torch
from torch import nn

from cartoonlab.nets.blocks import (
    Activation,
    Norm,
    ResBlock,
    Upsample,
    init_config,
    init_weights,
    make_activation,
    norm_layer,
    up_conv,
    uses_bias,
)


def resnet_generator_body(
    *,
    ngf: int,
    n_blocks: int,
    norm: Norm,
    activation: Activation,
    slope: float,
    upsample: Upsample,
    stage_conv: bool,
) -> nn.Sequential:
    """The body CartoonGAN's and CycleGAN's ResNet generators share, one flat Sequential:

        7x7 conv, norm, act
        2 down stages: 3x3 stride-2 conv [, 3x3 conv], norm, act   (ngf -> 2 ngf -> 4 ngf)
        `n_blocks` residual blocks at 4 ngf
        2 up stages:   x2 up conv (`upsample`) [, 3x3 conv], norm, act   (4 ngf -> 2 ngf -> ngf)
        7x7 conv (with bias), tanh

    `stage_conv`: the bracketed extra 3x3 conv after each resampling conv (CartoonGAN: True;
    CycleGAN: False), the only difference between the two. Convs have a bias unless followed by
    BatchNorm (`uses_bias`). The layer order fixes the state-dict keys (`net.<index>.*`), which
    `cartoonlab.released` relies on."""
    bias = uses_bias(norm)

    def stage(resample: nn.Module, c: int) -> list[nn.Module]:
        extra = [nn.Conv2d(c, c, 3, padding=1, bias=bias)] if stage_conv else []
        return [resample, *extra, norm_layer(norm, c), make_activation(activation, slope)]

    layers = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(3, ngf, 7, bias=bias),
        norm_layer(norm, ngf),
        make_activation(activation, slope),
    ]
    for c in (ngf, ngf * 2):  # down: 64 -> 128 -> 256
        layers += stage(nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), c * 2)
    layers += [ResBlock(ngf * 4, norm, activation, slope) for _ in range(n_blocks)]
    for c in (ngf * 4, ngf * 2):  # up: 256 -> 128 -> 64
        layers += stage(up_conv(c, c // 2, 3, upsample, bias), c // 2)
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class _ResnetStyle(nn.Module):
    """What the two ResNet-style generators share: the body built from the arguments they
    recorded (`args`: their `self.config["init_args"]`), the stride and the forward pass."""

    stride = 4

    def __init__(self, args: dict, *, stage_conv: bool) -> None:
        super().__init__()
        self.net = resnet_generator_body(**args, stage_conv=stage_conv)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CartoonGANGenerator(_ResnetStyle):
    """CartoonGAN generator (Chen et al. 2018, Fig. 2).

    7x7 conv -> 2 down blocks [3x3 s2 conv, 3x3 conv, norm, act] -> `n_blocks`
    residual blocks -> 2 up blocks [x2 up conv, 3x3 conv, norm, act] -> 7x7 conv
    -> tanh (`resnet_generator_body` with `stage_conv=True`). The paper's figure
    says BatchNorm (default); the author's released weights use InstanceNorm
    (`norm="instance_affine"`, see `cartoonlab.released`; `norm="instance"` is the
    DIYA "improved" G).
    """

    def __init__(
        self,
        *,
        ngf: int = 64,
        n_blocks: int = 8,
        norm: Norm = "batch",
        activation: Activation = "relu",
        slope: float = 0.01,
        upsample: Upsample = "transposed",
    ) -> None:
        self.config = init_config(self, locals())
        super().__init__(self.config["init_args"], stage_conv=True)


class ResnetGenerator(_ResnetStyle):
    """CycleGAN ResNet generator (Johnson et al. as in Zhu et al. 2017, reference code).

    c7s1-64, d128, d256, R256 x n_blocks (9 at 256 px, 6 at 128), u128, u64, c7s1-3,
    tanh (`resnet_generator_body` with `stage_conv=False`). InstanceNorm by default.
    `activation="leaky_relu"` is the velog post's variant (every activation but the
    last tanh).
    """

    def __init__(
        self,
        *,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        activation: Activation = "relu",
        slope: float = 0.2,
        upsample: Upsample = "transposed",
    ) -> None:
        self.config = init_config(self, locals())
        super().__init__(self.config["init_args"], stage_conv=False)


class UnetGenerator(nn.Module):
    """CycleGAN's U-Net generator (`unet_256`: num_downs=8; `unet_128`: 7).

    Encoder C64-C128-C256-C512-C512...; decoder mirrors it with skip
    concatenations; LeakyReLU 0.2 down, ReLU up, tanh out. The input side must be
    divisible by 2**num_downs. `dropout`: Dropout(0.5) after the up-conv of the
    `num_downs - 5` intermediate ngf*8 blocks (the reference without `--no_dropout`).
    """

    def __init__(
        self, *, ngf: int = 64, num_downs: int = 8, norm: Norm = "batch", dropout: bool = False
    ) -> None:
        self.config = init_config(self, locals())
        super().__init__()
        self.stride = 2**num_downs
        bias = uses_bias(norm)
        chans = [min(ngf * 2**i, ngf * 8) for i in range(num_downs)]  # 64,128,256,512,512,...
        self.down = nn.ModuleList()
        cin = 3
        for i, c in enumerate(chans):
            first, last = i == 0, i == num_downs - 1
            self.down.append(
                nn.Sequential(
                    *([] if first else [nn.LeakyReLU(0.2, True)]),
                    nn.Conv2d(cin, c, 4, stride=2, padding=1, bias=bias),
                    *([] if first or last else [norm_layer(norm, c)]),
                )
            )
            cin = c
        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            c_in = chans[i] if i == num_downs - 1 else chans[i] * 2
            c_out = 3 if i == 0 else chans[i - 1]
            tail = (
                [nn.Tanh()]
                if i == 0
                else [norm_layer(norm, c_out)]
                + (
                    # the reference's num_downs - 5 intermediate ngf*8 blocks: depths 4 .. num_downs - 2
                    [nn.Dropout(0.5)] if dropout and 4 <= i <= num_downs - 2 else []
                )
            )
            up = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=i == 0 or bias)
            self.up.append(nn.Sequential(nn.ReLU(True), up, *tail))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for up in self.up[1:]:
            x = up(torch.cat([x, skips.pop()], 1))
        return x
