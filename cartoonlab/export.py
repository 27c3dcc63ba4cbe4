"""`cartoonlab export`: a checkpoint's generator as TorchScript, ONNX or safetensors.

- safetensors: G's weights, with the generator spec and training size as metadata
  (`cartoonlab.json`); cartoonlab rebuilds the network from them (`inference.load_generator`).
  Convention: cartoonlab's, RGB in [-1, 1].
- torchscript / onnx: `exported.BakedGenerator` (normalization and stride padding inside):
  RGB in [0, 1] in and out, any image size (ONNX: dynamic batch, height and width), the
  same metadata. ONNX uses PyTorch's TorchScript-based exporter (opset 17), which needs
  the `onnx` package; the newer dynamo exporter would also need `onnxscript`.

Every file is written atomically (a temporary file renamed over the target).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from cartoonlab.exported import CONVENTION, META_FILE, BakedGenerator
from cartoonlab.inference import load_generator
from cartoonlab.released import load_released
from cartoonlab.utils import replacing

FORMATS = {"torchscript": ".pt", "onnx": ".onnx", "safetensors": ".safetensors"}


def export(ckpt: str | Path, fmt: str, out: str | Path, released: bool = False) -> Path:
    """Write the generator of `ckpt` in `fmt` to `out` (a file, or a folder to put
    `<ckpt stem><suffix>` in); the path written. `released`: `ckpt` is one of the
    CartoonGAN author's released styles (`cartoonlab.released`), converted first."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    net = load_released(ckpt) if released else load_generator(ckpt)
    out = Path(out)
    out = out / (Path(ckpt).stem + FORMATS[fmt]) if out.is_dir() else out
    if out.suffix.lower() != FORMATS[fmt]:
        raise ValueError(f"{out}: a {fmt} file must end in {FORMATS[fmt]} (cartoonize goes by the suffix)")
    if out.resolve() == Path(ckpt).resolve():
        raise ValueError(f"{out} is the checkpoint itself; choose another name")
    meta = {"generator": net.config, "work_side": net.work_side, "source": Path(ckpt).name}
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:  # two exports to one path: each its own temporary file
        WRITERS[fmt](net, meta, tmp)
    return out


def _safetensors(net: nn.Module, meta: dict, path: Path) -> None:
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(path),
        metadata={META_FILE: json.dumps({**meta, "convention": "RGB in [-1, 1], NCHW"})},
    )


def _torchscript(net: nn.Module, meta: dict, path: Path) -> None:
    scripted = torch.jit.script(BakedGenerator(net, getattr(net, "stride", 4)).eval())
    scripted.save(str(path), _extra_files={META_FILE: json.dumps({**meta, "convention": CONVENTION})})


def _onnx(net: nn.Module, meta: dict, path: Path) -> None:
    try:
        import onnx
    except ImportError as e:
        raise ImportError("--format onnx needs the onnx package (pip install onnx onnxruntime)") from e
    stride = getattr(net, "stride", 4)
    example = torch.rand(1, 3, 4 * stride, 4 * stride)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated in favour of dynamo
        warnings.simplefilter("ignore")
        torch.onnx.export(
            BakedGenerator(net, stride).eval(),
            (example,),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["cartoon"],
            opset_version=17,
            dynamic_axes={"image": axes, "cartoon": axes},
        )
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = META_FILE, json.dumps({**meta, "convention": CONVENTION})
    onnx.save(model, str(path))


WRITERS = {"torchscript": _torchscript, "onnx": _onnx, "safetensors": _safetensors}
