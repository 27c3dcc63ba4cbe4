"""Training throughput: images/s and peak memory per system x precision x channels_last x compile.

    .venv/bin/python benchmarks/train_throughput.py [--profile quick|paper] [--quick]
        [--systems cyclegan cartoongan improved] [--precisions 32-true bf16-mixed 16-mixed]
        [--epochs 3] [--batches 20] [--json out.json]

Every configuration is a real `cartoonlab fit` (a subprocess) built from the ablation
matrix's cell of that system under `--profile` (quick: 32 px, the CPU networks; paper:
256 px, the recipes' networks, for a GPU), so the figures include everything a run
does per batch: manual optimization of both optimizers, pools, the content network,
logging. The init phase and evaluation are switched off; the first epoch is a warm-up
(torch.compile compiles there) and is not counted. images/s = batches x batch size /
seconds of the counted epochs. Peak memory: the GPU's `max_memory_allocated` (from the
run's metrics.json) on CUDA, the process's maximum RSS on a CPU. Prints a table and
writes it as JSON. `--quick`: CartoonGAN and CycleGAN, fp32 vs bf16 and channels_last,
2 counted epochs of 10 batches (a few minutes on a CPU).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from cartoonlab.ablation.matrix import Matrix

ROOT = Path(__file__).resolve().parents[1]


def fit_args(
    profile: str,
    system: str,
    run_root: Path,
    name: str,
    batches: int,
    epochs: int,
    precision: str,
    channels_last: bool,
    compile_: bool,
    data: str | None,
) -> list[str]:
    matrix = Matrix.load(ROOT / "experiments" / "ablation.yaml", profile=profile, seeds=[0], cells=[system])
    (run,) = [r for r in matrix.runs(run_root, data=data) if r.cell == system]
    return [
        *run.args,
        f"--run.root={run_root}",
        f"--run.name={name}",
        "--run.wandb=disabled",
        "--run.test_after_fit=false",
        f"--trainer.max_epochs={epochs + 1}",
        f"--trainer.limit_train_batches={batches}",
        "--trainer.check_val_every_n_epoch=100000",
        "--eval.every_n_epochs=0",
        "--model.init_args.init_epochs=0",
        "--model.init_args.n_epochs=100000",
        "--model.init_args.n_epochs_decay=0",
        f"--trainer.precision={precision}",
        f"--model.init_args.channels_last={str(channels_last).lower()}",
        f"--model.init_args.compile={str(compile_).lower()}",
        "--trainer.enable_progress_bar=false",
    ]


def measure(args: list[str], run_dir: Path) -> dict:
    log = run_dir.parent / f"{run_dir.name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cartoonlab", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"},
        )
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        return {"error": " | ".join(tail)}
    with open(run_dir / "metrics.csv") as f:
        seconds = [float(r["train/epoch_seconds"]) for r in csv.DictReader(f) if r.get("train/epoch_seconds")]
    counted = seconds[1:]  # the first epoch warms up (and compiles)
    record = json.loads((run_dir / "metrics.json").read_text())
    per_batch, batches = record["train_images"] / record["batches"], record["batches"] / len(seconds)
    peak = record.get("peak_gpu_memory_mb") or usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux
    return {
        "images_per_second": round(per_batch * batches * len(counted) / sum(counted), 2),
        "warmup_seconds": round(seconds[0], 2),
        "peak_memory_mb": round(peak, 1),
        "memory": "gpu allocated" if record.get("peak_gpu_memory_mb") else "process RSS",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="paper" if torch.cuda.is_available() else "quick")
    ap.add_argument("--data", default=None, help="a CycleGAN-layout folder (default: the profile's data)")
    ap.add_argument("--systems", nargs="+", default=["cyclegan", "cartoongan", "improved"])
    ap.add_argument(
        "--precisions",
        nargs="+",
        default=["32-true", "16-mixed", "bf16-mixed"]
        if torch.cuda.is_available()
        else ["32-true", "bf16-mixed"],
    )
    ap.add_argument("--channels-last", nargs="+", type=int, default=[0, 1], help="0 and/or 1")
    ap.add_argument("--compile", nargs="+", type=int, default=[0, 1], help="0 and/or 1")
    ap.add_argument("--epochs", type=int, default=3, help="counted epochs (after one warm-up epoch)")
    ap.add_argument("--batches", type=int, default=20, help="batches per epoch")
    ap.add_argument("--quick", action="store_true", help="a CI-sized subset (see above)")
    ap.add_argument("--json", default="train_throughput.json")
    args = ap.parse_args()
    if args.quick:
        args.systems, args.compile, args.epochs, args.batches = ["cyclegan", "cartoongan"], [0], 2, 10
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (system, precision, cl, comp) in enumerate(
            itertools.product(args.systems, args.precisions, args.channels_last, args.compile)
        ):
            name = f"b{i}"
            fa = fit_args(
                args.profile,
                system,
                Path(tmp),
                name,
                args.batches,
                args.epochs,
                precision,
                bool(cl),
                bool(comp),
                args.data,
            )
            row = {
                "system": system,
                "precision": precision,
                "channels_last": bool(cl),
                "compile": bool(comp),
                **measure(fa, Path(tmp) / name),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    base = {
        r["system"]: r.get("images_per_second")
        for r in rows
        if r["precision"] == "32-true" and not r["channels_last"] and not r["compile"]
    }
    print(f"\n{device}, profile {args.profile}, {args.batches} batches x {args.epochs} counted epochs\n")
    print("| system | precision | channels_last | compile | images/s | x fp32 eager | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ips, b = r.get("images_per_second"), base.get(r["system"])
        speedup = f"{ips / b:.2f}" if ips and b else "-"
        print(
            f"| {r['system']} | {r['precision']} | {r['channels_last']} | {r['compile']} | "
            f"{ips if ips else r.get('error')} | {speedup} | {r.get('peak_memory_mb', '-')} |"
        )
    Path(args.json).write_text(
        json.dumps({"device": device, "profile": args.profile, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
