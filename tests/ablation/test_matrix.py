import subprocess
import sys
from pathlib import Path

import pytest

from cartoonlab.ablation.matrix import Matrix

EXP = Path(__file__).resolve().parents[2] / "experiments"
MATRIX = Matrix.load(EXP / "ablation.yaml", "quick")


def test_matrix_covers_the_source_tables():
    assert set(MATRIX.tables) >= {"T1", "T2", "T3", "T4", "T5", "T6"}
    t3 = MATRIX.tables["T3"]
    assert t3.baseline == "cartoongan" and len(t3.cells) == 6
    runs = MATRIX.runs(Path("out"))
    assert len(runs) == len({(r.cell, r.seed) for r in runs}), "shared cells run once"
    assert len(MATRIX.seeds) >= 2
    assert {r.cell for r in runs if len(r.tables) > 1} >= {"cyclegan", "cartoongan"}


def test_every_cell_has_a_hypothesis_and_a_small_delta():
    from cartoonlab.ablation.report import hypothesis

    for cell, spec in MATRIX.cells.items():
        assert hypothesis(MATRIX, cell), cell
        if spec.get("delta"):
            text = (EXP / spec["delta"]).read_text()
            assert text.startswith("# Hypothesis"), cell
            assert len(text.splitlines()) <= 12, f"{cell}: a delta, not a copy of a config"


def test_subsets_and_unknown_names():
    m = Matrix.load(EXP / "ablation.yaml", "quick", seeds=[5], cells=["cyclegan", "cyclegan_unet"])
    assert {r.name for r in m.runs(Path("o"))} == {"cyclegan-s5", "cyclegan_unet-s5"}
    assert set(m.tables) == {"T1", "T2", "T6"}
    with pytest.raises(ValueError, match="unknown cell"):
        Matrix.load(EXP / "ablation.yaml", "quick", cells=["nope"])
    with pytest.raises(ValueError, match="unknown profile"):
        Matrix.load(EXP / "ablation.yaml", "huge")


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_cell_config_parses(profile, tmp_path):
    """`cartoonlab fit ... --print_config` for every run of the profile (one process per cell)."""
    m = Matrix.load(EXP / "ablation.yaml", profile, seeds=[0])
    for run in m.runs(tmp_path, data=str(tmp_path) if profile == "paper" else None):
        proc = subprocess.run([*run.command(), "--print_config"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{run.cell}: {proc.stderr[-2000:]}"
        assert "class_path: cartoonlab.systems." in proc.stdout
        if profile == "quick":
            assert "image_size: 32" in proc.stdout, run.cell
        if run.cell == "cyclegan_unet":
            assert "UnetGenerator" in proc.stdout


def test_dry_run_prints_the_commands(tmp_path, capsys):
    from cartoonlab.cli import main

    with pytest.raises(SystemExit):
        main(["ablation", "run", "--dry-run", "--cells", "cyclegan", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("cartoonlab fit --config") == len(MATRIX.seeds)
    assert "--run.name=cyclegan-s0" in out and sys.executable not in out
