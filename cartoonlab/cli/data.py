"""`cartoonlab data synth|smooth|check`."""

from __future__ import annotations

import argparse
import json
import sys
import time

from cartoonlab.cli.args import folder_path, int_at_least, positive_int
from cartoonlab.cli.exits import EXIT_FAILED, EXIT_OK

HELP = "make the synthetic dataset, precompute edge-smoothed cartoons, check image folders"


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser(
        "synth",
        help="write the embedded synthetic photo/cartoon dataset (CycleGAN layout)",
        description="Write trainA/ (photos), trainB/ (cartoons), testA/, testB/ under OUT. "
        "Deterministic for a seed.",
    )
    p.add_argument("out", metavar="OUT", type=folder_path)
    p.add_argument("--n", type=positive_int, default=1000, help="training images per domain (default 1000)")
    p.add_argument("--size", type=int_at_least(8), default=128, help="image side in pixels (default 128)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument(
        "--n-test", type=positive_int, default=None, help="test images per domain (default max(8, n/10))"
    )
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=synth)

    p = sub.add_parser(
        "smooth",
        help="edge-promote a cartoon folder (CartoonGAN), cached and parallel",
        description="Write the edge-smoothed twin of every image in SRC to DST (mirrored "
        "names, PNG). Files whose content and parameters are unchanged are reused.",
    )
    p.add_argument("src", metavar="SRC", type=folder_path)
    p.add_argument("dst", metavar="DST", type=folder_path)
    p.add_argument(
        "--mode",
        choices=["edge", "blur"],
        default="edge",
        help="edge: CartoonGAN edge promoting (default); blur: whole-image Gaussian (post 001)",
    )
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=smooth)

    p = sub.add_parser(
        "check",
        help="report unreadable, unusual and duplicate image files",
        description="Report unreadable/truncated files, non-images, grayscale/alpha/"
        "palette/CMYK/16-bit/float images, EXIF-rotated images, images smaller than the crop "
        "and exact duplicates. Exit status is 0 unless --strict and a problem was found.",
    )
    p.add_argument("dir", metavar="DIR")
    p.add_argument(
        "--min-size", type=positive_int, default=256, help="crop size to compare against (default 256)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any problem is found")
    p.set_defaults(func=check)


def synth(args: argparse.Namespace) -> int:
    from cartoonlab.data.synthetic import write_dataset

    t0 = time.perf_counter()
    out = write_dataset(
        args.out, n=args.n, size=args.size, seed=args.seed, n_test=args.n_test, workers=args.workers
    )
    print(
        f"wrote synthetic dataset to {out} ({args.n} train images per domain, {args.size}px) "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    return EXIT_OK


def smooth(args: argparse.Namespace) -> int:
    from cartoonlab.data.edges import EdgeParams
    from cartoonlab.data.smoothing import smooth_folder

    t0 = time.perf_counter()
    stats = smooth_folder(args.src, args.dst, EdgeParams(mode=args.mode), workers=args.workers)
    if stats.manifest_ignored:
        print(f"ignored {stats.manifest_ignored}: every image smoothed again", file=sys.stderr)
    print(
        f"smoothed {stats.written}, reused {stats.reused}, failed {len(stats.failed)} "
        f"in {time.perf_counter() - t0:.1f}s -> {args.dst}"
    )
    for rel, err in stats.failed.items():
        print(f"  failed: {rel}: {err}", file=sys.stderr)
    return EXIT_FAILED if stats.failed else EXIT_OK  # a failed file is not a smoothed folder


def check(args: argparse.Namespace) -> int:
    from cartoonlab.data.folders import check_folder

    report = check_folder(args.dir, min_size=args.min_size)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{args.dir}: {report.total} files")
        for kind, items in report.as_dict()["problems"].items():
            print(f"  {kind}: {len(items)} ({report.HOW[kind]})")
            for item in items[:10]:
                print(f"    {item}")
            if len(items) > 10:
                print(f"    ... and {len(items) - 10} more (use --json for all)")
        if not report.as_dict()["problems"]:
            print("  no problems found")
        else:
            print(f"  {report.n_fatal} of {report.total} files unusable (skipped); the rest are usable")
    return EXIT_FAILED if args.strict and report.as_dict()["problems"] else EXIT_OK
