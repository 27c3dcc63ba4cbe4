"""`cartoonlab cartoonize --ckpt RUN.ckpt INPUT OUTPUT`."""

from __future__ import annotations

import argparse

HELP = "translate an image or a folder with a trained generator, at the input's own size"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="a checkpoint written by `cartoonlab fit`")
    parser.add_argument("input", metavar="INPUT", help="an image file or a folder of images")
    parser.add_argument("output", metavar="OUTPUT", help="output file (for one image) or folder")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cartoonlab.inference import load_generator, translate_path

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    outputs = translate_path(load_generator(args.ckpt), args.input, args.output, device=device)
    print(f"wrote {len(outputs)} image(s) to {args.output}")
    return 0
