"""Edge promoting: agreement with and speed against the per-pixel reference loop.

    .venv/bin/python benchmarks/edge_smoothing.py [CARTOON_DIR] [--n 20]

Prints PSNR of cartoonlab's cached implementation against the reference loop
of the public ports (on real images when a folder is given), the speed-up on
one core, and how closely the on-the-fly kornia version agrees.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cartoonlab.data.edges import edge_mask, edge_smooth, edge_smooth_torch  # noqa: E402
from cartoonlab.data.folders import list_images, load_rgb  # noqa: E402
from cartoonlab.data.synthetic import render  # noqa: E402
from cartoonlab.data.transforms import to_tensor  # noqa: E402
from tests.data.reference_edges import psnr, reference_edge_promoting  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared/data/selfie2anime-mini/trainB"
    ap.add_argument("folder", nargs="?", default=str(default) if default.is_dir() else None)
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()
    if args.folder:
        imgs, source = [load_rgb(p) for p in list_images(args.folder)[: args.n]], args.folder
    else:
        imgs, source = [render("cartoon", i, 256, seed=0) for i in range(args.n)], "synthetic cartoons"
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    print(f"{len(imgs)} images from {source}, {imgs[0].shape[1]}x{imgs[0].shape[0]}, one core")

    t0 = time.perf_counter()
    refs = [reference_edge_promoting(i) for i in imgs]
    t_ref = (time.perf_counter() - t0) / len(imgs)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        ours = [edge_smooth(i) for i in imgs]
    t_ours = (time.perf_counter() - t0) / (reps * len(imgs))
    p = [psnr(o, r) for o, r in zip(ours, refs)]
    masked = np.mean([edge_mask(i).mean() for i in imgs])
    print(f"edge mask covers {masked:.1%} of pixels on average")
    print(f"reference loop: {t_ref * 1e3:9.2f} ms/image")
    print(f"cartoonlab:     {t_ours * 1e3:9.2f} ms/image   speed-up x{t_ref / t_ours:,.0f}")
    print(f"PSNR vs reference: min {min(p):.1f} dB, mean {np.mean(p):.1f} dB (target >= 45)")

    x = torch.stack([to_tensor(i) for i in imgs])
    t0 = time.perf_counter()
    y = edge_smooth_torch(x)
    t_k = (time.perf_counter() - t0) / len(imgs)
    y8 = ((y.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    pk = [psnr(a, b) for a, b in zip(y8, ours)]
    print(
        f"kornia (on-the-fly, CPU): {t_k * 1e3:.2f} ms/image; PSNR vs cached: "
        f"min {min(pk):.1f} dB, mean {np.mean(pk):.1f} dB (different Canny, see its docstring)"
    )


if __name__ == "__main__":
    main()
