from pathlib import Path

import pytest

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.report import machine_label, read_csv, tables_markdown, write_csv

EXP = Path(__file__).resolve().parents[2] / "experiments"


def row(cell, seed, fid, status="finished", spe=10.0):
    return {
        "table": "T1",
        "cell": cell,
        "seed": seed,
        "status": status,
        "fid": fid,
        "kid": fid and fid / 1000,
        "fid_photo": fid and fid / 2,
        "kid_photo": 0.0,
        "ssim_photo": 0.5,
        "perc_photo": 0.2,
        "l1_truth": fid and fid / 1000,
        "ssim_truth": fid and 1 - fid / 1000,
        "best_val_fid": fid and fid - 5,
        "best_val_epoch": 8,
        "train_seconds": 100.0,
        "images_per_second": 5.0,
        "seconds_per_epoch": spe,
        "epochs": 10,
        "fid_backbone": "x",
        "error": None,
        "run_dir": "r",
    }


def test_tables_from_a_hand_made_csv(tmp_path):
    m = Matrix.load(EXP / "ablation.yaml", "quick", tables=["T1"])
    rows = [
        row("cyclegan", 0, 100.0),
        row("cyclegan", 1, 102.0),
        row("cyclegan", 2, 101.0, spe=12),
        row("cartoongan", 0, 80.0, spe=6),
        row("cartoongan", 1, 81.0, spe=6),
        row("cartoongan", 2, 79.5, spe=6),
        row("cartoongan", 3, None, status="diverged"),
    ]
    write_csv(rows, tmp_path / "a.csv")
    back = read_csv(tmp_path / "a.csv")
    assert back[0]["fid"] == 100.0 and back[-1]["fid"] is None
    identity = {
        "fid_cartoon": 300.0,
        "kid_cartoon": 0.3,
        "ssim_photo": 1.0,
        "perc_photo": 0.0,
        "l1_truth": 0.25,
    }
    truth = {"fid_cartoon": 0.0, "kid_cartoon": 0.0, "l1_truth": 0.0, "ssim_truth": 1.0}
    md = tables_markdown(m, back, identity=identity, truth=truth)
    lines = {
        ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| `") or ln.startswith("| *")
    }
    assert "101.0 ± 1.0" in lines["`cyclegan`"] and "10.7 ± 1.2" in lines["`cyclegan`"]
    assert "| baseline |" in lines["`cyclegan`"]
    cartoon = lines["`cartoongan` (1 run(s) diverged)"]
    assert "80.2 ± 0.8 (0.27 ± 0.00)" in cartoon, "FID and its multiple of the identity row's"
    assert "-20.8\\* [" in cartoon and "style **better** (FID, KID)" in cartoon, "a large, consistent drop"
    assert "100.3 / 80.96" in cartoon, "published number beside ours"
    ident = lines["*identity (untranslated photos)*"]
    assert "300.0 (1.00)" in ident and "250.0" in ident, "FID, and L1 x 1e3"
    assert "0.0 (0.00)" in lines["*ground truth (true cartoons)*"], "the reachable end of the range"
    assert "80.2 ± 0.8" in lines["`cartoongan` (1 run(s) diverged)"]
    assert "75.2 ± 0.8 (8)" in cartoon, "best validation FID and its epoch"
    assert "Holm" in md and "embedded synthetic dataset" in md
    assert "Data: /my/photos." in tables_markdown(m, back, identity=identity, data="/my/photos")
    assert "Ran on" not in md, "rows without a machine (records older than the field) say nothing"


def test_noise_between_seeds_is_called_not_separable_with_what_could_be_detected(tmp_path):
    m = Matrix.load(EXP / "ablation.yaml", "quick", tables=["T1"])
    rows = [row("cyclegan", s, f) for s, f in enumerate((100.0, 104.0, 98.0))]
    rows += [row("cartoongan", s, f) for s, f in enumerate((101.0, 97.0, 103.5))]
    md = tables_markdown(m, rows)
    cartoon = next(ln for ln in md.splitlines() if ln.startswith("| `cartoongan`"))
    assert "style not separable (detectable: FID " in cartoon and "\\*" not in cartoon


def test_content_effects_pair_the_runs_per_test_image(tmp_path):
    import numpy as np

    from cartoonlab.ablation.effects import table_effects

    rng = np.random.default_rng(0)
    hard = rng.uniform(0.05, 0.3, size=200)  # per-image difficulty, far above the effect
    rows = []
    for cell, shift in (("cyclegan", 0.0), ("cartoongan", -0.004)):
        for seed in range(3):
            d = tmp_path / f"{cell}-s{seed}"
            d.mkdir()
            l1 = hard + shift + rng.normal(0, 0.001, size=200)
            lines = ["image,l1_truth,ssim_truth"] + [f"{i:05d}.png,{v},{1 - v}" for i, v in enumerate(l1)]
            (d / "test_images.csv").write_text("\n".join(lines) + "\n")
            rows.append({**row(cell, seed, 100.0 + seed), "run_dir": str(d), "l1_truth": float(l1.mean())})
    e = table_effects(rows, ["cyclegan", "cartoongan"], "cyclegan")["cartoongan"]
    assert e["l1_truth"].diff == pytest.approx(-0.004, abs=5e-4) and e["l1_truth"].shown()
    assert e["ssim_truth"].diff == pytest.approx(0.004, abs=5e-4) and e["ssim_truth"].shown()
    assert not e["fid"].shown(), "the same FIDs: nothing"
    assert all(x.p_holm >= x.p for x in e.values()), "Holm over the table's comparisons"


def test_an_untestable_cell_is_a_row_that_says_why_and_no_run(tmp_path):
    m = Matrix.load(EXP / "ablation.yaml", "standard", tables=["T3"])
    assert "cartoongan_resnet" not in {r.cell for r in m.runs(tmp_path)}
    md = tables_markdown(m, [row("cartoongan", 0, 100.0)])
    line = next(ln for ln in md.splitlines() if ln.startswith("| `cartoongan_resnet`"))
    head = next(ln for ln in md.splitlines() if ln.startswith("| cell |"))
    assert "not run: not testable offline" in line and line.count("|") == head.count("|")


def test_results_folder_prefers_local_results_then_the_committed_ones(tmp_path):
    from cartoonlab.ablation.report import results_folder

    with pytest.raises(FileNotFoundError, match="run `make ablation`"):
        results_folder(tmp_path)
    for rel in ("docs/results/standard", "results/quick"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "ablation.csv").write_text("table,cell\n")
    assert results_folder(tmp_path) == tmp_path / "results/quick"
    (tmp_path / "results/quick/ablation.csv").unlink()
    assert results_folder(tmp_path) == tmp_path / "docs/results/standard", "a fresh clone's"
    assert results_folder(tmp_path, "/else") == Path("/else")


def test_the_tables_say_which_machines_ran_the_runs(tmp_path):
    m = Matrix.load(EXP / "ablation.yaml", "quick", tables=["T1"])
    epyc = machine_label({"cpu": "AMD EPYC", "cpu_capability": "AVX512", "threads": 1, "torch": "2.9.0"})
    h100 = machine_label({"cpu": "Xeon", "gpus": ["NVIDIA H100"], "torch": "2.9.0"})
    assert (epyc, h100) == ("AMD EPYC, AVX512, 1 thread(s), torch 2.9.0", "NVIDIA H100, torch 2.9.0")
    rows = [
        {**row("cyclegan", 0, 100.0), "run_dir": "a", "machine": epyc},
        {**row("cyclegan", 1, 102.0), "run_dir": "b", "machine": epyc},
        {**row("cartoongan", 0, 80.0), "run_dir": "c", "machine": h100},
    ]
    write_csv(rows, tmp_path / "a.csv")
    back = read_csv(tmp_path / "a.csv")
    assert [r["machine"] for r in back] == [epyc, epyc, h100]
    md = tables_markdown(m, back)
    assert f"Ran on: {epyc} (2 run(s)); {h100} (1 run(s))." in md
    assert "runs come from 2 kinds of machine" in md, "a table mixing machines says so"
    assert "kinds of machine" not in tables_markdown(m, back[:2]), "one machine: nothing to say"


def test_sample_grids_show_the_checkpoint_the_table_scores(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from cartoonlab import inference
    from cartoonlab.ablation.report import sample_grids

    loaded = []
    monkeypatch.setattr(
        inference, "load_generator", lambda p: loaded.append(p.name) or SimpleNamespace(work_side=None)
    )
    monkeypatch.setattr(inference, "translate_at", lambda net, x, side: x)
    runs = []
    for cell, names in (("with_best", ("best.ckpt", "last.ckpt")), ("last_only", ("last.ckpt",))):
        d = tmp_path / cell
        (d / "checkpoints").mkdir(parents=True)
        for name in names:
            (d / "checkpoints" / name).write_bytes(b"")
        (d / "metrics.json").write_text('{"status": "finished", "metrics": {"test/fid_cartoon": 1.0}}')
        runs.append(SimpleNamespace(cell=cell, dir=d))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "p.png")
    sample_grids(SimpleNamespace(tables={}), runs, [tmp_path / "p.png"], 16, tmp_path)
    assert loaded == ["best.ckpt", "last.ckpt"], "best validation checkpoint where there is one"


def test_committed_runs_without_weights_give_their_row_from_the_test_grid(tmp_path):
    import numpy as np
    import torch
    import torchvision

    from cartoonlab.ablation.report import test_grid_row
    from cartoonlab.data.folders import load_rgb, write_image
    from cartoonlab.data.transforms import to_uint8_hwc

    g = torch.Generator().manual_seed(0)
    photos, fakes, truths = (torch.rand(8, 3, 32, 32, generator=g) * 2 - 1 for _ in range(3))
    # as SampleGrid writes samples/test.png
    grid = torchvision.utils.make_grid(torch.cat([photos, fakes, truths]), nrow=8, pad_value=-1)
    write_image(tmp_path / "test.png", to_uint8_hwc(grid))
    row_ = test_grid_row(tmp_path / "test.png", 8, 32)
    assert np.array_equal(row_, to_uint8_hwc(fakes)), "exactly the translations, tile by tile"
    with pytest.raises(ValueError, match="not a grid of 9"):
        test_grid_row(tmp_path / "test.png", 9, 32)
    # SampleGrid's own grid, enlarged 4x for viewing (`samples.zoom`): the same tiles back
    from types import SimpleNamespace

    from cartoonlab.callbacks import SampleGrid

    trainer = SimpleNamespace(log_dir=str(tmp_path / "z"), is_global_zero=True, loggers=[])
    batch = {"photo": photos, "truth": truths}
    SampleGrid(n=8, zoom=4)._write(trainer, {"fake": fakes}, batch, 0, 0, "test.png", "test/samples")
    assert load_rgb(tmp_path / "z" / "samples" / "test.png").shape == (4 * 104, 4 * 274, 3)
    assert np.array_equal(test_grid_row(tmp_path / "z" / "samples" / "test.png", 8, 32), row_)
    with pytest.raises(ValueError, match="samples.zoom"):
        SampleGrid(zoom=0)


def test_noise_summary_measures_the_test_split_and_the_seeds(tmp_path):
    import numpy as np

    from cartoonlab.ablation.effects import noise_summary

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(60, 8)).astype(np.float32)
    rows = []
    for seed, fid in enumerate((100.0, 104.0, 96.0)):
        d = tmp_path / f"cyclegan-s{seed}"
        d.mkdir()
        np.save(d / "test_features.npy", reference)  # the reference itself: FID 0 on every resample
        rows.append({**row("cyclegan", seed, fid), "run_dir": str(d)})
    rows += [{**r, "cell": "velog"} for r in rows]  # a reused run (same folder) counts once
    out = noise_summary(rows, ["cyclegan"], reference, min_images=50)
    assert "resampled" not in str(noise_summary(rows, ["cyclegan"], reference)), "too few images"
    assert out["FID SD over resampled test splits (same checkpoint)"].startswith("0.0 (3 runs")
    assert out["FID SD between seeds (pooled over cells)"] == "4.0 (1 cells)"
