"""Patch discriminators. They output logits (no sigmoid): the loss decides.

Output sizes for a 256 px input: CartoonGAN's D -> [B,1,64,64];
70x70 PatchGAN (n_layers=3) -> [B,1,30,30].
"""

from __future__ import annotations

import torch
from torch import nn

from cartoonlab.nets.blocks import Norm, init_config, init_weights, norm_layer, uses_bias


def with_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral normalization of every conv (Miyato et al. 2018): D becomes 1-Lipschitz
    per layer, so G cannot fool it with high-frequency patterns that a sharp D rewards.
    Not in CartoonGAN or CycleGAN; a switch (`spectral_norm: true`) for small budgets."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.utils.parametrizations.spectral_norm(m)
    return net


class CartoonGANDiscriminator(nn.Module):
    """CartoonGAN's patch discriminator (Chen et al. 2018, Fig. 2).

    3x3 convs, LeakyReLU 0.2: conv32 s1 -> [conv64 s2, conv128 s1, norm] ->
    [conv128 s2, conv256 s1, norm] -> conv256, norm -> conv1. Use `norm="none"`
    for a WGAN-GP critic. `spectral_norm`: see `with_spectral_norm` (default off, as
    in the paper).

    `n_downsample` (default 2, the paper): how many of the two stages stride by 2. It sets the
    receptive field: 37 px with 2, 25 with 1, 15 with 0. On 256 px images the paper's D judges
    patches of 14 % of the side (local style); on 32 px images the same D sees the whole scene.
    """

    def __init__(
        self,
        *,
        ndf: int = 32,
        norm: Norm = "batch",
        slope: float = 0.2,
        spectral_norm: bool = False,
        n_downsample: int = 2,
    ) -> None:
        self.config = init_config(self, locals())
        super().__init__()
        bias = uses_bias(norm)

        def lrelu() -> nn.Module:
            return nn.LeakyReLU(slope, inplace=True)

        layers = [nn.Conv2d(3, ndf, 3, 1, 1), lrelu()]
        if not 0 <= n_downsample <= 2:
            raise ValueError(f"n_downsample must be 0, 1 or 2, got {n_downsample}")
        stages = ((ndf, ndf * 2, ndf * 4), (ndf * 4, ndf * 4, ndf * 8))
        for i, (c_in, c_mid, c_out) in enumerate(stages):
            stride = 2 if i < n_downsample else 1
            layers += [
                nn.Conv2d(c_in, c_mid, 3, stride, 1, bias=bias),
                lrelu(),
                nn.Conv2d(c_mid, c_out, 3, 1, 1, bias=bias),
                norm_layer(norm, c_out),
                lrelu(),
            ]
        layers += [
            nn.Conv2d(ndf * 8, ndf * 8, 3, 1, 1, bias=bias),
            norm_layer(norm, ndf * 8),
            lrelu(),
            nn.Conv2d(ndf * 8, 1, 3, 1, 1),
        ]
        self.net = nn.Sequential(*layers)
        init_weights(self)
        if spectral_norm:
            with_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchGANDiscriminator(nn.Module):
    """CycleGAN's PatchGAN (70x70 receptive field with n_layers=3).

    C64 (no norm) - C128 - C256 - C512 (stride 1) - conv to 1; 4x4 kernels,
    LeakyReLU 0.2. InstanceNorm by default; `norm="none"` for a WGAN-GP critic.
    `spectral_norm`: see `with_spectral_norm` (default off, as in the reference).
    """

    def __init__(
        self, *, ndf: int = 64, n_layers: int = 3, norm: Norm = "instance", spectral_norm: bool = False
    ) -> None:
        self.config = init_config(self, locals())
        super().__init__()
        bias = uses_bias(norm)
        layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            c_out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(c, c_out, 4, stride, 1, bias=bias),
                norm_layer(norm, c_out),
                nn.LeakyReLU(0.2, True),
            ]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        init_weights(self)
        if spectral_norm:
            with_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
