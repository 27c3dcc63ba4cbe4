"""`cartoonlab export --ckpt RUN.ckpt|--weights STYLE.pth --format torchscript|onnx|safetensors OUT`."""

from __future__ import annotations

import argparse

from cartoonlab.cli.exits import EXIT_OK

FORMATS = ("torchscript", "onnx", "safetensors")  # export.FORMATS' keys (without importing torch here)
HELP = "write a checkpoint's generator as TorchScript, ONNX or safetensors (cartoonize reads all three)"


def register(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--ckpt",
        "--ckpt_path",
        dest="ckpt",
        help="a checkpoint written by `cartoonlab fit` (--ckpt_path: the same)",
    )
    source.add_argument(
        "--weights",
        metavar="PTH",
        help="a released CartoonGAN style (Hayao_net_G_float.pth ...; "
        "see `cartoonlab.released`), converted first",
    )
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="torchscript and onnx take RGB in [0, 1] of any size (normalization inside); "
        "safetensors holds the weights and the generator spec",
    )
    parser.add_argument("output", metavar="OUT", help="the file to write (or a folder)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cartoonlab.export import export

    print(f"wrote {export(args.ckpt or args.weights, args.format, args.output, released=bool(args.weights))}")
    return EXIT_OK
