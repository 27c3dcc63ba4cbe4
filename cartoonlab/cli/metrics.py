"""`cartoonlab metrics fid REAL_DIR FAKE_DIR [--kid] [--json]`."""

from __future__ import annotations

import argparse
import json

from cartoonlab.cli.args import positive_int
from cartoonlab.cli.exits import EXIT_OK

HELP = "FID/KID between two image folders, with the same Inception network as the runs"


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "fid",
        help="FID (and KID) between two folders of images",
        description="FID between REAL_DIR and FAKE_DIR (2048-d pool3 features of the FID "
        "Inception network, TF1 bilinear resize to 299). REAL_DIR's features are cached "
        "on disk by content, so comparing many folders against one reference is cheap.",
    )
    p.add_argument("real", metavar="REAL_DIR")
    p.add_argument("fake", metavar="FAKE_DIR")
    p.add_argument("--kid", action="store_true", help="also report KID (mean and std over subsets)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--size",
        type=positive_int,
        default=None,
        help="resize/centre-crop images to this side first, like the runs (default: native size)",
    )
    p.add_argument(
        "--backbone", default="auto", choices=["auto", "torch-fidelity", "fid-helper"]
    )  # = FID_BACKBONES (tested)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.set_defaults(func=fid)


def fid(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from cartoonlab.data.folders import list_images
    from cartoonlab.metrics import FIDKID, file_features, load_backbone, reference_features

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    backbone = load_backbone(args.backbone)
    real, fake = list_images(args.real), list_images(args.fake)
    for folder, files in ((args.real, real), (args.fake, fake)):
        if len(files) < 2:
            raise ValueError(f"FID needs at least 2 images in each folder; {folder} has {len(files)}")
    with tqdm(total=len(real) + len(fake), desc="Inception features", unit="img", disable=args.json) as bar:
        kw = {
            "image_size": args.size,
            "device": device,
            "batch_size": args.batch_size,
            "progress": bar.update,
        }
        ref = reference_features(backbone, real, **kw)
        bar.update(len(real) - bar.n)  # cached: nothing was computed
        feats = file_features(backbone, fake, **kw)
    metric = FIDKID()
    metric.set_reference(ref)
    metric.update(feats)
    res = metric.compute()
    out = {
        "fid": float(res["fid"]),
        "real": args.real,
        "fake": args.fake,
        "n_real": len(real),
        "n_fake": len(fake),
        "backbone": backbone.name,
        "size": args.size,
    }
    if args.kid:
        out.update(kid=float(res["kid"]), kid_std=float(res["kid_std"]))
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"FID {out['fid']:.3f}"
            + (f"   KID {out['kid']:.5f} +- {out['kid_std']:.5f}" if args.kid else "")
            + f"   ({len(real)} real, {len(fake)} fake; {backbone.name})"
        )
    return EXIT_OK
