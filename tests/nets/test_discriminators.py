"""Patch discriminators: output shapes and strides, receptive fields, norms, spectral norm, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from cartoonlab.nets.discriminators import CartoonGANDiscriminator, PatchGANDiscriminator

from .norms import NORM_CASES, norm_layers


def convs(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def receptive_field(net: nn.Module, size: int) -> tuple[int, int]:
    """Height and width of the input pixels the centre logit depends on (its gradient's support)."""
    net.eval()
    x = torch.randn(1, 3, size, size, requires_grad=True)
    y = net(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows, cols = x.grad[0].abs().sum(0).nonzero(as_tuple=True)
    assert rows.min() > 0 and cols.min() > 0  # not clipped by the border
    assert rows.max() < size - 1 and cols.max() < size - 1
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize(("n_downsample", "side"), [(2, 64), (1, 128), (0, 256)])
def test_cartoongan_d_documented_output_size_at_256(n_downsample, side):
    net = CartoonGANDiscriminator(ndf=2, n_downsample=n_downsample)
    with torch.no_grad():
        y = net(torch.randn(1, 3, 256, 256))
    assert y.shape == (1, 1, side, side)  # logits: one map, stride 4, 2 or 1


@pytest.mark.parametrize("hw", [(32, 32), (20, 44)])
def test_cartoongan_d_stride_on_other_sizes(hw):
    with torch.no_grad():
        y = CartoonGANDiscriminator(ndf=4)(torch.randn(2, 3, *hw))
    assert y.shape == (2, 1, hw[0] // 4, hw[1] // 4)


@pytest.mark.parametrize(("n_layers", "side"), [(3, 30), (2, 62), (4, 14)])
def test_patchgan_documented_output_size_at_256(n_layers, side):
    net = PatchGANDiscriminator(ndf=2, n_layers=n_layers)
    with torch.no_grad():
        y = net(torch.randn(1, 3, 256, 256))
    # stride 2**n_layers, and the two final stride-1 4x4 convs each take one off
    assert y.shape == (1, 1, side, side) and side == 256 // 2**n_layers - 2


@pytest.mark.parametrize(("n_downsample", "rf"), [(2, 37), (1, 25), (0, 15)])
def test_cartoongan_d_receptive_field(n_downsample, rf):
    net = CartoonGANDiscriminator(ndf=2, norm="none", n_downsample=n_downsample)
    assert receptive_field(net, 64) == (rf, rf)


def test_patchgan_receptive_field_is_70():
    assert receptive_field(PatchGANDiscriminator(ndf=2, n_layers=3, norm="none"), 128) == (70, 70)


def test_n_downsample_out_of_range_is_refused():
    for bad in (-1, 3):
        with pytest.raises(ValueError, match="n_downsample"):
            CartoonGANDiscriminator(ndf=2, n_downsample=bad)


@pytest.mark.parametrize("cls", [CartoonGANDiscriminator, PatchGANDiscriminator])
@pytest.mark.parametrize(("norm", "kind", "affine"), NORM_CASES)
def test_norm_option_builds_that_norm(cls, norm, kind, affine):
    net = cls(ndf=4, norm=norm)
    norms = norm_layers(net)
    if kind is None:
        assert norms == []
    else:
        assert len(norms) == 3 and all(type(m) is kind and m.affine == affine for m in norms)
    first, *inner, last = convs(net)
    assert first.bias is not None and last.bias is not None and last.out_channels == 1
    assert all((c.bias is not None) == (norm != "batch") for c in inner)


def test_default_norms():
    assert any(isinstance(m, nn.BatchNorm2d) for m in CartoonGANDiscriminator(ndf=4).modules())
    assert any(isinstance(m, nn.InstanceNorm2d) for m in PatchGANDiscriminator(ndf=4).modules())


@pytest.mark.parametrize(
    ("make", "slope"),
    [
        (lambda: CartoonGANDiscriminator(ndf=4), 0.2),
        (lambda: CartoonGANDiscriminator(ndf=4, slope=0.05), 0.05),
        (lambda: PatchGANDiscriminator(ndf=4), 0.2),
    ],
)
def test_leaky_relu_everywhere_and_no_sigmoid(make, slope):
    net = make()
    acts = [m for m in net.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh))]
    assert acts and all(type(m) is nn.LeakyReLU and m.negative_slope == slope for m in acts)
    assert isinstance(list(net.modules())[-1], nn.Conv2d)  # logits: the loss decides


@pytest.mark.parametrize("cls", [CartoonGANDiscriminator, PatchGANDiscriminator])
def test_spectral_norm_option_parametrizes_every_conv(cls):
    plain, sn = cls(ndf=4), cls(ndf=4, spectral_norm=True)
    assert not any(parametrize.is_parametrized(c) for c in convs(plain))
    assert all(parametrize.is_parametrized(c, "weight") for c in convs(sn))
    with torch.no_grad():
        sn(torch.randn(1, 3, 32, 32))  # a power iteration, then the weights' top singular value is ~1
        sigma = [torch.linalg.matrix_norm(c.weight.flatten(1), ord=2).item() for c in convs(sn)]
    assert all(0.5 < s < 1.5 for s in sigma)
    assert all(torch.linalg.matrix_norm(c.weight.flatten(1), ord=2) < 0.9 for c in convs(plain))


@pytest.mark.parametrize(
    "make", [lambda: CartoonGANDiscriminator(ndf=16), lambda: PatchGANDiscriminator(ndf=16)]
)
def test_init_is_normal_002_with_unit_norm_scales_and_zero_biases(make):
    torch.manual_seed(0)
    net = make()
    weights = torch.cat([c.weight.flatten() for c in convs(net)])
    assert weights.numel() > 20_000
    assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3
    assert all(c.bias is None or not c.bias.any() for c in convs(net))
    norms = [m for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.affine]
    if norms:
        scales = torch.cat([m.weight for m in norms])
        assert abs(scales.mean().item() - 1) < 0.01 and abs(scales.std().item() - 0.02) < 0.01
        assert not torch.cat([m.bias for m in norms]).any()
