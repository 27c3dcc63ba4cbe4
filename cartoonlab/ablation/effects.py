"""Each cell's effect against its table's baseline on both axes (`cartoonlab.ablation.stats`),
and the test split's own sampling noise.

Style: FID and KID per run, seeds as the unit (Welch). Content: L1 and SSIM to the true
cartoon per test image (`<run>/test_images.csv`, written by `TranslationMetrics`), paired
per image across cells (hierarchical bootstrap). Holm's correction runs over every
comparison of a table (cells x metrics).
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cartoonlab.ablation.stats import Effect, hierarchical_bootstrap, holm, welch
from cartoonlab.runs import TEST_FEATURES, TEST_IMAGES, RunStatus

ALPHA = 0.05


@dataclass(frozen=True)
class Metric:
    key: str  # ablation.csv column
    label: str
    lower_is_better: bool
    scale: float = 1.0  # shown as value x scale
    per_image: bool = False  # a column of test_images.csv: paired per image


METRICS = (
    Metric("fid", "FID", True),
    Metric("kid", "KID×1e3", True, 1e3),
    Metric("l1_truth", "L1 to truth ×1e3", True, 1e3, per_image=True),
    Metric("ssim_truth", "SSIM to truth ×1e3", False, 1e3, per_image=True),
)


def per_image(run_dir: str | Path) -> dict[str, dict[str, float]]:
    """{image name: {score: value}} of a run's test split ({} when the file is missing)."""
    path = Path(run_dir) / TEST_IMAGES
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r.pop("image"): {k: float(v) for k, v in r.items()} for r in csv.DictReader(f)}


def _finished(table_rows: list[dict], cell: str) -> list[dict]:
    return [r for r in table_rows if r["cell"] == cell and r["status"] == RunStatus.FINISHED]


def _per_seed(table_rows: list[dict], cell: str, key: str) -> list[float]:
    return [float(r[key]) for r in _finished(table_rows, cell) if r.get(key) is not None]


def _paired(cell_runs: list[dict], base_runs: list[dict], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """[seeds, images] arrays of `key` over the images every run of both cells scored."""
    tables = [per_image(r["run_dir"]) for r in (*cell_runs, *base_runs)]
    if not cell_runs or not base_runs or not all(tables):
        return None
    names = sorted(set.intersection(*(set(t) for t in tables)))
    if len(names) < 2 or any(key not in t[names[0]] for t in tables):
        return None
    arr = np.array([[t[n][key] for n in names] for t in tables])
    return arr[: len(cell_runs)], arr[len(cell_runs) :]


def effect(table_rows: list[dict], cell: str, baseline: str, metric: Metric) -> Effect | None:
    if metric.per_image:
        pair = _paired(_finished(table_rows, cell), _finished(table_rows, baseline), metric.key)
        if pair is not None:
            return hierarchical_bootstrap(*pair, alpha=ALPHA)
    return welch(_per_seed(table_rows, cell, metric.key), _per_seed(table_rows, baseline, metric.key), ALPHA)


def table_effects(table_rows: list[dict], cells: list[str], baseline: str) -> dict[str, dict[str, Effect]]:
    """{cell: {metric key: Effect}} with `p_holm` over every comparison of the table."""
    found = {
        c: {m.key: e for m in METRICS if (e := effect(table_rows, c, baseline, m)) is not None}
        for c in cells
        if c != baseline
    }
    flat = [e for per_cell in found.values() for e in per_cell.values()]
    for e, p in zip(flat, holm([e.p for e in flat])):
        e.p_holm = p
    return found


def verdict(effects: dict[str, Effect]) -> str:
    """Per axis: better / worse where shown, else "not separable" with the smallest
    detectable effect."""
    parts = []
    for axis, keys in (("style", ("fid", "kid")), ("content", ("l1_truth", "ssim_truth"))):
        metrics = [m for m in METRICS if m.key in keys and m.key in effects]
        shown = [m for m in metrics if effects[m.key].shown(ALPHA)]
        if not metrics:
            continue
        if shown:
            better = [(effects[m.key].diff < 0) == m.lower_is_better for m in shown]
            word = "better" if all(better) else "worse" if not any(better) else "mixed"
            parts.append(
                f"{axis} **{word}** ({', '.join(m.label.split(' ')[0].split('×')[0] for m in shown)})"
            )
        else:
            m = metrics[0]
            parts.append(f"{axis} not separable (detectable: {m.label} {effects[m.key].mde * m.scale:.3g})")
    return "; ".join(parts) or "-"


def fmt_effect(e: Effect | None, scale: float = 1.0) -> str:
    if e is None:
        return "-"
    p = e.p if e.p_holm is None else e.p_holm
    mark = "\\*" if e.shown(ALPHA) else ""
    return f"{e.diff * scale:+.3g}{mark} [{e.lo * scale:+.3g}, {e.hi * scale:+.3g}] p={p:.2g}"


def fid_test_noise(features: np.ndarray, reference: np.ndarray, n: int = 10, seed: int = 0) -> float:
    """SD of the FID of one run's translations (`test_features.npy`) against the test
    cartoons when the test split itself is resampled (images drawn with replacement, the
    same draw for both sets: they are paired scenes): the test split's sampling noise."""
    import torch

    from cartoonlab.metrics.fid import frechet_distance_of_samples

    rng = np.random.default_rng(seed)
    real, fake = torch.from_numpy(reference), torch.from_numpy(features)
    values = []
    for _ in range(n):
        idx = torch.from_numpy(rng.integers(len(features), size=len(features)))
        values.append(float(frechet_distance_of_samples(real[idx], fake[idx])))
    return statistics.stdev(values) if len(values) > 1 else math.nan


def noise_summary(
    table_rows: list[dict], baselines: list[str], reference: np.ndarray | None, min_images: int = 100
) -> dict:
    """The two noise sources of FID, measured: the test split's (`fid_test_noise` of each
    finished run of the `baselines`, averaged; only with at least `min_images` test images,
    below which FID says little) and
    the seeds' (the SD of a cell's FID over its seeds, pooled over cells). {label: text}."""
    out = {}
    first: dict[str, dict] = {}
    for r in table_rows:  # a reused run (`same_as`) counts once, under its own cell
        first.setdefault(r["run_dir"], r)
    table_rows = list(first.values())
    if reference is not None and len(reference) >= min_images:
        sds = []
        for r in table_rows:
            path = Path(r["run_dir"]) / TEST_FEATURES
            if r["cell"] in baselines and r["status"] == RunStatus.FINISHED and path.is_file():
                sds.append(fid_test_noise(np.load(path), reference))
        if sds:
            out["FID SD over resampled test splits (same checkpoint)"] = (
                f"{statistics.fmean(sds):.1f} ({len(sds)} runs of {', '.join(baselines)})"
            )
    per_cell = [
        v
        for c in dict.fromkeys(r["cell"] for r in table_rows)
        if len(v := _per_seed(table_rows, c, "fid")) > 1
    ]
    if per_cell:
        pooled = math.sqrt(statistics.fmean([statistics.variance(v) for v in per_cell]))
        out["FID SD between seeds (pooled over cells)"] = f"{pooled:.1f} ({len(per_cell)} cells)"
    return out
