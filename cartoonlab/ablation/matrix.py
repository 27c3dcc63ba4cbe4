"""The ablation matrix (`experiments/ablation.yaml`): tables -> cells -> runs.

A cell is a recipe (a list of model configs) plus an optional delta YAML; a run
is a cell with a seed under a profile; `Matrix.files` is the order they compose in.
Each run is one `cartoonlab fit` command
(with `run.test_after_fit`), whose arguments are fully determined here, so
`--dry-run` prints exactly what will execute.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from cartoonlab.utils import check_name


@dataclass
class Table:
    name: str
    title: str
    source: str
    baseline: str
    cells: list[str]
    published: dict[str, dict[str, float]] = field(default_factory=dict)


CELL_KEYS = {"recipe", "delta", "delta_at", "note"}
PROFILE_KEYS = {"note", "tables", "files", "imposed", "same_as", "untestable", "seeds"}


def _checked(spec, path: Path) -> dict:
    """The matrix file's structure, checked: a mistake raises ValueError naming the key."""

    def need(cond: bool, key: str, what: str) -> None:
        if not cond:
            raise ValueError(f"{path}: `{key}` {what}")

    need(isinstance(spec, dict), "(top level)", "must be a mapping with recipes, cells, tables, profiles")
    for key in ("recipes", "cells", "tables", "profiles"):
        need(isinstance(spec.get(key), dict) and spec[key], key, "is missing or not a non-empty mapping")
    for name, recipe in spec["recipes"].items():
        need(
            isinstance(recipe, dict) and isinstance(recipe.get("configs"), list) and "family" in recipe,
            f"recipes.{name}",
            "needs `family` and a list `configs`",
        )
    for name, cell in spec["cells"].items():
        check_name(name, f"{path}: cell name")
        need(
            isinstance(cell, dict) and cell.get("recipe") in spec["recipes"],
            f"cells.{name}.recipe",
            f"must name one of the recipes {sorted(spec['recipes'])}",
        )
        extra = set(cell) - CELL_KEYS
        need(not extra, f"cells.{name}", f"has unknown keys {sorted(extra)}; allowed: {sorted(CELL_KEYS)}")
    table_keys = {f.name for f in fields(Table)} - {"name"}
    for name, table in spec["tables"].items():
        need(isinstance(table, dict), f"tables.{name}", "must be a mapping")
        extra = set(table) - table_keys
        need(not extra, f"tables.{name}", f"has unknown keys {sorted(extra)}; allowed: {sorted(table_keys)}")
        missing = {"title", "source", "baseline", "cells"} - set(table)
        need(not missing, f"tables.{name}", f"lacks {sorted(missing)}")
        need(isinstance(table["cells"], list), f"tables.{name}.cells", "must be a list")
    for name, prof in spec["profiles"].items():
        need(isinstance(prof, dict), f"profiles.{name}", "must be a mapping")
        extra = set(prof) - PROFILE_KEYS
        need(
            not extra,
            f"profiles.{name}",
            f"has unknown keys {sorted(extra)}; allowed: {sorted(PROFILE_KEYS)}",
        )
        untestable = prof.get("untestable") or {}
        need(
            isinstance(untestable, dict)
            and all(c in spec["cells"] and isinstance(why, str) and why for c, why in untestable.items()),
            f"profiles.{name}.untestable",
            "must map cell names to the reason they cannot be tested",
        )
        seeds = prof.get("seeds")
        need(
            isinstance(seeds, list) and all(isinstance(x, int) for x in seeds),
            f"profiles.{name}.seeds",
            f"must be a list of integers, got {seeds!r}",
        )
    return spec


def config_files(entry: str | list[str] | None) -> list[str]:
    """A profile's or cell's config entry: none, one file, or a list of files."""
    return [] if not entry else [entry] if isinstance(entry, str) else list(entry)


def for_family(entry: str | list[str] | dict | None, family: str) -> str | list[str] | None:
    """A profile's `files` / `imposed`: per family ({family: files}) or the same for all."""
    return entry.get(family) if isinstance(entry, dict) else entry


@dataclass
class Run:
    cell: str
    seed: int
    tables: list[str]
    args: list[str]  # arguments after `cartoonlab`
    dir: Path
    same_as: str | None = None  # under this profile, the cell is this other cell: its run is reused

    @property
    def name(self) -> str:
        return f"{self.cell}-s{self.seed}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cartoonlab", *self.args]


@dataclass
class Matrix:
    path: Path
    profile: str
    tables: dict[str, Table]
    cells: dict[str, dict]
    recipes: dict[str, dict]
    profile_spec: dict
    seeds: list[int]
    root: Path  # config paths are relative to this: the matrix file's folder, or its `config_root`

    @classmethod
    def load(
        cls,
        path: str | Path,
        profile: str = "quick",
        seeds: list[int] | None = None,
        tables: list[str] | None = None,
        cells: list[str] | None = None,
    ) -> Matrix:
        path = Path(path)
        spec = _checked(yaml.safe_load(path.read_text()), path)
        if profile not in spec["profiles"]:
            raise ValueError(f"unknown profile {profile!r}; {path} has {sorted(spec['profiles'])}")
        all_tables = {k: Table(name=k, **v) for k, v in spec["tables"].items()}
        if not tables and not cells:  # the profile's default selection
            tables = spec["profiles"][profile].get("tables")
        for want, have, what in ((tables, all_tables, "table"), (cells, spec["cells"], "cell")):
            unknown = set(want or []) - set(have)
            if unknown:
                raise ValueError(f"unknown {what}(s) {sorted(unknown)}; known: {sorted(have)}")
        chosen = {k: t for k, t in all_tables.items() if not tables or k in tables}
        if cells:
            chosen = {
                k: Table(**{**t.__dict__, "cells": [c for c in t.cells if c in cells]})
                for k, t in chosen.items()
            }
            chosen = {k: t for k, t in chosen.items() if t.cells}
        for t in chosen.values():
            missing = set(t.cells) - set(spec["cells"])
            if missing:
                raise ValueError(f"table {t.name} uses undefined cells {sorted(missing)}")
        prof = spec["profiles"][profile]
        root = (path.parent / spec["config_root"]).resolve() if spec.get("config_root") else path.parent
        return cls(
            path,
            profile,
            chosen,
            spec["cells"],
            spec["recipes"],
            prof,
            seeds if seeds is not None else list(prof["seeds"]),
            root,
        )

    @property
    def untestable(self) -> dict[str, str]:
        """Cells that cannot test their hypothesis under this profile (the profile's
        `untestable`: cell -> why): not run; their rows say why."""
        return dict(self.profile_spec.get("untestable") or {})

    def cell_names(self, include_untestable: bool = False) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.tables.values():
            seen.update(dict.fromkeys(t.cells))
        return [c for c in seen if include_untestable or c not in self.untestable]

    def runs(self, out: Path, data: str | None = None) -> list[Run]:
        """Every (cell, seed) once, however many tables share the cell. A cell the
        profile declares `same_as` another (identical there) reuses that cell's run."""
        runs = []
        same_as = self.profile_spec.get("same_as", {})
        for cell in self.cell_names():
            for seed in self.seeds:
                tables = [t.name for t in self.tables.values() if cell in t.cells]
                if cell in same_as:
                    twin = self._run(same_as[cell], seed, tables, out, data)
                    runs.append(Run(cell, seed, tables, twin.args, twin.dir, same_as=same_as[cell]))
                else:
                    runs.append(self._run(cell, seed, tables, out, data))
        return runs

    def files(self, cell: str) -> list[tuple[str, str]]:
        """(role, file) of every config file a cell's run composes under this profile, in the
        order stated at the top of ablation.yaml (later files win)."""
        spec, prof = self.cells[cell], self.profile_spec
        recipe = self.recipes[spec["recipe"]]
        family = recipe["family"]
        return [
            ("base", "base.yaml"),
            *(("recipe", f) for f in recipe["configs"]),
            *(("profile", f) for f in config_files(for_family(prof.get("files"), family))),
            *(("cell", f) for f in config_files(spec.get("delta"))),
            *(
                ("cell at this profile", f)
                for f in config_files((spec.get("delta_at") or {}).get(self.profile))
            ),
            *(("imposed by the profile", f) for f in config_files(for_family(prof.get("imposed"), family))),
        ]

    def _run(self, cell: str, seed: int, tables: list[str], out: Path, data: str | None) -> Run:
        files = [f for _, f in self.files(cell)]
        args = ["fit"] + [a for f in files for a in ("--config", str(self.root / f))]
        if data:
            args.append(f"--data.root={data}")
        run_dir = out / "runs"
        args += [
            f"--seed_everything={seed}",
            f"--data.seed={seed}",
            f"--run.root={run_dir}",
            f"--run.name={cell}-s{seed}",
            f"--run.group={'+'.join(tables)}",
            # JSON: a folder name with commas, brackets or spaces stays one tag
            f"--run.tags={json.dumps([self.profile, 'synthetic' if not data else Path(data).name])}",
            "--run.test_after_fit=true",
        ]
        return Run(cell, seed, tables, args, run_dir / f"{cell}-s{seed}")
