"""Does the scale G translates at matter? Validation scores of one trained run with G
applied at several short sides (the crop size, the training images' 286/256 scale...),
all scored at the crop size on the same images.

    .venv/bin/python benchmarks/eval_scale.py results/quick/runs/cyclegan-s0 [--sides 32 36]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

from cartoonlab.data import UnpairedImageDataModule
from cartoonlab.inference import load_generator, translate_at
from cartoonlab.metrics import load_backbone
from cartoonlab.metrics.translation import TranslationScores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run directory (config.yaml, checkpoints/last.ckpt)")
    ap.add_argument(
        "--sides", type=int, nargs="+", help="short sides to translate at (default: crop, work_side)"
    )
    ap.add_argument("--split", default="val", choices=["val", "test"])
    args = ap.parse_args()
    data = yaml.safe_load((args.run / "config.yaml").read_text())["data"]
    dm = UnpairedImageDataModule(**{**data, "num_workers": 0})
    dm.prepare_data()
    dm.setup("test")
    net = load_generator(args.run / "checkpoints" / "last.ckpt")
    sides = args.sides or sorted({dm.hparams.image_size, net.work_side})
    scores = TranslationScores(load_backbone("auto"), ("cartoon",))
    scores.load_references(dm, args.split)
    loader = dm.val_dataloader() if args.split == "val" else dm.test_dataloader()
    print(
        f"{args.run.name}: {args.split} split, crop {dm.hparams.image_size}, "
        f"checkpoint work_side {net.work_side}"
    )
    print(
        "| translated at | FID vs cartoons | KID x1e3 | L1 to truth | SSIM to photo |\n|---|---|---|---|---|"
    )
    for side in sides:
        scores.reset()
        with torch.no_grad():
            for batch in loader:
                scores.update(translate_at(net, batch["photo"], side), batch)
        r = scores.compute()
        print(
            f"| {side} px | {r['fid_cartoon']:.1f} | {1e3 * r['kid_cartoon']:.1f} | "
            f"{r.get('l1_truth', float('nan')):.3f} | {r['ssim_photo']:.3f} |"
        )


if __name__ == "__main__":
    main()
