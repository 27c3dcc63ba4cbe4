import sys
from pathlib import Path

import pytest

from cartoonlab.ablation.matrix import Matrix, config_files

EXP = Path(__file__).resolve().parents[2] / "experiments"
MATRIX = Matrix.load(EXP / "ablation.yaml", "standard")  # every table


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
        for delta in config_files(spec.get("delta")):
            text = (EXP / delta).read_text()
            assert text.startswith("# Hypothesis"), cell
            assert len(text.splitlines()) <= 12, f"{cell}: a delta, not a copy of a config"


def test_quick_profile_runs_the_three_baselines_with_imagenet_content():
    quick = Matrix.load(EXP / "ablation.yaml", "quick")
    assert list(quick.tables) == ["T0"] and quick.cell_names() == ["cyclegan", "cartoongan", "improved_tuned"]
    assert len(quick.runs(Path("o"))) == 3 * len(quick.seeds)
    assert "stands in for VGG19 and ResNet-101" in quick.profile_spec["note"], "tables say what ran offline"


def test_subsets_and_unknown_names():
    m = Matrix.load(EXP / "ablation.yaml", "quick", seeds=[5], cells=["cyclegan", "cyclegan_unet"])
    assert {r.name for r in m.runs(Path("o"))} == {"cyclegan-s5", "cyclegan_unet-s5"}
    assert set(m.tables) == {"T0", "T1", "T2", "T6"}, "--cells picks from every table, not the profile's"
    with pytest.raises(ValueError, match="unknown cell"):
        Matrix.load(EXP / "ablation.yaml", "quick", cells=["nope"])
    with pytest.raises(ValueError, match="unknown profile"):
        Matrix.load(EXP / "ablation.yaml", "huge")


@pytest.mark.parametrize("profile", ["quick", "standard", "paper"])
def test_every_cell_config_parses(profile, tmp_path, capsys):
    """`cartoonlab fit ... --print_config` for every cell of the profile."""
    from cartoonlab.cli import main

    m = Matrix.load(EXP / "ablation.yaml", profile, seeds=[0])
    for run in m.runs(tmp_path, data=str(tmp_path) if profile == "paper" else None):
        code = main([*run.args, "--print_config"])
        out = capsys.readouterr().out
        assert code == 0, run.cell
        assert "class_path: cartoonlab.systems." in out, run.cell
        offline = profile != "paper"
        if offline:
            assert "image_size: 32" in out, run.cell
        if run.cell == "cyclegan_unet":
            assert "UnetGenerator" in out and "num_downs: " + ("5" if offline else "8") in out
        if "content_net" in out:  # never random weights in a profile a user runs
            assert "weights: null" not in out, run.cell
            assert ("arch: efficientnet_lite0" in out) == offline, run.cell
        if run.cell in ("cartoongan_resnet", "improved") and not offline:
            assert "arch: resnet101" in out


def test_dry_run_prints_the_commands(tmp_path, capsys):
    from cartoonlab.cli import main

    assert main(["ablation", "run", "--dry-run", "--cells", "cyclegan", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("cartoonlab fit --config") == len(Matrix.load(EXP / "ablation.yaml", "quick").seeds)
    assert "--run.name=cyclegan-s0" in out and sys.executable not in out


@pytest.mark.slow
def test_every_cell_trains_a_few_steps(tmp_path):
    """Every cell of the standard profile, one short epoch each (`make test-all`)."""
    import json

    from tests.cli.test_fit import run_ok

    m = Matrix.load(EXP / "ablation.yaml", "standard", seeds=[0])
    short = [
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--run.test_after_fit=false",
        "--run.wandb=disabled",
        "--data.synthetic_n=48",
    ]
    for run in m.runs(tmp_path):
        args = [*run.args, *short]
        if run.cell in ("cyclegan_init",):
            args.append("--model.init_args.init_epochs=0")
        run_ok(args)
        state = json.loads((run.dir / "metrics.json").read_text())
        assert state["status"] == "finished", run.cell


def test_cells_identical_under_a_profile_share_their_run():
    quick = {r.name: r for r in MATRIX.runs(Path("o"))}
    assert quick["velog-s0"].dir == quick["cyclegan-s0"].dir and quick["velog-s0"].same_as == "cyclegan"
    paper = {r.name: r for r in Matrix.load(EXP / "ablation.yaml", "paper").runs(Path("o"), data="d")}
    assert paper["velog-s0"].dir != paper["cyclegan-s0"].dir and paper["velog-s0"].same_as is None


def test_one_convention_for_many_values_and_any_folder(tmp_path, capsys, monkeypatch):
    """`--cells a b` (separate words, as `survey build --cells`), `--cells "a b"` and
    `--cells a,b` select the same runs, from any folder; `--profile`'s help lists the
    matrix's profiles; `--version` names the installed version."""
    import importlib.metadata

    import yaml

    from cartoonlab.cli import main

    monkeypatch.chdir(tmp_path)  # no experiments/ here: the checkout's matrix is used
    printed = []
    for cells in (["cyclegan", "cartoongan"], ["cyclegan cartoongan"], ["cyclegan,cartoongan"]):
        args = ["ablation", "run", "--dry-run", "--out", "o", "--seeds", "0", "1", "--cells", *cells]
        assert main(args) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] == printed[2] and printed[0].count("cartoonlab fit --config") == 4
    assert main(["ablation", "status", "--help"]) == 0
    profiles = yaml.safe_load((EXP / "ablation.yaml").read_text())["profiles"]
    assert ", ".join(profiles) in " ".join(capsys.readouterr().out.split())
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cartoonlab {importlib.metadata.version('cartoonlab')}"
