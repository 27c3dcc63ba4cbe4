"""Full-resolution inference: time and peak memory of `cartoonlab cartoonize` on a large photo.

    .venv/bin/python benchmarks/tiled_inference.py [--size 6000x4000] [--generator cyclegan|cartoongan]
        [--tile 512] [--json out.json]

Writes a photo-like JPEG of the given size (smooth colour fields and edges; the content
does not change the cost), a checkpoint with the paper-size generator (CycleGAN ResNet-9,
64 base channels, InstanceNorm; or CartoonGAN's, 8 blocks; random weights: the cost is
the same as trained ones), then runs `cartoonlab cartoonize --native` (every pixel through
G) as a subprocess and reports its wall time, its peak resident memory (`ru_maxrss` of the
child), the tile size used and that the output has the input's size. `--tile 0` runs the
image whole (expect it to be refused where it would not fit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cartoonlab.nets.generators import CartoonGANGenerator, ResnetGenerator

GENERATORS = {
    "cyclegan": lambda: ResnetGenerator(ngf=64, n_blocks=9),
    "cartoongan": lambda: CartoonGANGenerator(ngf=64, n_blocks=8, norm="instance"),
}


def photo(path: Path, w: int, h: int) -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (max(2, h // 200), max(2, w // 200), 3), np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    img.save(path, quality=92)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="6000x4000")
    ap.add_argument("--generator", choices=list(GENERATORS), default="cyclegan")
    ap.add_argument("--tile", default="auto")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    w, h = map(int, args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        photo(d / "photo.jpg", w, h)
        net = GENERATORS[args.generator]()
        torch.save(
            {
                "state_dict": {f"G.{k}": v for k, v in net.state_dict().items()},
                "cartoonlab": {"generator": net.config, "work_side": 256},
            },
            d / "g.ckpt",
        )
        cmd = [
            sys.executable,
            "-m",
            "cartoonlab",
            "cartoonize",
            "--ckpt",
            str(d / "g.ckpt"),
            "--native",
            "--tile",
            args.tile,
            str(d / "photo.jpg"),
            str(d / "out.png"),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "CARTOONLAB_TRACEBACK": "1"}
        )
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        out_size = Image.open(d / "out.png").size if (d / "out.png").exists() else None
    from cartoonlab.inference import auto_tile

    row = {
        "image": f"{w}x{h}",
        "megapixels": round(w * h / 1e6, 1),
        "generator": args.generator,
        "tile": args.tile if args.tile != "auto" else f"auto ({auto_tile(net, 'cpu')})",
        "seconds": round(seconds, 1),
        "peak_rss_gib": round(peak / 2**30, 2),
        "output_size": f"{out_size[0]}x{out_size[1]}" if out_size else None,
        "rc": proc.returncode,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(row, indent=1))
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
