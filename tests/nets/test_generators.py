"""Generators: shapes, output range, the layers each option builds, the shared ResNet body, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cartoonlab.nets.generators import (
    CartoonGANGenerator,
    ResnetGenerator,
    UnetGenerator,
    resnet_generator_body,
)
from cartoonlab.released import released_keys

from .norms import NORM_CASES, norm_layers

RESNET_STYLE = [CartoonGANGenerator, ResnetGenerator]


def convs(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


@pytest.mark.parametrize("cls", RESNET_STYLE)
@pytest.mark.parametrize("upsample", ["transposed", "resize_conv"])
# multiples of the stride (at least 2 of them, as tiles.pad_to_stride pads to); 3, 5 and 7 at the bottleneck
@pytest.mark.parametrize("hw", [(8, 8), (12, 20), (28, 16)])
def test_resnet_style_output_has_the_input_size(cls, upsample, hw):
    net = cls(ngf=4, n_blocks=1, upsample=upsample)
    assert net.stride == 4
    with torch.no_grad():
        y = net(torch.randn(2, 3, *hw))
    assert y.shape == (2, 3, *hw)


@pytest.mark.parametrize("cls", RESNET_STYLE)
def test_resnet_style_size_off_the_stride_is_not_kept(cls):
    # why callers pad to `stride` (tiles.pad_to_stride) and fit refuses other image sizes
    with torch.no_grad():
        y = cls(ngf=4, n_blocks=0)(torch.randn(1, 3, 18, 18))
    assert y.shape[-2:] != (18, 18)


@pytest.mark.parametrize(("num_downs", "hw"), [(3, (8, 8)), (3, (16, 24)), (5, (32, 64))])
def test_unet_output_has_the_input_size(num_downs, hw):
    net = UnetGenerator(ngf=4, num_downs=num_downs, norm="instance")
    assert net.stride == 2**num_downs
    with torch.no_grad():
        y = net(torch.randn(2, 3, *hw))
    assert y.shape == (2, 3, *hw)


@pytest.mark.parametrize(
    "make",
    [
        lambda: CartoonGANGenerator(ngf=4, n_blocks=1),
        lambda: ResnetGenerator(ngf=4, n_blocks=1),
        lambda: UnetGenerator(ngf=4, num_downs=3),
    ],
)
def test_output_is_tanh_bounded_even_when_saturated(make):
    net = make()
    last_conv = convs(net)[-1]
    with torch.no_grad():
        last_conv.weight.mul_(1e4)  # drive the final tanh into saturation
        y = net(torch.randn(2, 3, 16, 16) * 10)
    assert isinstance(list(net.modules())[-1], nn.Tanh)
    assert y.min() >= -1 and y.max() <= 1
    assert (y.abs() > 0.99).float().mean() > 0.5


@pytest.mark.parametrize("cls", RESNET_STYLE)
@pytest.mark.parametrize(("norm", "kind", "affine"), NORM_CASES)
def test_norm_option_builds_that_norm(cls, norm, kind, affine):
    net = cls(ngf=4, n_blocks=2, norm=norm)
    norms = norm_layers(net)
    if kind is None:
        assert norms == []
    else:
        assert len(norms) == 1 + 2 + 2 * 2 + 2  # stem, down stages, two per residual block, up stages
        assert all(type(m) is kind and m.affine == affine for m in norms)
        if kind is nn.InstanceNorm2d:  # per-image statistics, also in eval mode
            assert not any(m.track_running_stats for m in norms)
    if norm == "instance_affine":
        assert all(m.eps == 1e-9 for m in norms)
    # a conv bias only where no BatchNorm follows; the output conv always has one
    *inner, last = convs(net)
    assert all((c.bias is not None) == (norm != "batch") for c in inner)
    assert last.bias is not None


@pytest.mark.parametrize("cls", RESNET_STYLE)
@pytest.mark.parametrize("slope", [0.05, 0.3])
def test_leaky_relu_option_uses_its_slope_everywhere(cls, slope):
    net = cls(ngf=4, n_blocks=2, activation="leaky_relu", slope=slope)
    leaky = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    assert len(leaky) == 5 + 2  # stem, 2 down, 2 up, one per residual block
    assert all(m.negative_slope == slope for m in leaky)


@pytest.mark.parametrize("cls", RESNET_STYLE)
def test_relu_is_the_default_activation(cls):
    net = cls(ngf=4, n_blocks=2)
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 7
    assert not any(isinstance(m, nn.LeakyReLU) for m in net.modules())


def test_default_slopes_differ_as_documented():
    def slope(cls) -> float:
        net = cls(ngf=4, n_blocks=0, activation="leaky_relu")
        return next(m for m in net.modules() if isinstance(m, nn.LeakyReLU)).negative_slope

    assert slope(CartoonGANGenerator) == 0.01  # PyTorch's default, as in the DIYA post
    assert slope(ResnetGenerator) == 0.2


@pytest.mark.parametrize("cls", RESNET_STYLE)
def test_upsample_option_builds_that_upsampling(cls):
    transposed = cls(ngf=4, n_blocks=1, upsample="transposed")
    resize = cls(ngf=4, n_blocks=1, upsample="resize_conv")
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in transposed.modules()) == 2
    assert not any(isinstance(m, nn.Upsample) for m in transposed.modules())
    ups = [m for m in resize.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 2 and all(m.mode == "nearest" and m.scale_factor == 2 for m in ups)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in resize.modules())


@pytest.mark.parametrize("cls", RESNET_STYLE)
def test_unknown_options_are_refused(cls):
    for bad in ({"norm": "layer"}, {"activation": "gelu"}, {"upsample": "bilinear"}):
        with pytest.raises(ValueError, match="unknown"):
            cls(ngf=4, n_blocks=0, **bad)


def _stage_conv_indices(net: nn.Sequential) -> set[int]:
    """The CartoonGAN-only 3x3 convs: a stride-1 conv right after a resampling conv."""
    out = set()
    for i in range(1, len(net)):
        prev, m = net[i - 1], net[i]
        resampling = isinstance(prev, (nn.ConvTranspose2d, nn.Sequential)) or (
            isinstance(prev, nn.Conv2d) and prev.stride == (2, 2)
        )
        if resampling and type(m) is nn.Conv2d and m.stride == (1, 1) and m.kernel_size == (3, 3):
            out.add(i)
    return out


@pytest.mark.parametrize("upsample", ["transposed", "resize_conv"])
def test_cartoongan_is_the_resnet_body_plus_one_conv_per_stage(upsample):
    kw = {"ngf": 4, "n_blocks": 2, "norm": "instance", "upsample": upsample}
    cartoon, cycle = CartoonGANGenerator(**kw).net, ResnetGenerator(**kw).net
    extra = _stage_conv_indices(cartoon)
    assert len(extra) == 4 and not _stage_conv_indices(cycle)
    assert len(cartoon) == len(cycle) + 4
    kept = [m for i, m in enumerate(cartoon) if i not in extra]
    assert [repr(m) for m in kept] == [repr(m) for m in cycle]
    for i in extra:  # c -> c, padding 1: the stage's channels and size unchanged
        assert cartoon[i].in_channels == cartoon[i].out_channels and cartoon[i].padding == (1, 1)


def test_body_function_is_what_the_generators_build():
    kw = {
        "ngf": 4,
        "n_blocks": 1,
        "norm": "batch",
        "activation": "leaky_relu",
        "slope": 0.1,
        "upsample": "transposed",
    }
    assert repr(resnet_generator_body(**kw, stage_conv=True)) == repr(CartoonGANGenerator(**kw).net)
    assert repr(resnet_generator_body(**kw, stage_conv=False)) == repr(ResnetGenerator(**kw).net)


def test_cartoongan_key_layout_is_the_released_one():
    # cartoonlab.released maps the author's keys onto these, one for one, in order
    keys = list(CartoonGANGenerator(ngf=4, n_blocks=8, norm="instance_affine").state_dict())
    assert keys[:8] == [
        "net.1.weight",
        "net.1.bias",
        "net.2.weight",
        "net.2.bias",  # conv01_1, in01_1
        "net.4.weight",
        "net.4.bias",
        "net.5.weight",
        "net.5.bias",
    ]  # conv02_1, conv02_2
    assert keys[-2:] == ["net.29.weight", "net.29.bias"]  # deconv03_1
    assert len(keys) == len(released_keys(n_blocks=8))


@pytest.mark.parametrize(
    "make",
    [
        lambda: CartoonGANGenerator(ngf=16, n_blocks=2, norm="batch"),
        lambda: ResnetGenerator(ngf=16, n_blocks=2, norm="instance_affine"),
        lambda: UnetGenerator(ngf=16, num_downs=5, norm="batch"),
    ],
)
def test_init_is_normal_002_with_unit_norm_scales_and_zero_biases(make):
    torch.manual_seed(0)
    net = make()
    weights = torch.cat([c.weight.flatten() for c in convs(net)])
    assert weights.numel() > 20_000
    assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3
    assert all(c.bias is None or not c.bias.any() for c in convs(net))
    norms = norm_layers(net)
    scales = torch.cat([m.weight for m in norms])
    assert scales.numel() > 200
    assert abs(scales.mean().item() - 1) < 0.005 and abs(scales.std().item() - 0.02) < 0.005
    assert not torch.cat([m.bias for m in norms]).any()


def test_init_is_seeded():
    torch.manual_seed(3)
    a = ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    torch.manual_seed(3)
    b = ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    torch.manual_seed(4)
    c = ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.1.weight"], c["net.1.weight"])
