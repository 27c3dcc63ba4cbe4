"""The notebook runs top to bottom on a small, hand-made results folder."""

import csv
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from PIL import Image

from cartoonlab.ablation.report import write_csv

NB = Path(__file__).resolve().parents[2] / "notebooks" / "compare_runs.ipynb"


def make_results(results: Path) -> Path:
    """An ablation's results folder: ablation.csv (run_dir relative to where it ran, as the
    runner writes it), tables.md, a grid, and its runs' logs under runs/."""
    rows = []
    for cell, base in (("cyclegan", 100.0), ("cartoongan", 90.0)):
        for seed in (0, 1):
            run = results / "runs" / f"{cell}-s{seed}"
            (run / "samples").mkdir(parents=True)
            Image.new("RGB", (64, 32), (seed * 100, 50, 50)).save(run / "samples" / "epoch_0001.png")
            with open(run / "metrics.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["epoch", "step", "train/g_total", "train/d_adv"])
                w.writeheader()
                w.writerows(
                    {"epoch": 0, "step": s, "train/g_total": 5 - s / 10, "train/d_adv": 0.5} for s in range(5)
                )
            rows.append(
                {
                    "table": "T1",
                    "cell": cell,
                    "seed": seed,
                    "status": "finished",
                    "fid": base + seed,
                    "kid": 0.1,
                    "fid_photo": 50.0,
                    "kid_photo": 0.05,
                    "train_seconds": 10.0,
                    "images_per_second": 3.0,
                    "seconds_per_epoch": 5.0,
                    "epochs": 2,
                    "fid_backbone": "x",
                    "error": None,
                    "run_dir": f"somewhere/else/runs/{cell}-s{seed}",
                }
            )
    write_csv(rows, results / "ablation.csv")
    (results / "tables.md").write_text("# Ablation\n\n| cell | FID |\n|---|---|\n| cyclegan | 100.5 |\n")
    Image.new("RGB", (64, 64)).save(results / "T1_samples.png")
    return results


def execute(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit it with outputs stripped"
    )
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}
    ).execute()
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTOONLAB_RESULTS", str(make_results(tmp_path / "results")))
    monkeypatch.setenv("WANDB_MODE", "offline")
    text = execute(NB)
    assert "4 runs, 2 cells" in text
    assert "Welch p" in text and "W&B offline" in text
    assert "cartoongan - cyclegan: -10" in text, "the difference and its interval"


def test_a_fresh_clone_opens_on_the_committed_results(tmp_path, monkeypatch):
    """No results of one's own and no CARTOONLAB_RESULTS: the notebook reads docs/results/standard."""
    monkeypatch.delenv("CARTOONLAB_RESULTS", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    clone = tmp_path / "clone"
    make_results(clone / "docs" / "results" / "standard")
    (clone / "notebooks").mkdir()
    shutil.copy(NB, clone / "notebooks" / NB.name)
    text = execute(clone / "notebooks" / NB.name)
    assert f"4 runs, 2 cells from {clone / 'docs/results/standard'}" in text
