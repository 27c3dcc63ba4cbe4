"""`cartoonlab ablation show RUN`: a run's resolved configuration, each setting with the
file that set it (the composition order is `Matrix.files`, stated in ablation.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from cartoonlab.ablation.fairness import flatten, resolved_config
from cartoonlab.ablation.matrix import Matrix, Run

DEFAULT, RUNNER, DERIVED = "(default)", "(runner)", "(derived from the schedule)"


@dataclass
class Setting:
    key: str
    value: object
    source: str  # a config file relative to the matrix's root, RUNNER, DERIVED or DEFAULT


def sources(files: list[tuple[Path, str]]) -> dict[str, str]:
    """{dotted key: the last file that sets it}. A later file's `class_path` that swaps the
    class keeps the earlier settings the new class accepts (jsonargparse carries them over,
    e.g. the profile's `ngf` into a U-Net cell's generator); the rest are not resolved."""
    setter: dict[str, str] = {}
    for path, name in files:
        setter.update(dict.fromkeys(flatten(yaml.safe_load(path.read_text()) or {}), name))
    return setter


def cell_of(name: str) -> str:
    """The cell of a run name `CELL-sSEED` (or of a cell name)."""
    head, _, seed = name.rpartition("-s")
    return head if head and seed.isdigit() else name


def find_run(matrix: Matrix, name: str, out: Path, data: str | None) -> Run:
    """The run `CELL-sSEED`, or a cell's first seed's run."""
    cell = cell_of(name)
    if cell in matrix.untestable:
        raise ValueError(f"{cell} is not run under profile {matrix.profile!r}: {matrix.untestable[cell]}")
    runs = matrix.runs(out, data)
    for run in runs:
        if name in (run.name, run.cell) and (run.name == name or run.seed == matrix.seeds[0]):
            return run
    raise ValueError(
        f"no run {name!r} under profile {matrix.profile!r}; its runs: {', '.join(r.name for r in runs)}"
    )


def show(matrix: Matrix, run: Run) -> tuple[list[tuple[str, str]], list[Setting]]:
    """The run's files (role, file) and every resolved setting with its source."""
    composed = matrix.files(run.same_as or run.cell)
    setter = sources([(matrix.root / f, f) for _, f in composed])
    given = {a.split("=", 1)[0].removeprefix("--") for a in run.args if a.startswith("--") and "=" in a}
    settings = []
    for key, value in sorted(flatten(resolved_config(run.args)).items()):
        if key in given:
            source = RUNNER
        elif key in setter:
            source = setter[key]
        elif key == "trainer.max_epochs" and value is not None:
            source = DERIVED
        else:
            source = DEFAULT
        settings.append(Setting(key, value, source))
    return composed, settings


def _brief(value: object) -> str:
    """A setting's value; a list of classes (callbacks) by their class paths."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and "class_path" in v for v in value):
        return "[" + ", ".join(v["class_path"] for v in value) + "]"
    return repr(value)


def render(matrix: Matrix, run: Run, defaults: bool = False) -> str:
    composed, settings = show(matrix, run)
    twin = f" (the run of {run.same_as}: identical under this profile)" if run.same_as else ""
    lines = [f"{run.name} under profile {matrix.profile}{twin} composes, later files winning:"]
    lines += [f"  {i}. {role:<24} {f}" for i, (role, f) in enumerate(composed, 1)]
    runner = {s.key for s in settings if s.source == RUNNER}
    lines.append(
        "  then the runner: seed, run name, folder, tags" + (", --data.root" if "data.root" in runner else "")
    )
    shown = [s for s in settings if defaults or s.source != DEFAULT]
    width = min(72, max((len(f"{s.key}: {_brief(s.value)}") for s in shown), default=0))
    lines += [
        "",
        "resolved settings" + ("" if defaults else " (class defaults left out: --defaults shows them)") + ":",
    ]
    lines += [f"  {f'{s.key}: {_brief(s.value)}':<{width}}  # {s.source}" for s in shown]
    return "\n".join(lines)
