"""Frozen content feature extractors (VGG19 conv4_4, ResNet layer2/layer3).

The extractor never trains: it has no trainable parameters and stays in eval
mode even when its parent calls `.train()` (BatchNorm statistics stay frozen).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn

from cartoonlab.nets.blocks import Configurable

Arch = Literal["vgg19", "vgg19_bn", "resnet50", "resnet101"]
InputNorm = Literal["imagenet", "none", "caffe", "raw"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_WEIGHTS = {"vgg19": "VGG19_Weights", "vgg19_bn": "VGG19_BN_Weights",
            "resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights"}


class ContentExtractor(nn.Module, Configurable):
    """Features of an ImageNet network, for the content loss.

    Args:
        arch: vgg19 | vgg19_bn (CartoonGAN) or resnet50 | resnet101 (the DIYA
            post, seed 001).
        layer: where to cut, None for the papers' choice. VGG: "convX_Y", cut
            before that conv's ReLU (default "conv4_4": CartoonGAN). ResNet:
            "layer1" | "layer2" (default; 512 ch, stride 8, the shape of conv4_4)
            | "layer3". Shallower cuts suit random weights (the quick profile).
        weights: "imagenet" loads torchvision's ImageNet weights (cached in
            `$TORCH_HOME/hub/checkpoints`, downloaded when missing); None gives
            random weights on purpose (tests, offline demos) and warns.
        input_norm: how images in [-1, 1] are fed. "imagenet" (default): [0, 1]
            RGB with ImageNet mean/std, what torchvision's weights expect;
            "none": (x+1)/2 without mean/std (the DIYA/znxlwm quirk); "caffe":
            BGR 0..255 minus the Caffe mean (the CartoonGAN author's code);
            "raw": the [-1, 1] input as is.
        input_size: resize to this side before the network (the author's code
            upsamples to 224); None keeps the input size.
    """

    def __init__(self, arch: Arch = "vgg19", layer: str | None = None, weights: Literal["imagenet"] | None = "imagenet",
                 input_norm: InputNorm = "imagenet", input_size: int | None = None) -> None:
        super().__init__()
        self.input_norm, self.input_size, self.random_weights = input_norm, input_size, weights is None
        net = _build(arch, weights)
        self.body = _truncate(net, arch, layer)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("caffe_mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> ContentExtractor:
        return super().train(False)  # frozen: never leaves eval mode

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False)
        if self.input_norm == "imagenet":
            return ((x + 1) / 2 - self.mean) / self.std
        if self.input_norm == "none":
            return (x + 1) / 2
        if self.input_norm == "caffe":
            return (x.flip(1) + 1) * 127.5 - self.caffe_mean
        if self.input_norm == "raw":
            return x
        raise ValueError(f"unknown input_norm {self.input_norm!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))


def _build(arch: str, weights: str | None) -> nn.Module:
    if arch not in _WEIGHTS:
        raise ValueError(f"unknown arch {arch!r}; use one of {sorted(_WEIGHTS)}")
    builder = getattr(torchvision.models, arch)
    if weights is None:
        warnings.warn(f"{arch} content network has RANDOM weights (weights=None); content "
                      "losses are not comparable to runs with ImageNet weights", stacklevel=3)
        if arch.startswith("vgg"):  # the features only: a random 120M-parameter classifier is slow to init
            from torchvision.models.vgg import cfgs, make_layers

            features = make_layers(cfgs["E"], batch_norm=arch == "vgg19_bn")
            net = nn.Module()  # initialized as torchvision's VGG does
            net.features = features
            for m in features.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
            return net
        return builder(weights=None)
    if weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    enum = getattr(torchvision.models, _WEIGHTS[arch]).IMAGENET1K_V1
    try:
        return builder(weights=enum)  # torchvision loads with weights_only=True
    except Exception as err:  # noqa: BLE001 - offline, proxy, corrupt cache...
        hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
        file = enum.url.rsplit("/", 1)[-1]
        raise RuntimeError(
            f"ImageNet weights for {arch} are not available ({type(err).__name__}: {err}).\n"
            f"Download {enum.url} on a machine with internet access and place it at {hub / file} "
            f"(or set $TORCH_HOME). For a run without them, set `weights: null` (random features)."
        ) from err


def _truncate(net: nn.Module, arch: str, layer: str) -> nn.Module:
    if arch.startswith("vgg"):
        # VGG19 blocks have 2, 2, 4, 4, 4 convs: convX_Y is conv number sum(blocks before X) + Y
        layer = layer or "conv4_4"
        try:
            block, idx = (int(v) for v in layer.removeprefix("conv").split("_"))
            target = sum((2, 2, 4, 4, 4)[: block - 1]) + idx
        except ValueError:
            raise ValueError(f"VGG content layer must look like conv4_4, got {layer!r}") from None
        layers, convs = [], 0
        for m in net.features:  # stop before the ReLU that follows the target conv
            if isinstance(m, nn.ReLU) and convs == target:
                break
            convs += isinstance(m, nn.Conv2d)
            layers.append(m)
        return nn.Sequential(*layers)
    stages = ["layer1", "layer2", "layer3", "layer4"]
    layer = layer or "layer2"
    if layer not in stages[:3]:
        raise ValueError(f"ResNet content layer must be layer1, layer2 or layer3, got {layer!r}")
    keep = stages[: stages.index(layer) + 1]
    return nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, *(getattr(net, k) for k in keep))
