"""Finding, decoding and checking images on disk.

`load_rgb` is the one decoder every part of cartoonlab uses: it applies the EXIF
orientation and converts any mode to 8-bit RGB (grayscale and palette images
to RGB, alpha composited on white, CMYK to RGB). Deep images are converted by
their mode, never by their values: 16-bit (and 32-bit integer, the mode Pillow
gives some 16-bit files) is divided by 257; float is taken as 0..1 and scaled
by 255 when its maximum is at most 1, else as 0..255; both are then clipped.

Memory is bounded: a JPEG over `DRAFT_PIXELS` is decoded reduced (the decoder's
1/2-1/8 DCT scaling) to no less than the short side its caller needs, and an image
whose decoded size would exceed `MAX_PIXELS` is refused with a ValueError (a
counted skip for the DataModule) instead of taking gigabytes.

`list_files` is the one listing rule: `data check`, the DataModule and every
command that reads a folder see the same files.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from cartoonlab.utils import regular_file, replacing

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
EXIF_ORIENTATION = 0x0112
DRAFT_PIXELS = 16_000_000  # smaller JPEGs decode as always (numbers of ordinary data unchanged)
MAX_PIXELS = 100_000_000  # 300 MB as 8-bit RGB; PIL itself warns at 89 and refuses at 179 Mpx


def list_files(folder: str | Path) -> list[Path]:
    """Every file under `folder`, recursively, in sorted order. Hidden files and
    folders (names starting with ".": macOS's `._x.png` AppleDouble twins, our own
    markers and temporary files) are skipped. Symlinked folders are followed, each
    real folder once, so a link cycle ends."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    seen, files = set(), []
    for top, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:  # a second link to a folder already listed, or a cycle
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # sorted: the same link wins each run
        files += [
            Path(top, n) for n in names if not n.startswith(".") and os.path.isfile(os.path.join(top, n))
        ]
    return sorted(files)


def list_images(folder: str | Path) -> list[Path]:
    """The files of `list_files` with an image extension."""
    return [p for p in list_files(folder) if p.suffix.lower() in IMAGE_EXTENSIONS]


def float_scale(values: np.ndarray) -> float:
    """The factor that brings a float image to 0..255: 255 for a 0..1 image, else 1."""
    return 255.0 if values.max(initial=0) <= 1 else 1.0


def to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL image as an HxWx3 uint8 RGB array (see the module docstring)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = np.nan_to_num(np.asarray(im, dtype=np.float64))
        gray = gray * float_scale(gray) if im.mode == "F" else gray / 257.0
        gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.array(im.convert("RGB"))  # writable: torch.from_numpy needs it


def load_alpha(path: str | Path) -> np.ndarray | None:
    """The alpha channel (HxW uint8, EXIF orientation applied) of an image that has one."""
    with Image.open(path) as im:
        if not (
            im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info)
        ):
            return None
        im = ImageOps.exif_transpose(im) or im
        return np.array(im.convert("RGBA"))[..., 3]


def limit_decode(im: Image.Image, path: str | Path, min_side: int | None = None) -> None:
    """Before `im.load()`: a large JPEG is set to decode reduced (DCT scaling) to at
    least `min_side`; an image whose decode would still exceed `MAX_PIXELS` raises
    ValueError with a size that fits."""
    w, h = im.size
    if min_side and im.format == "JPEG" and w * h > DRAFT_PIXELS and min(w, h) > min_side:
        short = min(w, h)  # draft keeps at least the size asked for (ceil division)
        im.draft(im.mode, (-(-w * min_side // short), -(-h * min_side // short)))
    if im.size[0] * im.size[1] > MAX_PIXELS:
        fit = (MAX_PIXELS / (w * h)) ** 0.5
        raise ValueError(
            f"{path} is {w}x{h} ({w * h / 1e6:.0f} Mpx), over the {MAX_PIXELS / 1e6:.0f} Mpx "
            f"cartoonlab decodes: downscale it to about {int(w * fit)}x{int(h * fit)}"
        )


def load_rgb(path: str | Path, min_side: int | None = None) -> np.ndarray:
    """Decode an image file fully to HxWx3 uint8 RGB, EXIF orientation applied.
    `min_side`: the short side the caller needs (a large JPEG is decoded reduced to it).

    Raises OSError (or a PIL error) for unreadable, truncated or non-image files, and
    ValueError for one over `MAX_PIXELS`.
    """
    try:
        opened = Image.open(regular_file(path))
    except Image.DecompressionBombError as err:  # PIL's own limit, hit before ours: name the file
        raise ValueError(f"{path}: {err}") from err
    with opened as im:
        limit_decode(im, path, min_side)
        im.load()
        im = ImageOps.exif_transpose(im) or im
        return to_rgb(im)


def _try_load(path: Path, min_side: int | None = None) -> str | None:
    try:
        load_rgb(path, min_side)
    except Exception as err:  # noqa: BLE001 - any decoder failure means "unusable"
        return f"{type(err).__name__}: {err}"
    return None


def usable_images(
    paths: list[Path], threads: int = 4, min_side: int | None = None
) -> tuple[list[Path], dict[Path, str]]:
    """Split `paths` into fully decodable images and {bad path: reason}."""
    with ThreadPoolExecutor(threads) as pool:  # PIL decoders release the GIL
        errors = list(pool.map(lambda p: _try_load(p, min_side), paths))
    good = [p for p, e in zip(paths, errors) if e is None]
    return good, {p: e for p, e in zip(paths, errors) if e is not None}


@dataclass
class CheckReport:
    """What `cartoonlab data check` found. `problems` maps a kind to its files."""

    total: int = 0
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    # Kinds that make a file unusable; the rest are converted on load (warnings).
    FATAL = ("unreadable", "not_an_image", "ignored_format")
    # What the DataModule does with a file of each kind (printed by `data check`).
    HOW = {
        "unreadable": "skipped by the DataModule",
        "not_an_image": "skipped by the DataModule",
        "ignored_format": "not read by the DataModule (it reads "
        + ", ".join(sorted(IMAGE_EXTENSIONS))
        + "): convert to PNG to use",
        "grayscale": "copied to 3 channels on load",
        "alpha": "composited on white on load",
        "palette": "converted to RGB on load",
        "cmyk": "converted to RGB on load",
        "16_bit": "divided by 257 to 8 bits on load",
        "float": "scaled by 255 on load when its maximum is at most 1, else clipped to 0..255",
        "exif_rotated": "turned upright on load",
        "smaller_than_crop": "upscaled to the crop on load",
        "duplicate": "both used by the DataModule",
    }

    @property
    def n_fatal(self) -> int:
        return sum(len(self.problems.get(k, [])) for k in self.FATAL)

    def as_dict(self) -> dict:
        return {"total": self.total, "problems": {k: v for k, v in self.problems.items() if v}}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks: memory does not grow with the file
    (a folder may hold a video). Every file hash in cartoonlab goes through here."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


IN_PROGRESS = ".in-progress"  # written first by `write_dataset`, removed once `.complete` is written


def refuse_unfinished(folder: str | Path) -> None:
    """Raise ValueError when `folder` or its parent is a dataset whose writing was
    interrupted (e.g. `data synth` killed midway): its splits are partly missing."""
    folder = Path(os.path.abspath(folder))
    for d in (folder, folder.parent):
        if (d / IN_PROGRESS).exists() and not (d / ".complete").exists():
            raise ValueError(
                f"{d} is an unfinished dataset (`cartoonlab data synth` was interrupted): "
                "re-run `cartoonlab data synth` into a new or empty folder"
            )


def check_folder(folder: str | Path, min_size: int = 256) -> CheckReport:
    """Inspect every file under `folder` the way the DataModule will read it."""
    if not Path(folder).is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
    refuse_unfinished(folder)
    report = CheckReport()
    seen: dict[str, str] = {}
    for path in list_files(folder):
        report.total += 1
        rel = str(path.relative_to(folder))
        try:  # a file that cannot even be read (permissions, I/O error) is what check reports
            digest = file_sha256(path)
        except OSError as err:
            report.problems["unreadable"].append(f"{rel}: {err.strerror or err}")
            continue
        if digest in seen:
            report.problems["duplicate"].append(f"{rel} == {seen[digest]}")
        else:
            seen[digest] = rel
        try:
            with Image.open(path) as im:
                mode, (w, h) = im.mode, im.size
                orientation = im.getexif().get(EXIF_ORIENTATION, 1)
                limit_decode(im, rel, min_size)  # as the DataModule decodes it
                im.load()
                note = ""
                if mode == "F":  # say which of the two float conversions this file gets
                    big = float_scale(np.nan_to_num(np.asarray(im))) == 1
                    note = ", max > 1: clipped to 0..255" if big else ", max <= 1: x255"
        except Exception as err:  # noqa: BLE001
            is_image = path.suffix.lower() in IMAGE_EXTENSIONS and "cannot identify" not in str(err)
            report.problems["unreadable" if is_image else "not_an_image"].append(f"{rel}: {err}")
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:  # an image, e.g. a GIF, that training never lists
            report.problems["ignored_format"].append(rel)
            continue
        for kind, hit in _mode_kinds(mode).items():
            if hit:
                report.problems[kind].append(f"{rel} ({mode}{note})")
        if orientation not in (0, 1):
            report.problems["exif_rotated"].append(f"{rel} (orientation {orientation})")
        if min(w, h) < min_size:
            report.problems["smaller_than_crop"].append(f"{rel} ({w}x{h} < {min_size})")
    return report


def _mode_kinds(mode: str) -> dict[str, bool]:
    return {
        "grayscale": mode in ("L", "1", "LA", "La"),
        "alpha": mode in ("RGBA", "LA", "La", "RGBa", "PA"),
        "palette": mode in ("P", "PA"),
        "cmyk": mode == "CMYK",
        "16_bit": mode.startswith("I"),
        "float": mode == "F",
    }


def write_image(path: Path, rgb) -> None:
    """Encode by the extension and write atomically (temporary file, then rename),
    through Python's file API: any file name the OS accepts works, and a failed
    write raises instead of passing silently. `rgb`: HxWx3, or HxWx4 with alpha."""
    try:
        code = cv2.COLOR_RGBA2BGRA if rgb.shape[-1] == 4 else cv2.COLOR_RGB2BGR
        ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, code))
    except cv2.error:
        ok = False
    if not ok:
        raise OSError(f"cannot encode {path} (unknown image extension {path.suffix!r})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_bytes(buf.tobytes())
