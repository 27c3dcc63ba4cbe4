from pathlib import Path

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.report import read_csv, tables_markdown, welch_p, write_csv

EXP = Path(__file__).resolve().parents[2] / "experiments"


def row(cell, seed, fid, status="finished", spe=10.0):
    return {"table": "T1", "cell": cell, "seed": seed, "status": status, "fid": fid,
            "kid": fid and fid / 1000, "fid_photo": fid and fid / 2, "kid_photo": 0.0, "train_seconds": 100.0, "images_per_second": 5.0,
            "seconds_per_epoch": spe, "epochs": 10, "fid_backbone": "x", "error": None, "run_dir": "r"}


def test_tables_from_a_hand_made_csv(tmp_path):
    m = Matrix.load(EXP / "ablation.yaml", "quick", tables=["T1"])
    rows = [row("cyclegan", 0, 100.0), row("cyclegan", 1, 102.0), row("cyclegan", 2, 101.0, spe=12),
            row("cartoongan", 0, 80.0, spe=6), row("cartoongan", 1, 81.0, spe=6), row("cartoongan", 2, 79.5, spe=6),
            row("cartoongan", 3, None, status="diverged")]
    write_csv(rows, tmp_path / "a.csv")
    back = read_csv(tmp_path / "a.csv")
    assert back[0]["fid"] == 100.0 and back[-1]["fid"] is None
    md = tables_markdown(m, back, identity={"fid": 300.0, "kid": 0.3})
    lines = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| `") or ln.startswith("| *")}
    assert "101.0 ± 1.0" in lines["`cyclegan`"] and "10.7 ± 1.2" in lines["`cyclegan`"]
    cartoon = lines["`cartoongan` (1 run(s) diverged)"]
    assert "80.2 ± 0.8" in cartoon and "-20.8\\*" in cartoon, "a large, consistent drop is marked"
    assert "100.3 / 80.96" in cartoon, "published number beside ours"
    assert "300.0" in lines["*identity (untranslated photos)*"]
    assert "Welch" in md


def test_welch_needs_two_seeds_and_flags_noise_as_noise():
    assert welch_p([1.0], [2.0, 3.0]) is None
    assert welch_p([100.0, 104.0], [101.0, 103.5]) > 0.5
    assert welch_p([80.0, 80.5, 79.9], [100.0, 100.4, 99.8]) < 0.01
