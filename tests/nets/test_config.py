"""Every network: a keyword-only constructor, and a `.config` (class path and all constructor
arguments, defaults applied) that rebuilds it: what checkpoints and `cartoonlab export` record."""

from __future__ import annotations

import importlib
import inspect
import warnings

import pytest
import torch

from cartoonlab.nets import (
    CartoonGANDiscriminator,
    CartoonGANGenerator,
    ContentExtractor,
    PatchGANDiscriminator,
    ResnetGenerator,
    UnetGenerator,
)

NETS = [
    (CartoonGANGenerator, {"ngf": 4, "n_blocks": 1, "norm": "instance", "activation": "leaky_relu"}),
    (ResnetGenerator, {"ngf": 4, "n_blocks": 2, "upsample": "resize_conv"}),
    (UnetGenerator, {"ngf": 4, "num_downs": 3, "dropout": True}),
    (CartoonGANDiscriminator, {"ndf": 4, "n_downsample": 1, "spectral_norm": True}),
    (PatchGANDiscriminator, {"ndf": 4, "n_layers": 2, "norm": "batch"}),
    (ContentExtractor, {"arch": "resnet50", "layer": "layer1", "weights": None, "input_size": 32}),
]
IDS = [cls.__name__ for cls, _ in NETS]


def build(cls, **kw):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "resnet50 content network has RANDOM weights")
        return cls(**kw)


def rebuild(config: dict):
    """As `cartoonlab.inference.build_generator` does."""
    module, _, name = config["class_path"].rpartition(".")
    return build(getattr(importlib.import_module(module), name), **config["init_args"])


@pytest.mark.parametrize(("cls", "kw"), NETS, ids=IDS)
def test_signature_is_keyword_only(cls, kw):
    params = list(inspect.signature(cls).parameters.values())
    assert params and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    first = params[0].name
    with pytest.raises(TypeError, match="positional"):
        cls(kw.get(first, params[0].default))
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(**kw, bogus=1)


@pytest.mark.parametrize(("cls", "kw"), NETS, ids=IDS)
def test_config_records_every_argument_with_defaults(cls, kw):
    net = build(cls, **kw)
    defaults = {n: p.default for n, p in inspect.signature(cls).parameters.items()}
    assert net.config == {
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "init_args": {**defaults, **kw},
    }
    assert list(net.config["init_args"]) == list(defaults)  # in signature order
    assert net.config["class_path"].startswith("cartoonlab.nets.")  # inference.TRUSTED_PREFIX


def test_config_of_the_defaults():
    assert CartoonGANGenerator().config == {
        "class_path": "cartoonlab.nets.generators.CartoonGANGenerator",
        "init_args": {
            "ngf": 64,
            "n_blocks": 8,
            "norm": "batch",
            "activation": "relu",
            "slope": 0.01,
            "upsample": "transposed",
        },
    }
    assert PatchGANDiscriminator().config["init_args"] == {
        "ndf": 64,
        "n_layers": 3,
        "norm": "instance",
        "spectral_norm": False,
    }


@pytest.mark.parametrize(("cls", "kw"), NETS, ids=IDS)
def test_config_rebuilds_the_same_network(cls, kw):
    torch.manual_seed(11)
    net = build(cls, **kw)
    torch.manual_seed(11)
    again = rebuild(net.config)
    assert type(again) is cls and again.config == net.config
    a, b = net.state_dict(), again.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_configs_are_per_instance():
    a, b = ResnetGenerator(ngf=4, n_blocks=1), ResnetGenerator(ngf=8, n_blocks=1)
    assert a.config["init_args"]["ngf"] == 4 and b.config["init_args"]["ngf"] == 8
    assert a.config is not b.config


@pytest.mark.parametrize(
    ("input_norm", "expect"),
    [
        (
            "imagenet",
            lambda x: (
                ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            ),
        ),
        ("none", lambda x: (x + 1) / 2),
        (
            "caffe",
            lambda x: (x.flip(1) + 1) * 127.5 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1),
        ),
        ("raw", lambda x: x),
    ],
)
def test_content_extractor_resize_and_normalize(input_norm, expect):
    ext = build(ContentExtractor, arch="resnet50", layer="layer1", weights=None, input_norm=input_norm)
    x = torch.rand(2, 3, 8, 12) * 2 - 1
    torch.testing.assert_close(ext.resize_and_normalize(x), expect(x))
    ext.input_size = 16
    assert ext.resize_and_normalize(x).shape == (2, 3, 16, 16)
