"""`cartoonlab cartoonize --ckpt RUN.ckpt INPUT OUTPUT`."""

from __future__ import annotations

import argparse
import sys

from cartoonlab.cli.args import int_at_least
from cartoonlab.cli.exits import EXIT_FAILED, EXIT_OK

HELP = "translate an image, a folder or a video with a trained generator (output at the input's own size)"


def register(parser: argparse.ArgumentParser) -> None:
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--weights",
        metavar="PTH",
        help="a released CartoonGAN style, e.g. Hayao_net_G_float.pth "
        "(the first author's PyTorch weights; see `cartoonlab.released`); use with --native "
        "--max-side 450 for the released script's scale",
    )
    model.add_argument(
        "--ckpt",
        "--ckpt_path",  # the spelling of `fit` / `test`
        dest="ckpt",
        help="a checkpoint written by `cartoonlab fit`, or a generator from `cartoonlab export` "
        "(.safetensors, .onnx; TorchScript .pt only with --trust-torchscript)",
    )
    parser.add_argument(
        "--trust-torchscript",
        action="store_true",
        help="allow a TorchScript .pt/.ts as --ckpt. A TorchScript file is a program: loading and "
        "running it executes its author's code (it can write any file you can). Only for files you "
        "made or trust; .safetensors and .onnx exports carry no code",
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="an image file, a folder of images, or a video "
        "(.mp4 .mov .mkv .avi .webm .m4v: frame rate and audio kept; needs PyAV)",
    )
    parser.add_argument("output", metavar="OUTPUT", help="output file (for one image or a video) or folder")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--size",
        type=int_at_least(8),
        default=None,
        metavar="PX",
        help="translate with the short side resized to PX (default: the size G was trained at, "
        "from the checkpoint); the output keeps the input's size",
    )
    scale.add_argument(
        "--native",
        action="store_true",
        help="translate at the input's native resolution (strokes come out smaller)",
    )
    parser.add_argument(
        "--tile",
        type=tile_arg,
        default="auto",
        metavar="PX",
        help="translate working images larger than PX x PX in overlapping tiles (bounded memory, "
        "blended seams); default auto: the largest tile free memory allows; 0: never tile",
    )
    parser.add_argument(
        "--overlap",
        type=int_at_least(0),
        default=None,
        metavar="PX",
        help="pixels shared by neighbouring tiles (default 64)",
    )
    parser.add_argument(
        "--max-side",
        type=int_at_least(8),
        default=None,
        metavar="PX",
        help="downscale inputs first so that their longer side is at most PX (faster; the "
        "output then has that size)",
    )
    parser.add_argument(
        "--batch",
        type=int_at_least(1),
        default=8,
        metavar="N",
        help="translate up to N consecutive images of one size together (default 8; outputs "
        "are the same, only faster)",
    )
    parser.add_argument(
        "--ext",
        default="png",
        type=lambda t: t.lower().lstrip("."),
        choices=["png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp"],
        help="output format of a folder's images (default png; one file: by OUTPUT's extension)",
    )
    parser.set_defaults(func=run)


def tile_arg(text: str) -> int | str | None:
    if text == "auto":
        return text
    value = int_at_least(0)(text)
    if value and value < 32:
        raise argparse.ArgumentTypeError(f"{text}: a tile must be at least 32 px (or 0: no tiling, or auto)")
    return value or None


def run(args: argparse.Namespace) -> int:
    import torch

    from cartoonlab import inference, video
    from cartoonlab.released import load_released

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    work_side = None if args.native else (args.size or "train")
    overlap = inference.OVERLAP if args.overlap is None else args.overlap
    # refused outputs (overwrite, collision, no images) raise ValueError: the CLI's error policy
    net = (
        load_released(args.weights)
        if args.weights
        else inference.load_generator(args.ckpt, trust_code=args.trust_torchscript)
    )
    if video.is_video(args.input):
        if args.max_side:
            raise ValueError("--max-side applies to images; a video keeps its frame size")
        n = inference.translate_video_path(
            net,
            args.input,
            args.output,
            device=device,
            work_side=work_side,
            tile=args.tile,
            overlap=overlap,
            show_progress=sys.stderr.isatty(),
        )
        print(f"wrote {n} frame(s) to {args.output}")
        return EXIT_OK if n else EXIT_FAILED
    done = inference.translate_path(
        net,
        args.input,
        args.output,
        device=device,
        work_side=work_side,
        tile=args.tile,
        max_side=args.max_side,
        overlap=overlap,
        show_progress=sys.stderr.isatty(),
        ext=f".{args.ext}",
        batch_size=args.batch,
    )
    for path, why in done.skipped.items():
        print(f"cartoonize: skipped {path}: {why}", file=sys.stderr)
    print(
        f"wrote {len(done.written)} image(s) to {args.output}"
        + (f"; skipped {len(done.skipped)} input(s) (unreadable or too large)" if done.skipped else "")
    )
    return EXIT_OK if done.written else EXIT_FAILED
