"""Each config fact lives in one file: no file of a run's composition restates what an
earlier file of the same composition already set, and epochs come from the schedule."""

import re
from pathlib import Path

import pytest
import yaml

from cartoonlab.ablation.matrix import Matrix

EXP = Path(__file__).resolve().parents[2] / "experiments"
ALL_TABLES = ["T0", "T1", "T2", "T3", "T4", "T5", "T6"]


def settings(tree: dict, prefix: str = ""):
    """(dotted key, value) of every leaf; a `class_path` is a leaf of its own."""
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            yield from settings(value, dotted)
        else:
            yield dotted, value


def _short(file: str) -> str:
    path = Path(file).resolve()
    return str(path.relative_to(EXP)) if path.is_relative_to(EXP) else path.name


def restated(files: list[str]) -> list[str]:
    """Settings a later file gives the value an earlier file already gave them."""
    seen: dict[str, tuple[str, object]] = {}
    found = []
    for f in files:
        for key, value in settings(yaml.safe_load(Path(f).read_text()) or {}):
            if key.endswith(".class_path") and seen.get(key, (None, value))[1] != value:
                # another class: the settings of the one it replaces no longer apply
                stem = key.removesuffix("class_path")
                seen = {k: v for k, v in seen.items() if not k.startswith(stem)}
            if key in seen and seen[key][1] == value:
                found.append(f"{key}: {value!r} in {_short(seen[key][0])} and again in {_short(f)}")
            seen[key] = (f, value)
    return found


@pytest.mark.parametrize("profile", ["quick", "standard", "real", "paper"])
def test_no_file_of_a_run_restates_an_earlier_one(profile, tmp_path):
    matrix = Matrix.load(EXP / "ablation.yaml", profile=profile, tables=ALL_TABLES, seeds=[0])
    data = None if profile in ("quick", "standard") else "/data/selfie2anime"
    problems = set()
    for run in matrix.runs(tmp_path, data=data):
        files = [b for a, b in zip(run.args, run.args[1:]) if a == "--config"]
        problems.update(f"{run.cell}: {p}" for p in restated(files))
    assert not problems, "a fact stated twice:\n" + "\n".join(sorted(problems))


def test_the_check_finds_a_restated_fact(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.yaml", "b.yaml", "c.yaml"))
    a.write_text("model:\n  init_args:\n    generator: {class_path: X, init_args: {ngf: 16}}\n    lr: 1\n")
    b.write_text("model:\n  init_args:\n    lr: 1\n")  # the same fact again
    c.write_text("model:\n  init_args:\n    generator: {class_path: Y, init_args: {ngf: 16}}\n")
    assert restated([str(a), str(b)]) == ["model.init_args.lr: 1 in a.yaml and again in b.yaml"]
    assert restated([str(a), str(c)]) == [], "another class: its ngf is a new fact"


def test_only_smoke_configs_fix_the_epochs():
    """`trainer.max_epochs` follows from the model's schedule (`systems.base.scheduled_epochs`)
    unless given; only tiny.yaml (a seconds-long smoke run) sets it."""
    setters = [
        str(p.relative_to(EXP))
        for p in sorted(EXP.rglob("*.yaml"))
        if "max_epochs" in ((yaml.safe_load(p.read_text()) or {}).get("trainer") or {})
    ]
    assert setters == ["tiny.yaml"]


MEASURED = re.compile(
    r"\b20\d\d-\d\d-\d\d\b"  # a date
    r"|\b(FID|KID|SSIM|L1)\b\D{0,4}\d"  # a score
    r"|\b\d+(\.\d+)? ?(min|minutes|h|hours)\b"  # a run time
)


def test_config_comments_hold_no_dates_or_measured_figures():
    """Configs say what runs and why; dates, scores and run times live in docs/ (linked)."""
    found = [
        f"{path.relative_to(EXP)}:{n}: {line.strip()}"
        for path in sorted(EXP.rglob("*.yaml"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "#" in line and MEASURED.search(line.split("#", 1)[1])
    ]
    assert not found, "move these figures to docs/ and link them:\n" + "\n".join(found)
    assert MEASURED.search(" val FID 274 on 2026-12-07") and MEASURED.search(" about 30 min per run")
