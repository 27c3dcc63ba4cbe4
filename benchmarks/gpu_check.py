"""The first-GPU check: one command, at most 8 minutes on one GPU, everything that matters.

    python benchmarks/gpu_check.py [--out DIR] [--batches 20] [--budget-s 450]
    make gpu-check

1. Training at the paper profile's 256 px with the recipes' networks, for `cyclegan` and
   `cartoongan` (its VGG19 with random weights when the ImageNet file is absent: the same
   cost), each in fp32, `16-mixed` and `bf16-mixed`, eager and `channels_last`, and once
   with `torch.compile` (fp32) when the budget allows: images/s, peak GPU memory, whether
   every logged loss is finite, and whether `16-mixed` stays within tolerance of fp32 over
   the same batches (same seed and data: first batch within 1 %, the mean over the
   batches within 10 %: GAN losses drift apart as any two numerics do).
2. FID and KID computed on the GPU against the CPU on the same features (agreement within
   0.1 %), and the Inception feature throughput in images/s. Without the FID Inception
   weights (`cartoonlab.metrics.load_backbone`) a random-weight InceptionV3 of torchvision
   stands in: the numerics and the speed are the same, the FID values are not comparable
   with real ones (said in the output).
3. The CUDA-only tests (`pytest -m cuda`; on a CPU they skip and say why).

Writes `gpu_check.json` and `gpu_check.md` (a section ready to paste into BENCHMARKS.md)
into `--out` (default `$OUT` when set, else `gpu_check/`). Each part stops adding
configurations when the budget is spent and says what it left out.

Packages the GPU machine may lack travel as wheels: `benchmarks/gpu_wheels.sh` downloads
them into `.whl/` (about 30 MB; see BENCHMARKS.md, "Running the GPU check").
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import fit_args, measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
FIRST_TOL, MEAN_TOL, FID_TOL = 0.01, 0.10, 1e-3


def environment() -> dict:
    import lightning

    props = torch.cuda.get_device_properties(0)
    return {
        "device": torch.cuda.get_device_name(0),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
        "memory_gb": round(props.total_memory / 2**30, 1),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "lightning": lightning.__version__,
    }


def _losses(run_dir: Path) -> dict[str, list[float]]:
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in rows[0] if k.startswith("train/") and ("_d" in k or "_g" in k or "loss" in k)]
    keys = [k for k in keys if not k.startswith(("train/lr", "train/epoch", "train/images"))]
    return {k: [float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in keys}


def check_args(
    system: str, root: Path, name: str, batches: int, precision: str, channels_last: bool, compile_: bool
) -> tuple[list[str], str]:
    """`cartoonlab fit` arguments of one configuration: the paper profile's cell, on the
    synthetic benchmark rendered at 256 px, losses logged every batch, no pool (so the
    precisions see the same batches); and what the content network's weights are."""
    from cartoonlab.metrics.backbone import torch_hub_checkpoints

    args = fit_args("paper", system, root, name, batches, 1, precision, channels_last, compile_, None)
    args += ["--data.root=null", "--data.synthetic_size=256", "--data.synthetic_n=256"]
    args += ["--trainer.log_every_n_steps=1", "--model.init_args.pool_size=0"]
    weights = "-"
    if system == "cartoongan":
        weights = "ImageNet"
        if not (torch_hub_checkpoints() / "vgg19-dcbb9e9d.pth").is_file():
            delta = root / "random_content.yaml"  # `weights=null` on the command line reads as a string
            delta.write_text("model: {init_args: {content_net: {init_args: {weights: null}}}}\n")
            args += ["--config", str(delta)]
            weights = "random (the VGG19 file is absent: the same cost)"
    return args, weights


def training(tmp: Path, batches: int, deadline: float) -> list[dict]:
    rows = []
    configs = [
        (s, p, cl, False) for s in ("cyclegan", "cartoongan") for p in PRECISIONS for cl in (False, True)
    ]
    configs += [("cyclegan", "32-true", False, True), ("cartoongan", "32-true", False, True)]
    for i, (system, precision, cl, comp) in enumerate(configs):
        row = {"system": system, "precision": precision, "channels_last": cl, "compile": comp}
        if time.monotonic() > deadline:
            rows.append({**row, "skipped": "budget spent"})
            continue
        name = f"r{i}"
        args, row["content_weights"] = check_args(system, tmp, name, batches, precision, cl, comp)
        result = measure(args, tmp / name)
        row.update(result)
        if "error" not in result:
            losses = _losses(tmp / name)
            row["losses_finite"] = all(math.isfinite(v) for vs in losses.values() for v in vs)
            row["_losses"] = losses
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "_losses"}), flush=True)
    for row in rows:  # 16-mixed against fp32, same system and layout, eager
        if row.get("precision") != "16-mixed" or "_losses" not in row:
            continue
        ref = next(
            (
                r
                for r in rows
                if r["system"] == row["system"]
                and r["precision"] == "32-true"
                and r["channels_last"] == row["channels_last"]
                and not r["compile"]
                and "_losses" in r
            ),
            None,
        )
        if ref is None:
            continue
        first, mean = {}, {}
        for k, vs in row["_losses"].items():
            base = ref["_losses"].get(k, [])
            n = min(len(vs), len(base))
            if n:
                first[k] = abs(vs[0] - base[0]) / max(abs(base[0]), 1e-6)
                mean[k] = abs(sum(vs[:n]) - sum(base[:n])) / max(abs(sum(base[:n])), 1e-6)
        row["fp16_vs_fp32"] = {
            "first_batch_max_rel": round(max(first.values(), default=math.nan), 4),
            "mean_max_rel": round(max(mean.values(), default=math.nan), 4),
            "within_tolerance": bool(first)
            and max(first.values()) <= FIRST_TOL
            and max(mean.values()) <= MEAN_TOL,
        }
    for row in rows:
        row.pop("_losses", None)
    return rows


def _backbone():
    from cartoonlab.metrics import load_backbone

    try:
        return load_backbone(), "the FID Inception network"
    except Exception as err:  # noqa: BLE001 - absent weights: a stand-in of the same kind
        import torchvision

        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
        net.fc = torch.nn.Identity()
        return net.eval(), f"random-weight torchvision InceptionV3 (FID network absent: {str(err)[:80]})"


def fid_agreement(n: int = 512) -> dict:
    from cartoonlab.metrics import FIDKID

    net, which = _backbone()
    gen = torch.Generator().manual_seed(0)
    images = (torch.rand(n, 3, 256, 256, generator=gen) * 255).to(torch.uint8)
    feats = {}
    for dev in ("cpu", "cuda"):
        model = net.to(dev)
        with torch.no_grad():
            feats[dev] = torch.cat(
                [model(images[i : i + 64].to(dev)).double().cpu() for i in range(0, n, 64)]
            )
    scores = {}
    for dev in ("cpu", "cuda"):
        m = FIDKID(kid_subset_size=n // 4).to(dev)
        m.set_reference(feats["cpu"][: n // 2].float().to(dev))
        m.update(feats[dev][n // 2 :].float().to(dev))
        out = m.compute()
        scores[dev] = {"fid": float(out["fid"]), "kid": float(out["kid"])}
    rel = {
        k: abs(scores["cuda"][k] - scores["cpu"][k]) / max(abs(scores["cpu"][k]), 1e-12)
        for k in ("fid", "kid")
    }
    model = net.to("cuda")
    batch = images[:64].cuda()
    with torch.no_grad():
        model(batch)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            model(batch)
        torch.cuda.synchronize()
    return {
        "backbone": which,
        "scores": scores,
        "relative_difference": {k: round(v, 6) for k, v in rel.items()},
        "feature_max_abs_difference": float((feats["cpu"] - feats["cuda"]).abs().max()),
        "within_tolerance": all(v <= FID_TOL for v in rel.values()),
        "inception_images_per_second": round(5 * 64 / (time.perf_counter() - t0), 1),
    }


def cuda_tests(timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=max(30, timeout),
    )
    lines = proc.stdout.strip().splitlines()
    return {"exit_code": proc.returncode, "summary": lines[-1] if lines else proc.stderr[-300:]}


def markdown(report: dict) -> str:
    env = report["environment"]
    out = [
        f"## First GPU check: {env['device']} ({report['date']})",
        "",
        f"`python benchmarks/gpu_check.py`: torch {env['torch']} (CUDA {env['cuda']}), Lightning "
        f"{env['lightning']}, compute capability {env['capability']}, {env['memory_gb']} GB; paper profile, "
        f"256 px, {report['batches']} batches after a warm-up epoch, {report['seconds']:.0f} s in all.",
        "",
        "| system | precision | channels_last | compile | images/s | peak GPU memory (MB) "
        "| losses finite | 16-mixed vs fp32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["training"]:
        cmp = r.get("fp16_vs_fp32")
        cmp_text = (
            f"first batch {cmp['first_batch_max_rel']:.2%}, mean {cmp['mean_max_rel']:.2%}"
            f" ({'ok' if cmp['within_tolerance'] else 'OUT of tolerance'})"
            if cmp
            else "-"
        )
        speed = r.get("images_per_second", r.get("error", r.get("skipped", "-")))
        out.append(
            f"| {r['system']} | {r['precision']} | {r['channels_last']} | {r['compile']} | {speed} | "
            f"{r.get('peak_memory_mb', '-')} | {r.get('losses_finite', '-')} | {cmp_text} |"
        )
    fid = report["fid"]
    out += [
        "",
        f"FID/KID, GPU against CPU on the same features ({fid['backbone']}): relative difference FID "
        f"{fid['relative_difference']['fid']:.2e}, KID {fid['relative_difference']['kid']:.2e} "
        f"({'within' if fid['within_tolerance'] else 'OUTSIDE'} {FID_TOL:.1%}); features differ by at most "
        f"{fid['feature_max_abs_difference']:.2e}; Inception throughput "
        f"{fid['inception_images_per_second']} images/s (batch 64, fp32).",
        "",
        f"CUDA-only tests (`pytest -m cuda`): {report['cuda_tests']['summary']}.",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu_check")
    ap.add_argument("--batches", type=int, default=20, help="counted batches per configuration")
    ap.add_argument("--budget-s", type=float, default=450, help="stop adding configurations after this")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; this script is for the GPU machine")
    start = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"date": time.strftime("%Y-%m-%d"), "batches": args.batches, "environment": environment()}
    print(json.dumps(report["environment"]), flush=True)
    report["fid"] = fid_agreement()
    print(json.dumps(report["fid"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        report["training"] = training(Path(tmp), args.batches, start + args.budget_s - 60)
    report["cuda_tests"] = cuda_tests(start + args.budget_s + 30 - time.monotonic())
    report["seconds"] = round(time.monotonic() - start, 1)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
