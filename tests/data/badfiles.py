"""Real bad and unusual image files, written into a folder for the tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from cartoonlab.data.synthetic import render


def write_good(folder: Path, n: int, size: int = 40, domain: str = "cartoon") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"good_{i:03d}.png"
        Image.fromarray(render(domain, i, size, seed=7)).save(p)
        paths.append(p)
    return paths


def write_bad_zoo(folder: Path, size: int = 40) -> dict[str, str]:
    """Write one file of every kind `data check` reports; returns {file name: kind}."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = render("photo", 0, size, seed=9)
    kinds = {}

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95)
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    kinds["truncated.jpg"] = "unreadable"
    (folder / "fake.jpg").write_bytes(b"this is not an image at all" * 10)
    kinds["fake.jpg"] = "not_an_image"
    (folder / "notes.txt").write_text("hello")
    kinds["notes.txt"] = "not_an_image"

    Image.fromarray(rgb).convert("L").save(folder / "gray.png")
    kinds["gray.png"] = "grayscale"
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:5, :5, 3] = 0  # a transparent corner
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    kinds["alpha.png"] = "alpha"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    kinds["palette.png"] = "palette"
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    kinds["cmyk.jpg"] = "cmyk"
    deep = (np.asarray(Image.fromarray(rgb).convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep16.png")  # mode I;16
    kinds["deep16.png"] = "16_bit"

    wide = np.zeros((size, size * 2, 3), np.uint8)
    wide[:, :size] = 255  # left half white: after a 90 degree turn it becomes the top or bottom
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    Image.fromarray(wide).save(folder / "rotated.jpg", exif=exif.tobytes(), quality=95)
    kinds["rotated.jpg"] = "exif_rotated"

    Image.fromarray(rgb[:16, :16]).save(folder / "tiny.png")
    kinds["tiny.png"] = "smaller_than_crop"
    (folder / "z_copy.png").write_bytes((folder / "gray.png").read_bytes())
    kinds["z_copy.png"] = "duplicate"
    return kinds
