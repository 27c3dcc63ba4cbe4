from pathlib import Path

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.report import machine_label, read_csv, tables_markdown, welch_p, write_csv

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
    md = tables_markdown(m, back, identity=identity)
    lines = {
        ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| `") or ln.startswith("| *")
    }
    assert "101.0 ± 1.0" in lines["`cyclegan`"] and "10.7 ± 1.2" in lines["`cyclegan`"]
    cartoon = lines["`cartoongan` (1 run(s) diverged)"]
    assert "80.2 ± 0.8" in cartoon and "-20.8\\*" in cartoon, "a large, consistent drop is marked"
    assert "100.3 / 80.96" in cartoon, "published number beside ours"
    ident = lines["*identity (untranslated photos)*"]
    assert "300.0" in ident and "0.250" in ident and "1.000" in ident
    assert "0.27 ± 0.00" in cartoon, "FID as a multiple of the identity row's"
    assert "0.080 ± 0.001" in cartoon, "L1 to the true cartoons on paired data"
    assert "75.2 ± 0.8 (8)" in cartoon, "best validation FID and its epoch"
    assert "Welch" in md and "embedded synthetic dataset" in md
    assert "Data: /my/photos." in tables_markdown(m, back, identity=identity, data="/my/photos")
    assert "Ran on" not in md, "rows without a machine (records older than the field) say nothing"


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
    assert f"Ran on: {epyc} (2 run(s)); {h100} (1 run(s))." in tables_markdown(m, back)


def test_welch_needs_two_seeds_and_flags_noise_as_noise():
    assert welch_p([1.0], [2.0, 3.0]) is None
    assert welch_p([100.0, 104.0], [101.0, 103.5]) > 0.5
    assert welch_p([80.0, 80.5, 79.9], [100.0, 100.4, 99.8]) < 0.01


def test_sample_grids_show_the_checkpoint_the_table_scores(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from cartoonlab import inference
    from cartoonlab.ablation.report import sample_grids

    loaded = []
    monkeypatch.setattr(
        inference, "load_generator", lambda p: loaded.append(p.name) or SimpleNamespace(train_size=None)
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
