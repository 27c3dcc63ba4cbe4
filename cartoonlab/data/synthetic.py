"""The embedded synthetic dataset: two unpaired domains of the same kind of scene.

"Photos" have smooth shading, texture, sensor noise and soft edges; "cartoons"
have flat, saturated colours and dark outlines. A scene is a sky, a ground and a
few objects (sun, hills, houses, trees, balls). Training photos and cartoons are
drawn from different random scenes (unpaired), so a model must learn the
*style*, not a pixel mapping. Everything is a pure function of (seed, domain,
index).

The held-out splits are *paired*: `valB/` and `testB/` hold the cartoon rendering
of the very scene of `valA/` and `testA/` (same file names), the ground truth no
real cartoonization benchmark has. Both domains draw scenes from one
distribution, so these cartoons are also a fair FID reference, and a model that
keeps the style but invents objects is caught by its distance to the truth.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from cartoonlab.data.folders import IN_PROGRESS, refuse_unfinished, write_image
from cartoonlab.utils import die_with_parent

DOMAINS = {"photo": 0, "cartoon": 1}


def _scene(rng: np.random.Generator, s: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Label map (HxW int32) and one base RGB colour per label."""
    labels = np.zeros((s, s), np.int32)
    colors = [rng.uniform([90, 140, 200], [170, 210, 255])]  # 0: sky
    horizon = int(s * rng.uniform(0.45, 0.7))
    ground = np.array([[0, horizon], [s, int(horizon + rng.uniform(-0.1, 0.1) * s)], [s, s], [0, s]])
    cv2.fillPoly(labels, [ground.astype(np.int32)], 1)
    colors.append(rng.uniform([40, 100, 20], [140, 190, 90]))  # 1: ground
    if rng.random() < 0.7:  # sun
        colors.append(rng.uniform([230, 190, 40], [255, 240, 140]))
        c = (int(rng.uniform(0.1, 0.9) * s), int(rng.uniform(0.08, 0.3) * s))
        cv2.circle(labels, c, int(rng.uniform(0.05, 0.1) * s), len(colors) - 1, -1)
    for _ in range(rng.integers(2, 5)):
        colors.append(rng.uniform(20, 235, 3))
        k, cx = rng.integers(4), rng.uniform(0.05, 0.95) * s
        base, w = rng.uniform(horizon + 2, 0.95 * s), rng.uniform(0.08, 0.25) * s
        if k == 0:  # hill / mountain
            pts = [[cx - 2 * w, horizon + 4], [cx, horizon - 1.5 * w], [cx + 2 * w, horizon + 4]]
        elif k == 1:  # house: a box and its roof
            top = base - w
            pts = [
                [cx - w / 2, base],
                [cx - w / 2, top],
                [cx, top - w / 2],
                [cx + w / 2, top],
                [cx + w / 2, base],
            ]
        elif k == 2:  # tree crown
            cv2.ellipse(
                labels, (int(cx), int(base - w)), (int(w / 2), int(w * 0.8)), 0, 0, 360, len(colors) - 1, -1
            )
            continue
        else:  # ball
            cv2.circle(labels, (int(cx), int(base - w / 2)), int(w / 2), len(colors) - 1, -1)
            continue
        cv2.fillPoly(labels, [np.array(pts, np.int32)], len(colors) - 1)
    return labels, colors


def _noise_field(rng: np.random.Generator, s: int, cells: int) -> np.ndarray:
    grid = rng.normal(size=(cells, cells)).astype(np.float32)
    return cv2.resize(grid, (s, s), interpolation=cv2.INTER_CUBIC)


def _photo_style(rng: np.random.Generator, labels: np.ndarray, colors: list[np.ndarray]) -> np.ndarray:
    s = labels.shape[0]
    base = np.stack(colors).astype(np.float32)[labels]
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    light = rng.uniform(-1, 1, 2)
    shade = 1.0 + 0.35 * (light[0] * (xx - 0.5) + light[1] * (yy - 0.5)) * 2
    shade += 0.12 * _noise_field(rng, s, 6)  # low-frequency lighting variation
    img = base * shade[..., None]
    img += 10 * _noise_field(rng, s, max(8, s // 4))[..., None]  # texture
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 1.6))  # soft edges, lens blur
    img += rng.normal(0, 4, img.shape).astype(np.float32)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8)


def _cartoon_style(labels: np.ndarray, colors: list[np.ndarray]) -> np.ndarray:
    s = labels.shape[0]
    palette = np.stack(colors).astype(np.float32)
    mean = palette.mean(1, keepdims=True)
    palette = np.clip(mean + 1.4 * (palette - mean) + 15, 0, 255)  # more saturated, brighter
    palette = (np.round(palette / 32) * 32).clip(0, 255)  # few flat colours
    img = palette[labels]
    boundary = (np.diff(labels, axis=0, prepend=labels[:1]) != 0) | (
        np.diff(labels, axis=1, prepend=labels[:, :1]) != 0
    )
    width = max(1, s // 96)
    outline = cv2.dilate(boundary.astype(np.uint8), np.ones((width + 1, width + 1), np.uint8)) > 0
    img[outline] = 25
    return img.astype(np.uint8)


def render(domain: str, index: int, size: int, seed: int) -> np.ndarray:
    """One synthetic RGB uint8 image; a pure function of its arguments."""
    rng = np.random.default_rng([seed, DOMAINS[domain], index])
    labels, colors = _scene(rng, size)
    return _photo_style(rng, labels, colors) if domain == "photo" else _cartoon_style(labels, colors)


def render_pair(index: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Photo `index` (the same image as `render("photo", ...)`) and the cartoon
    rendering of its scene: the ground-truth translation."""
    rng = np.random.default_rng([seed, DOMAINS["photo"], index])
    labels, colors = _scene(rng, size)
    return _photo_style(rng, labels, colors), _cartoon_style(labels, colors)


def _write(job: tuple[str, str, int, int, int]) -> None:
    path, domain, index, size, seed = job
    img = render_pair(index, size, seed)[1] if domain == "truth" else render(domain, index, size, seed)
    write_image(Path(path), img)  # checked, atomic, any file name


PAIRED_MARKER = ".paired"  # in a dataset root: valB/testB are the ground truth of valA/testA


def write_dataset(
    out: str | Path,
    n: int = 1000,
    size: int = 128,
    seed: int = 0,
    n_test: int | None = None,
    n_val: int | None = None,
    workers: int | None = None,
) -> Path:
    """Write `trainA/` (photos), `trainB/` (cartoons), and the paired held-out
    splits `valA/`+`valB/` and `testA/`+`testB/` under `out`.

    Train, validation and test scenes come from disjoint index ranges. Files are
    PNG, named by index, so a dataset is byte-identical for the same arguments.
    `.paired` says the held-out cartoons are ground truth. `.in-progress`, written
    first, and `.complete`, written last (then `.in-progress` is removed), let
    readers refuse a dataset whose writing was killed midway.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        refuse_unfinished(out)  # an interrupted run's folder gets that message
        raise ValueError(
            f"{out} exists and is not empty: a new dataset would mix with its files "
            "(old train scenes could become new test scenes); choose a new folder"
        )
    n_test = max(8, n // 10) if n_test is None else n_test
    n_val = n_test if n_val is None else n_val
    out.mkdir(parents=True, exist_ok=True)
    (out / IN_PROGRESS).write_text(
        "being written by `cartoonlab data synth`; not usable until .complete exists\n"
    )
    jobs = []
    splits = (("train", n, 0, "cartoon"), ("val", n_val, n, "truth"), ("test", n_test, n + n_val, "truth"))
    for split, count, offset, b_domain in splits:
        for letter, domain in (("A", "photo"), ("B", b_domain)):
            d = out / f"{split}{letter}"
            d.mkdir(parents=True, exist_ok=True)
            jobs += [(str(d / f"{i:05d}.png"), domain, offset + i, size, seed) for i in range(count)]
    workers = workers or min(len(jobs) // 50 + 1, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
            list(pool.map(_write, jobs, chunksize=32))
    else:
        for job in jobs:
            _write(job)
    (out / PAIRED_MARKER).write_text(
        "valB/ and testB/ hold the cartoon renderings of the scenes of valA/ and testA/ (same file names)\n"
    )
    (out / ".complete").write_text(f"n={n} size={size} seed={seed} n_val={n_val} n_test={n_test}\n")
    (out / IN_PROGRESS).unlink()
    return out
