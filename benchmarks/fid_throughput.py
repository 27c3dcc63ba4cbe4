"""FID cost: Inception feature throughput and the time of compute() with 2048 features.

    .venv/bin/python benchmarks/fid_throughput.py [--device cuda] [--n 64]

Prints images/s of feature extraction at 256 px (resized to 299 inside) and the
time of one FID compute: cartoonlab's float64 route vs torchmetrics' `eigvals`
and SciPy's `sqrtm`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import torch
from torchmetrics.image.fid import _compute_fid

from cartoonlab.metrics import load_backbone
from cartoonlab.metrics.fid import frechet_distance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=64, help="images to time")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    dev = torch.device(args.device)
    name = (
        torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    net = load_backbone().to(dev)
    x = torch.randint(0, 256, (args.batch_size, 3, 256, 256), dtype=torch.uint8, device=dev)
    net(x[:2])  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(max(1, args.n // args.batch_size)):
        net(x)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    ips = args.batch_size * max(1, args.n // args.batch_size) / (time.perf_counter() - t0)
    print(f"{net.name} on {name}: {ips:.1f} images/s (256 px input, batch {args.batch_size})")

    g = torch.Generator().manual_seed(0)
    feats = [torch.rand(3000, 2048, generator=g, dtype=torch.float64) ** 3 for _ in range(2)]
    mu = [f.mean(0) for f in feats]
    cov = [torch.cov(f.T) for f in feats]
    for label, fn in (
        ("cartoonlab (Cholesky + eigvalsh, float64)", lambda: frechet_distance(mu[0], cov[0], mu[1], cov[1])),
        ("torchmetrics (eigvals)", lambda: _compute_fid(mu[0], cov[0], mu[1], cov[1])),
        ("scipy.linalg.sqrtm", lambda: np.trace(scipy.linalg.sqrtm(cov[0].numpy() @ cov[1].numpy()).real)),
    ):
        t0 = time.perf_counter()
        fn()
        print(f"FID compute, 2048 features, {label}: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
