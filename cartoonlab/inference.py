"""Translate images with a trained generator, at the scale it was trained at.

The generator is rebuilt from the constructor arguments a cartoonlab checkpoint
records (`checkpoint["cartoonlab"]["generator"]`), so no flag has to match the
training run. Checkpoints are read with `torch.load(weights_only=True)`: no
pickle of a downloaded file is ever executed.

Scale: a generator learns strokes, outlines and textures of a given size in
pixels. In training G sees whole images at one short side (the crop size,
`data.image_size`, or 286/256 of it under the `cyclegan` preset, which crops from
enlarged images), recorded in the checkpoint as `work_side`; validation and test
translate at that scale too. Run at a larger scale, the same network draws its
strokes far too small and covers the image in hatching. So by default an image is resized to that short side,
translated, and resized back to its own size (`work_side`); `work_side=None`
translates at the native resolution instead.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cartoonlab.data.folders import list_images, load_alpha, load_rgb, write_image
from cartoonlab.data.transforms import to_tensor, to_uint8_hwc
from cartoonlab.exported import META_FILE, load_onnx, load_torchscript
from cartoonlab.safe_load import NotACheckpointError, read_checkpoint
from cartoonlab.tiles import OVERLAP, translate, translate_at, work_size  # noqa: F401  # the Python API's names
from cartoonlab.utils import regular_file

TRUSTED_PREFIX = "cartoonlab.nets."
GENERATORS = "cartoonlab.nets.generators"  # the only networks a model file's spec may build
ALPHA_FORMATS = {".png", ".webp", ".tif", ".tiff"}


def load_generator(
    path: str | Path, map_location: str | torch.device = "cpu", trust_code: bool = False
) -> nn.Module:
    """The generator of a cartoonlab checkpoint (`.ckpt`) or of a file `cartoonlab export`
    wrote (`.safetensors`, `.onnx`, and TorchScript `.pt` only with `trust_code`: a TorchScript
    archive is a program, see `cartoonlab.exported`), in eval mode; `work_side` on it is
    the short side it was trained at (None where unknown). Every format takes and returns
    `[B, 3, H, W]` RGB in [-1, 1]."""
    suffix = regular_file(path).suffix.lower()
    if suffix in TORCHSCRIPT:
        return load_torchscript(path, map_location, trust_code=trust_code)
    if suffix in EXPORTED:
        return EXPORTED[suffix](path, map_location)
    state = read_checkpoint(path, map_location)
    meta = state.get("cartoonlab")
    prefix = meta.get("generator_prefix", "G.") if isinstance(meta, dict) else "G."
    weights = {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    return build_generator(path, meta, weights)


def load_safetensors(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """A generator from `cartoonlab export --format safetensors` (weights + spec metadata)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get(META_FILE, "null"))
        weights = load_file(str(path), device=str(map_location))
    except (SafetensorError, ValueError) as e:
        raise NotACheckpointError(path, f"not a readable safetensors file ({e})") from e
    return build_generator(path, meta, weights)


EXPORTED = {".safetensors": load_safetensors, ".onnx": load_onnx}
TORCHSCRIPT = (".pt", ".ts")


def _check_spec_size(path: str | Path, init_args: dict, weights: dict[str, torch.Tensor]) -> None:
    """A spec's integer arguments (blocks, widths, depths) cannot exceed what its weights can
    hold: a network with N blocks has at least N tensors, one of width W a dimension of W. A
    spec over both bounds is refused before anything is built (a 260-byte file claiming
    300,000 blocks would otherwise take gigabytes just to describe)."""
    bound = max([len(weights), *(d for v in weights.values() for d in v.shape)], default=0)
    for key, value in init_args.items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= bound:
            held = f"more than its {len(weights)} weight tensors hold"
            raise NotACheckpointError(path, f"its generator spec claims {key}={value}, {held}")


def build_generator(path: str | Path, meta: object, weights: dict[str, torch.Tensor]) -> nn.Module:
    """A cartoonlab network from its recorded spec (`meta["generator"]`: class path and
    constructor arguments) and weights, both checked before anything is built."""
    spec = meta.get("generator") if isinstance(meta, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("init_args"), dict):
        raise NotACheckpointError(path, "no generator spec: not written by `cartoonlab fit` or `export`")
    module, _, name = str(spec.get("class_path")).rpartition(".")
    if not spec["class_path"].startswith(TRUSTED_PREFIX):
        raise ValueError(f"refusing to build {spec['class_path']}: only {TRUSTED_PREFIX}* networks")
    _check_spec_size(path, spec["init_args"], weights)
    try:
        cls = getattr(importlib.import_module(module), name)
        if cls.__module__ != GENERATORS or name.startswith("_"):  # e.g. a content network: downloads
            raise ValueError(f"{spec['class_path']} is not a generator of {GENERATORS}")
        with torch.device("meta"):  # the spec's shapes, checked against the weights before allocating
            shapes = {k: v.shape for k, v in cls(**spec["init_args"]).state_dict().items()}
    except (ImportError, AttributeError, TypeError, ValueError) as e:
        raise NotACheckpointError(
            path,
            f"its generator spec {spec['class_path']}({spec['init_args']}) "
            f"cannot be built by this cartoonlab: {e}",
        ) from e
    if shapes != {k: v.shape for k, v in weights.items()}:
        raise NotACheckpointError(path, f"its generator spec {spec['init_args']} does not match its weights")
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(
            f"{path}: the generator's weights are not finite ({bad[0]}, {len(bad)} tensor(s) "
            "with NaN or Inf): the run diverged; use an earlier checkpoint"
        )
    net = cls(**spec["init_args"])
    net.load_state_dict(weights)
    # the short side of whole training images (before 2026-12-08 recorded as `train_size`)
    net.work_side = meta.get("work_side", meta.get("train_size"))  # type: ignore[attr-defined]
    return net.eval()


def bytes_per_pixel(net: nn.Module) -> int:
    """Rough peak bytes per working pixel of G: its first layer's activations, four live
    at a time, in float32."""
    first = next((m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)), 64)
    return first * 4 * 4


def memory_needed(net: nn.Module, h: int, w: int, work_side: int | None, tile: int | None = None) -> int:
    """Rough peak bytes of `translate_at` on an h x w image: five image-sized float copies
    (input, resized output, clamp, uint8 conversion), the tiles' blending sums at the
    working size, and G's activations on one tile (or the whole working image)."""
    wh, ww = work_size(h, w, work_side)
    net_pixels = min(wh, tile) * min(ww, tile) if tile else wh * ww
    return int(h * w * 3 * 4 * 5 + (wh * ww * 4 * 4 if tile else 0) + net_pixels * bytes_per_pixel(net))


def auto_tile(net: nn.Module, device: str | torch.device) -> int:
    """The largest tile side (a multiple of 64, 256 to 1024) whose activations take at most
    a quarter of the free memory (CUDA's free memory, MemAvailable on a CPU)."""
    free = None
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        free = torch.cuda.mem_get_info(torch.device(device))[0]
    free = free or available_memory() or 4 * 2**30
    side = int((free / 4 / bytes_per_pixel(net)) ** 0.5) // 64 * 64
    return max(256, min(1024, side))


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def refuse_if_too_large(
    net: nn.Module, h: int, w: int, work_side: int | None, device: str, tile: int | None = None
) -> None:
    """ValueError, with the size that would fit, when an image would not fit in memory (CPU),
    rather than swapping or being killed by the OOM killer half-way."""
    have = available_memory() if str(device).startswith("cpu") else None
    need = memory_needed(net, h, w, work_side, tile)
    if have is None or need <= 0.8 * have:
        return
    lo, hi = 0.0, 1.0  # the largest scale that fits (memory is not proportional to area with tiles)
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (
            (mid, hi)
            if memory_needed(net, int(h * mid), int(w * mid), work_side, tile) <= 0.8 * have
            else (lo, mid)
        )
    raise ValueError(
        f"{w}x{h} would need about {need / 2**30:.1f} GiB to translate, {have / 2**30:.1f} GiB "
        f"is available: downscale it to about {int(w * lo)}x{int(h * lo)} first (--max-side)"
    )


@dataclass
class Translated:
    """What `translate_path` did: files written, and inputs skipped with the reason."""

    written: list[Path] = field(default_factory=list)
    skipped: dict[Path, str] = field(default_factory=dict)


def output_pairs(src: Path, dst: Path, ext: str = ".png") -> list[tuple[Path, Path]]:
    """(input, output) for a file or a folder (mirrored names, `ext`). Refuses, with a
    ValueError naming the files, whatever would overwrite an input, write into the
    input folder, or map two inputs to one output (`x.jpg` and `x.png`)."""
    if src.is_dir():
        s, d = src.resolve(), dst.resolve()
        if d == s or s in d.parents:
            raise ValueError(
                f"output folder {dst} is (inside) the input folder {src}: inputs would be "
                "overwritten or translated again on the next run; choose another folder"
            )
        pairs = [(p, dst / p.relative_to(src).with_suffix(ext)) for p in list_images(src)]
        if not pairs:
            raise ValueError(f"no image files in {src}")
    else:
        out = dst / (src.stem + ext) if dst.is_dir() or not dst.suffix else dst
        if out.resolve() == src.resolve():
            raise ValueError(f"output {out} is the input file; choose another name")
        pairs = [(src, out)]
    seen: dict[Path, Path] = {}
    for inp, out in pairs:
        if out in seen:
            raise ValueError(f"{seen[out]} and {inp} would both be written to {out}; rename one of them")
        seen[out] = inp
    return pairs


def translate_path(
    net: nn.Module,
    src: str | Path,
    dst: str | Path,
    device: str = "cpu",
    work_side: int | None | str = "train",
    tile: int | None | str = "auto",
    overlap: int = OVERLAP,
    max_side: int | None = None,
    show_progress: bool = False,
    ext: str = ".png",
    batch_size: int = 8,
) -> Translated:
    """Translate one image file, or every image of a folder (mirrored names; the format
    by the output file's extension, or `ext` for folders). An alpha channel is kept: the
    image is translated over white and its alpha written back (formats that have one).
    `work_side`: "train" (the checkpoint's training size; default), an int, or None
    (native resolution); outputs have their input's size, or with `max_side` the input
    downscaled first so that its longer side is at most that. `tile`: working images
    larger than tile x tile pixels are translated in overlapping tiles ("auto": the
    largest tile the free memory allows, `auto_tile`; None: never). Consecutive images of
    one size go through G together, up to `batch_size` of them and at most one tile's
    pixels in all (untiled: 1024 x 1024); G is per-image in eval mode, so batching
    changes no output.
    An input that does not decode or would not fit in memory is skipped and reported (the
    others are still translated)."""
    work_side, tile = resolve(net, work_side, tile, overlap, device)
    pairs = output_pairs(Path(src), Path(dst), ext)
    net, done = net.to(device), Translated()
    batch: list = []

    def flush() -> None:
        if batch:
            y = translate_at(net, torch.cat([x for _, x, _ in batch]), work_side, tile, overlap)
            for (out, _, alpha), rgb in zip(batch, y):
                write_translation(out, to_uint8_hwc(rgb), alpha)
                done.written.append(out)
            batch.clear()

    for inp, out in progress(pairs, show_progress and len(pairs) > 1, "image"):
        try:
            x, alpha = read_input(net, inp, out, work_side, device, tile, max_side)
        except Exception as err:  # noqa: BLE001 - unreadable or too large: skip, count, name it
            done.skipped[inp] = (
                f"{type(err).__name__}: {err}" if not isinstance(err, ValueError) else str(err)
            )
            continue
        if batch and not fits_batch(batch[0][1], x, len(batch), batch_size, work_side, tile):
            flush()
        batch.append((out, x, alpha))
    flush()
    return done


def translate_video_path(
    net: nn.Module,
    src: str | Path,
    dst: str | Path,
    device: str = "cpu",
    work_side: int | None | str = "train",
    tile: int | None | str = "auto",
    overlap: int = OVERLAP,
    show_progress: bool = False,
) -> int:
    """Translate every frame of a video into `dst` like a still image (`work_side`, `tile`
    as in `translate_path`), streaming, frame rate and audio kept (`cartoonlab.video`,
    needs PyAV); the number of frames written."""
    from cartoonlab import video

    work_side, tile = resolve(net, work_side, tile, overlap, device)
    return video.translate_video(
        net.to(device),
        src,
        dst,
        device=device,
        progress=show_progress,
        translate=lambda g, x: translate_at(g, x, work_side, tile, overlap),
    )


def read_input(
    net: nn.Module,
    inp: Path,
    out: Path,
    work_side: int | None,
    device: str,
    tile: int | None,
    max_side: int | None,
) -> tuple[torch.Tensor, np.ndarray | None]:
    """`[1, 3, H, W]` in [-1, 1] on `device` (EXIF orientation applied, downscaled to
    `max_side`) and the alpha channel when `out`'s format keeps one. Raises ValueError for
    an image too large to translate, before decoding it."""
    with Image.open(inp) as im:  # the header only: refuse before decoding a huge image
        h, w = fit_within(im.height, im.width, max_side)
        refuse_if_too_large(net, h, w, work_side, device, tile)
    x = to_tensor(load_rgb(inp, min_side=min(h, w) if max_side else None)).unsqueeze(0)
    h, w = fit_within(x.shape[-2], x.shape[-1], max_side)  # after EXIF orientation
    if (h, w) != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    alpha = load_alpha(inp) if out.suffix.lower() in ALPHA_FORMATS else None
    return x.to(device), alpha


def fits_batch(
    first: torch.Tensor, x: torch.Tensor, n: int, batch_size: int, work_side: int | None, tile: int | None
) -> bool:
    """Whether x joins a batch of n images like `first`: same size, fewer than batch_size,
    and their working pixels together within one tile's (untiled: 1024 x 1024)."""
    if x.shape != first.shape or n >= batch_size:
        return False
    wh, ww = work_size(x.shape[-2], x.shape[-1], work_side)
    return (n + 1) * wh * ww <= (tile or 1024) ** 2


def write_translation(out: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    if alpha is not None:
        rgb = np.dstack([rgb, cv2.resize(alpha, rgb.shape[1::-1], interpolation=cv2.INTER_AREA)])
    write_image(out, rgb)


def resolve(
    net: nn.Module, work_side: int | None | str, tile: int | None | str, overlap: int, device: str
) -> tuple[int | None, int | None]:
    """`work_side` "train" -> the net's training size; `tile` "auto" -> `auto_tile`; checked."""
    side = getattr(net, "work_side", None) if work_side == "train" else work_side
    px = auto_tile(net, device) if tile == "auto" else tile
    if isinstance(side, str) or isinstance(px, str):
        raise ValueError(
            f"work_side must be a size or 'train' and tile a size or 'auto', got {work_side!r}, {tile!r}"
        )
    if px and px <= 2 * overlap:
        raise ValueError(f"a tile of {px} px must be more than twice the overlap ({overlap} px)")
    return side, px


def progress(items: list, enabled: bool, unit: str):
    """items, with a progress bar on stderr when enabled."""
    from tqdm import tqdm

    return tqdm(items, unit=unit, disable=not enabled, desc="cartoonize")


def fit_within(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """(h, w) scaled down so that the longer side is at most max_side (never up)."""
    if not max_side or max(h, w) <= max_side:
        return h, w
    k = max_side / max(h, w)
    return max(1, round(h * k)), max(1, round(w * k))
