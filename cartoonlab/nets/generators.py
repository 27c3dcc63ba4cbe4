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
    Configurable,
    Norm,
    ResBlock,
    Upsample,
    init_weights,
    norm_layer,
    up_conv,
    uses_bias,
)
from cartoonlab.nets.blocks import activation as _make_act


class CartoonGANGenerator(nn.Module, Configurable):
    """CartoonGAN generator (Chen et al. 2018, Fig. 2).

    7x7 conv -> 2 down blocks [3x3 s2 conv, 3x3 conv, norm, act] -> `n_blocks`
    residual blocks -> 2 up blocks [x2 up conv, 3x3 conv, norm, act] -> 7x7 conv
    -> tanh. The paper's figure says BatchNorm (default); the author's released
    weights use InstanceNorm (`norm="instance"`, also the DIYA "improved" G).
    """

    stride = 4

    def __init__(self, ngf: int = 64, n_blocks: int = 8, norm: Norm = "batch",
                 activation: Activation = "relu", slope: float = 0.01,
                 upsample: Upsample = "transposed") -> None:
        super().__init__()
        act, bias = (activation, slope), uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=bias), norm_layer(norm, ngf), _make_act(*act)]
        for c in (ngf, ngf * 2):  # down: 64 -> 128 -> 256
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias),
                       nn.Conv2d(c * 2, c * 2, 3, padding=1, bias=bias), norm_layer(norm, c * 2), _make_act(*act)]
        layers += [ResBlock(ngf * 4, norm, *act) for _ in range(n_blocks)]
        for c in (ngf * 4, ngf * 2):  # up: 256 -> 128 -> 64
            layers += [up_conv(c, c // 2, 3, upsample, bias),
                       nn.Conv2d(c // 2, c // 2, 3, padding=1, bias=bias), norm_layer(norm, c // 2), _make_act(*act)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResnetGenerator(nn.Module, Configurable):
    """CycleGAN ResNet generator (Johnson et al. as in Zhu et al. 2017, reference code).

    c7s1-64, d128, d256, R256 x n_blocks (9 at 256 px, 6 at 128), u128, u64, c7s1-3,
    tanh. InstanceNorm by default. `activation="leaky_relu"` is the velog post's
    variant (every activation but the last tanh).
    """

    stride = 4

    def __init__(self, ngf: int = 64, n_blocks: int = 9, norm: Norm = "instance",
                 activation: Activation = "relu", slope: float = 0.2,
                 upsample: Upsample = "transposed") -> None:
        super().__init__()
        act, bias = (activation, slope), uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=bias), norm_layer(norm, ngf), _make_act(*act)]
        for c in (ngf, ngf * 2):
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), norm_layer(norm, c * 2), _make_act(*act)]
        layers += [ResBlock(ngf * 4, norm, *act) for _ in range(n_blocks)]
        for c in (ngf * 4, ngf * 2):
            layers += [up_conv(c, c // 2, 3, upsample, bias), norm_layer(norm, c // 2), _make_act(*act)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UnetGenerator(nn.Module, Configurable):
    """CycleGAN's U-Net generator (`unet_256`: num_downs=8; `unet_128`: 7).

    Encoder C64-C128-C256-C512-C512...; decoder mirrors it with skip
    concatenations; LeakyReLU 0.2 down, ReLU up, tanh out. The input side must be
    divisible by 2**num_downs.
    """

    def __init__(self, ngf: int = 64, num_downs: int = 8, norm: Norm = "batch",
                 dropout: bool = False) -> None:
        super().__init__()
        self.stride = 2**num_downs
        bias = uses_bias(norm)
        chans = [min(ngf * 2**i, ngf * 8) for i in range(num_downs)]  # 64,128,256,512,512,...
        self.down = nn.ModuleList()
        cin = 3
        for i, c in enumerate(chans):
            first, last = i == 0, i == num_downs - 1
            self.down.append(nn.Sequential(
                *([] if first else [nn.LeakyReLU(0.2, True)]),
                nn.Conv2d(cin, c, 4, stride=2, padding=1, bias=bias),
                *([] if first or last else [norm_layer(norm, c)])))
            cin = c
        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            c_in = chans[i] if i == num_downs - 1 else chans[i] * 2
            c_out = 3 if i == 0 else chans[i - 1]
            tail = [nn.Tanh()] if i == 0 else [norm_layer(norm, c_out)] + (
                [nn.Dropout(0.5)] if dropout and 0 < num_downs - 1 - i <= 3 else [])
            self.up.append(nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=i == 0 or bias),
                                         *tail))
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
