"""Every cell of every table is a fair ablation under every profile: its resolved config
(`--print_config`) differs from its table's baseline only in what its hypothesis names,
and a cell that would be a copy of its baseline is declared untestable, not run."""

from pathlib import Path

import pytest
import yaml

from cartoonlab.ablation.fairness import audit, resolved_config, unexplained
from cartoonlab.ablation.matrix import Matrix

EXP = Path(__file__).resolve().parents[2] / "experiments"
ALL_TABLES = ["T0", "T1", "T2", "T3", "T4", "T5", "T6"]


def data_for(profile: str) -> str | None:
    return None if profile in ("quick", "standard") else "/data/selfie2anime"


@pytest.mark.parametrize("profile", ["quick", "standard", "real", "paper"])
def test_every_cell_differs_from_its_baseline_only_by_its_hypothesis(profile, tmp_path):
    matrix = Matrix.load(EXP / "ablation.yaml", profile=profile, tables=ALL_TABLES, seeds=[0])
    problems = audit(matrix, tmp_path, data_for(profile)).problems(matrix)
    assert not problems, "\n".join(problems)


def planted(tmp_path: Path, **cells) -> Path:
    """The project's matrix with extra cells (added to T3), its configs read from experiments/."""
    spec = yaml.safe_load((EXP / "ablation.yaml").read_text())
    spec["config_root"] = str(EXP)
    spec["cells"].update(cells)
    spec["tables"]["T3"]["cells"] += list(cells)
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_planted_unfair_cell_fails(tmp_path):
    # what `improved` was: the bundle plus tuning that T3's baseline and single cells lack,
    # given as the bundle's values "at this profile's scale"
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("model:\n  init_args:\n    optimizer_g: {init_args: {lr: 4.0e-4}}\n    n_epochs: 60\n")
    path = planted(
        tmp_path,
        improved_then={
            "recipe": "cartoongan",
            "delta": "cells/improved.yaml",
            "delta_at": {"standard": str(tuned)},
        },
    )
    matrix = Matrix.load(path, profile="standard", tables=["T3"], cells=["improved_then"], seeds=[0])
    problems = audit(matrix, tmp_path / "out").problems(matrix)
    assert problems == [
        "T3/improved_then: differs from its baseline in model.init_args.n_epochs (40 -> 60), which its "
        "hypothesis does not name",
        "T3/improved_then: differs from its baseline in model.init_args.optimizer_g.init_args.lr "
        "(0.0002 -> 0.0004), which its hypothesis does not name",
    ]


def test_a_copy_of_the_baseline_must_be_declared_untestable(tmp_path):
    path = planted(tmp_path, resnet_again={"recipe": "cartoongan", "delta": "cells/cartoongan_resnet.yaml"})
    matrix = Matrix.load(path, profile="standard", tables=["T3"], seeds=[0])
    problems = audit(matrix, tmp_path / "out").problems(matrix)
    assert problems == [
        "T3/resnet_again: identical to its baseline under profile 'standard'; declare it in the "
        "profile's `untestable` (with the reason) instead of running a copy"
    ]  # cartoongan_resnet, declared, is not named
    assert "cartoongan_resnet" not in {r.cell for r in matrix.runs(tmp_path / "out")}, "never run"


def test_a_swapped_class_brings_its_own_parameters_but_a_subclass_does_not():
    base = {"g": {"class_path": "cartoonlab.nets.ResnetGenerator", "init_args": {"ngf": 16, "n_blocks": 3}}}
    unet = {"g": {"class_path": "cartoonlab.nets.UnetGenerator", "init_args": {"ngf": 32, "num_downs": 5}}}
    assert unexplained(unet, base, {"g.class_path"}) == {}, "another network's parameters are its own"
    system = {"m": {"class_path": "cartoonlab.systems.CartoonGAN", "init_args": {"lr": 1}}}
    sub = {"m": {"class_path": "cartoonlab.systems.ImprovedCartoonGAN", "init_args": {"lr": 2}}}
    assert unexplained(sub, system, {"m.class_path"}) == {"m.init_args.lr": (1, 2)}


def test_resolved_config_is_the_print_config_of_the_run(tmp_path):
    matrix = Matrix.load(EXP / "ablation.yaml", profile="quick", cells=["cartoongan"], seeds=[3])
    (run,) = matrix.runs(tmp_path)
    cfg = resolved_config(run.args)
    assert cfg["seed_everything"] == 3 and cfg["data"]["synthetic_test_n"] == 500
    assert cfg["trainer"]["max_epochs"] == 50, "derived from the schedule: 10 init + 40 GAN epochs"
    assert not (tmp_path / "runs").exists(), "resolving writes nothing"


def test_a_family_file_that_changes_the_shared_settings_is_unfair(tmp_path):
    """A profile's file per family may tune its system, never the data or the evaluation:
    CycleGAN's file scoring 400 test images where CartoonGAN's scores 500 fails T1."""
    cyclegan = tmp_path / "cyclegan.yaml"
    cyclegan.write_text(
        (EXP / "profiles/quick/cyclegan.yaml")
        .read_text()
        .replace("synthetic_test_n: 500", "synthetic_test_n: 400")
    )
    spec = yaml.safe_load((EXP / "ablation.yaml").read_text())
    spec["config_root"] = str(EXP)
    spec["profiles"]["standard"]["files"] = {
        "cartoongan": "profiles/quick/cartoongan.yaml",
        "cyclegan": str(cyclegan),
    }
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(spec))
    matrix = Matrix.load(path, profile="standard", tables=["T1"], seeds=[0])
    assert audit(matrix, tmp_path / "out").problems(matrix) == [
        "T1/cartoongan: differs from its baseline in data.synthetic_test_n (400 -> 500), which its "
        "hypothesis does not name"
    ]
