"""Is every cell a fair ablation? A cell's resolved configuration may differ from its
table's baseline only in what its hypothesis names.

The resolved configuration of a run is what `cartoonlab fit ARGS --print_config` prints
(`resolved_config`, in-process: the CLI's own parser, nothing instantiated). What a
cell is allowed to change (`allowed_keys`):

- the settings its delta files give (its `delta_at` file for a profile may give those
  settings their values at the profile's scale, e.g. a shorter init phase, never another
  setting);
- for a cell of another recipe than its baseline (T0, T1: "this system instead of
  that one"), every setting either recipe's model configs give, and the system settings
  of the profile's files for either family: data, evaluation and trainer settings stay
  the baseline's unless a recipe itself sets them (CycleGAN's batch of 1);
- under a `class_path` that the allowed settings change to a class unrelated to the
  baseline's (a U-Net for a ResNet generator), the new class's own parameters. A
  subclass (`ImprovedCartoonGAN` of `CartoonGAN`) shares its parent's parameters, so
  those must agree unless the delta names them.

Ignored: the run's name, folder, group and tags, the seeds, and `trainer.max_epochs`
(derived from the model's schedule, whose own keys are compared).

`audit` also finds cells that are copies of their baseline under a profile (the delta
overridden by what the profile imposes, e.g. VGG vs ResNet when both are EfficientNet-
Lite0 offline): such a cell must be declared in the profile's `untestable`, where it is
not run and its row says why.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cartoonlab.ablation.matrix import Matrix, Run

IGNORED = {
    "seed_everything",
    "data.seed",
    "run.name",
    "run.root",
    "run.group",
    "run.tags",
    "trainer.max_epochs",
}


class _Resolved(Exception):
    def __init__(self, config: dict) -> None:
        self.config = config


def resolved_config(args: list[str]) -> dict:
    """The configuration `cartoonlab ARGS --print_config` prints, as a dict (subcommand
    level), parsed by the CLI's own parser; no class is built, no folder written."""
    import warnings

    from lightning.pytorch import LightningModule

    from cartoonlab.cli.train import CartoonLabCLI
    from cartoonlab.data import UnpairedImageDataModule

    class Resolver(CartoonLabCLI):
        def before_instantiate_classes(self) -> None:
            super().before_instantiate_classes()  # derived settings (max_epochs) included
            raise _Resolved(yaml.safe_load(self.parser.dump(self.config, skip_none=False)))

        def _set_seed(self) -> None:  # resolving must not reseed the caller's RNGs (if Lightning
            pass  # renames this private hook, the only cost is a reseed and a log line)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Resolver(
                LightningModule,
                UnpairedImageDataModule,
                subclass_mode_model=True,
                args=args,
                auto_configure_optimizers=False,
            )
        except _Resolved as r:
            return r.config[args[0]] if args[0] in r.config else r.config
    raise RuntimeError(f"could not resolve {args}")  # pragma: no cover - the CLI always reaches the hook


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{dotted key: leaf value}; an empty mapping is a leaf."""
    out: dict[str, object] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def file_keys(files: list[Path]) -> set[str]:
    return {k for f in files for k in flatten(yaml.safe_load(f.read_text()) or {})}


# what a profile sets for every cell alike: a family file may not make it differ between systems
SHARED = ("data.", "trainer.", "eval.", "samples.", "run.")


def recipe_keys(matrix: Matrix, cell: str) -> set[str]:
    """The settings that make a cell's system under the matrix's profile: every setting of
    its recipe's model configs, and the system settings (not data, trainer, evaluation or
    run) of the profile's files for its family."""
    keys = set()
    for role, f in matrix.files(cell):
        if role == "recipe":
            keys |= file_keys([matrix.root / f])
        elif role in ("profile", "imposed by the profile"):
            keys |= {k for k in file_keys([matrix.root / f]) if not k.startswith(SHARED)}
    return keys


def allowed_keys(matrix: Matrix, cell: str, baseline: str) -> set[str]:
    keys = file_keys([matrix.root / f for role, f in matrix.files(cell) if role == "cell"])
    if matrix.cells[cell]["recipe"] != matrix.cells[baseline]["recipe"]:
        keys |= recipe_keys(matrix, cell) | recipe_keys(matrix, baseline)
    return keys


def _class(path: object):
    try:
        module, name = str(path).rsplit(".", 1)
        return getattr(importlib.import_module(module), name)
    except (ValueError, ImportError, AttributeError):
        return None


def _related(a: object, b: object) -> bool:
    ca, cb = _class(a), _class(b)
    return ca is not None and cb is not None and (issubclass(ca, cb) or issubclass(cb, ca))


def unexplained(cell_cfg: dict, base_cfg: dict, allowed: set[str]) -> dict[str, tuple]:
    """{key: (baseline value, cell value)} of the differences `allowed` does not explain."""
    a, b = flatten(cell_cfg), flatten(base_cfg)
    missing = "<unset>"
    diff = {
        k: (b.get(k, missing), a.get(k, missing))
        for k in set(a) | set(b)
        if k not in IGNORED and a.get(k, missing) != b.get(k, missing)
    }
    # a class the allowed settings swap for an unrelated one: its parameters are its own
    swapped = [
        k.removesuffix("class_path")
        for k, (old, new) in diff.items()
        if k.endswith("class_path") and k in allowed and not _related(old, new)
    ]
    return {k: v for k, v in diff.items() if k not in allowed and not any(k.startswith(p) for p in swapped)}


@dataclass
class Audit:
    """Per table, per cell: the differences from the baseline that the hypothesis does not
    explain (`unfair`), and the cells that are copies of their baseline (`copies`)."""

    unfair: dict[str, dict[str, tuple]] = field(default_factory=dict)  # "T3/improved" -> diffs
    copies: list[str] = field(default_factory=list)  # "T3/cartoongan_resnet"

    def problems(self, matrix: Matrix) -> list[str]:
        declared = set(matrix.untestable)
        out = [
            f"{where}: differs from its baseline in {k} ({old!r} -> {new!r}), which its hypothesis "
            "does not name"
            for where, diffs in sorted(self.unfair.items())
            for k, (old, new) in sorted(diffs.items())
        ]
        out += [
            f"{where}: identical to its baseline under profile {matrix.profile!r}; declare it in the "
            "profile's `untestable` (with the reason) instead of running a copy"
            for where in self.copies
            if where.split("/")[1] not in declared
        ]
        return out


def audit(matrix: Matrix, out: Path, data: str | None = None) -> Audit:
    """Resolve one seed's run of every cell (untestable ones included) and compare each with
    its table's baseline."""
    first = matrix.seeds[0] if matrix.seeds else 0
    configs: dict[str, dict] = {}
    baselines = [t.baseline for t in matrix.tables.values()]
    for cell in dict.fromkeys([*matrix.cell_names(include_untestable=True), *baselines]):
        run: Run = matrix._run(cell, first, [], out, data)
        configs[cell] = resolved_config(run.args)
    result = Audit()
    for t in matrix.tables.values():
        for cell in t.cells:
            if cell == t.baseline:
                continue
            diffs = unexplained(configs[cell], configs[t.baseline], allowed_keys(matrix, cell, t.baseline))
            if diffs:
                result.unfair[f"{t.name}/{cell}"] = diffs
            same = {k: v for k, v in flatten(configs[cell]).items() if k not in IGNORED}
            if same == {k: v for k, v in flatten(configs[t.baseline]).items() if k not in IGNORED}:
                result.copies.append(f"{t.name}/{cell}")
    return result
