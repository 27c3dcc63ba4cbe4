"""Generators exported by `cartoonlab export` as TorchScript or ONNX, run from Python.

Both formats hold `BakedGenerator`: RGB in [0, 1], NCHW, any height and width of at
least two network strides (the graph pads to the stride itself and crops back), output
RGB in [0, 1]. Their metadata (`cartoonlab.json`: TorchScript extra file, ONNX
metadata_props) records the generator spec, the training size and that convention.
`Exported` wraps either in cartoonlab's own convention ([-1, 1] in and out), so
`cartoonize` and `inference.translate_at` take them like a checkpoint's generator.

A TorchScript archive is a program: loading it (its `__setstate__`) and running it (its
`forward`) execute whatever its author wrote, file writes included (`torch.from_file`).
So `load_torchscript` refuses unless the caller opts in (`trust_code=True`; on the
command line `cartoonize --trust-torchscript`); safetensors exports and checkpoints carry
only tensors. ONNX files are graphs of standard operators run by ONNX Runtime (`pip
install onnxruntime`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

META_FILE = "cartoonlab.json"
CONVENTION = "RGB float in [0, 1], NCHW, any H and W of at least 2 strides; output RGB in [0, 1]"


class BakedGenerator(nn.Module):
    """G with cartoonlab's normalization and stride padding inside, for export."""

    def __init__(self, net: nn.Module, stride: int) -> None:
        super().__init__()
        self.net, self.stride = net, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        ph, pw = (self.stride - h % self.stride) % self.stride, (self.stride - w % self.stride) % self.stride
        y = self.net(F.pad(x * 2 - 1, (0, pw, 0, ph), mode="reflect"))
        return (y[:, :, :h, :w].clamp(-1, 1) + 1) / 2


class Exported(nn.Module):
    """An exported generator in cartoonlab's convention: [-1, 1] in and out."""

    stride = 1  # the exported graph pads itself

    def __init__(self, run, meta: dict) -> None:
        super().__init__()
        self.run, self.meta = run, meta
        self.work_side = meta.get("work_side", meta.get("train_size"))  # `train_size` before 2026-12-08

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run((x + 1) / 2) * 2 - 1


class UntrustedCodeError(ValueError):
    """A model file that is code (TorchScript), refused without an explicit opt-in."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(
            f"{path} is a TorchScript archive: a program, and loading it runs its author's code. "
            "Use the run's checkpoint (.ckpt) or a .safetensors or .onnx export (`cartoonlab export`), "
            "or, for a file you made or trust, `cartoonize --trust-torchscript`"
        )


def load_torchscript(path: str | Path, map_location="cpu", trust_code: bool = False) -> Exported:
    """A `cartoonlab export --format torchscript` archive; refused (`UntrustedCodeError`,
    before the file is opened) unless `trust_code`: loading and running it executes its code."""
    extra = {META_FILE: ""}
    if not trust_code:
        raise UntrustedCodeError(path)
    if not Path(path).is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    except RuntimeError as e:
        raise ValueError(f"{path} is not a TorchScript archive: {' '.join(str(e).split())[:200]}") from e
    return Exported(module, _meta(path, extra[META_FILE])).eval()


def load_onnx(path: str | Path, map_location="cpu") -> Exported:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError(
            f"{path} is an ONNX model: running it needs ONNX Runtime (pip install onnxruntime)"
        ) from e
    if not Path(path).is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ONNX Runtime's own exception types
        raise ValueError(f"{path} is not an ONNX model ONNX Runtime can load: {e}") from e
    meta = session.get_modelmeta().custom_metadata_map.get(META_FILE, "")
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        y = session.run(None, {name: x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(y).to(x.device)

    return Exported(run, _meta(path, meta)).eval()


def _meta(path: str | Path, text: str | bytes) -> dict:
    try:
        meta = json.loads(text or "{}")
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or "generator" not in meta:
        raise ValueError(f"{path}: no {META_FILE} metadata: not written by `cartoonlab export`")
    return meta
