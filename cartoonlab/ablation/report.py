"""Results of an ablation: `ablation.csv`, `tables.md`, FID/KID bar plots and sample grids.

Each cell's effect against its table's baseline, on both axes, with its interval and
Holm-corrected p, comes from `cartoonlab.ablation.effects`: an effect is called only
when they support it, and otherwise reported as not separable at this budget, with
the smallest effect the table could have detected.
"""

from __future__ import annotations

import csv
import io
import math
import pickle
import statistics
import sys
from collections import Counter
from pathlib import Path

from cartoonlab.ablation.matrix import Matrix, Run, config_files
from cartoonlab.ablation.runner import run_state
from cartoonlab.runs import RunStatus, is_done, scored_checkpoint
from cartoonlab.utils import atomic_write_text, save_figure

# style: FID/KID vs the test cartoons (and photos); content: fidelity to the input photo
# (SSIM, Inception-feature distance) and, on paired data, distance to the true cartoon
METRICS = {
    "fid": "test/fid_cartoon",
    "kid": "test/kid_cartoon",
    "kid_std": "test/kid_std_cartoon",
    "fid_photo": "test/fid_photo",
    "kid_photo": "test/kid_photo",
    "ssim_photo": "test/ssim_photo",
    "perc_photo": "test/perc_photo",
    "l1_truth": "test/l1_truth",
    "ssim_truth": "test/ssim_truth",
    "perc_truth": "test/perc_truth",
}
# per-run figures besides the test scores (numeric columns of ablation.csv)
_RUN_FIGURES = [
    "best_val_fid",
    "best_val_epoch",
    "test_epoch",
    "train_seconds",
    "images_per_second",
    "seconds_per_epoch",
]
COLUMNS = [
    "table",
    "cell",
    "seed",
    "status",
    *METRICS,
    *_RUN_FIGURES,
    "epochs",
    "fid_backbone",
    "machine",
    "error",
    "run_dir",
]
# a row's status: its run's `RunStatus`, or one of these
MISSING = "missing"  # no metrics.json
NON_FINITE = "non-finite"  # finished, but a test score is NaN or infinite
NUMERIC = [*METRICS, *_RUN_FIGURES]


def rows(runs: list[Run]) -> list[dict]:
    out = []
    for r in runs:
        s = run_state(r)
        m = s.get("metrics", {})
        epochs = s.get("epochs") or 0
        best = s.get("best_val") or {}
        row = {
            "table": "+".join(r.tables),
            "cell": r.cell,
            "seed": r.seed,
            "status": s.get("status", MISSING),
            **{k: m.get(v) for k, v in METRICS.items()},
            "best_val_fid": best.get("fid"),
            "best_val_epoch": best.get("epoch"),
            "test_epoch": s.get("test_epoch"),
            "train_seconds": s.get("train_seconds"),
            "images_per_second": s.get("images_per_second"),
            "seconds_per_epoch": s["train_seconds"] / epochs if epochs and s.get("train_seconds") else None,
            "epochs": epochs,
            "fid_backbone": s.get("fid_backbone"),
            "machine": machine_label(s.get("machine")),
            "error": s.get("error"),
            "run_dir": str(r.dir),
        }
        bad = [k for k in METRICS if isinstance(row[k], float) and not math.isfinite(row[k])]
        if bad and row["status"] == RunStatus.FINISHED:  # tabulated as "nan"/"inf" it would pass for a score
            row["status"] = NON_FINITE
            row["error"] = (
                f"non-finite {', '.join(f'{METRICS[k]}={row[k]}' for k in bad)} in {r.dir}/metrics.json"
            )
        out.append(row)
    return out


def machine_label(machine: dict | None) -> str | None:
    """A record's `machine` (`cartoonlab.utils.machine_info`) as one short line."""
    if not machine:
        return None
    where = ", ".join(machine.get("gpus") or []) or (
        f"{machine.get('cpu')}, {machine.get('cpu_capability')}, {machine.get('threads')} thread(s)"
    )
    return f"{where}, torch {machine.get('torch')}"


def identity_csv_row(identity: dict, cell: str = "identity") -> dict:
    """A framing row (`ablation.identity.identity_row`) in `ablation.csv`'s columns (cell
    "identity" or "ground truth", no seed)."""
    return {
        "table": "all",
        "cell": cell,
        "seed": None,
        "status": RunStatus.FINISHED.value,
        **{k: identity.get(v.removeprefix("test/")) for k, v in METRICS.items()},
    }


COMMITTED = "docs/results/standard"  # the standard profile's outcome, committed with the code
LOCAL = ("results/standard", "results/quick")  # `make ablation`'s own, preferred when present


def results_folder(repo: Path, given: str | None = None) -> Path:
    """The results a reader compares: `given` (e.g. $CARTOONLAB_RESULTS), else the first of
    the repository's own `make ablation` results, else the committed ones (so a fresh clone
    has something to show)."""
    if given:
        return Path(given)
    for rel in (*LOCAL, COMMITTED):
        if (repo / rel / "ablation.csv").is_file():
            return repo / rel
    raise FileNotFoundError(
        f"no ablation results under {repo}: run `make ablation` (or set CARTOONLAB_RESULTS to a "
        f"results folder); a clone normally has the committed ones in {COMMITTED}"
    )


def write_csv(table_rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(table_rows)
    atomic_write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        rows_ = list(csv.DictReader(f))
    for r in rows_:
        for k in NUMERIC:
            r[k] = float(r[k]) if r.get(k) not in (None, "") else None
    return rows_


def _values(table_rows: list[dict], cell: str, key: str) -> list[float]:
    return [
        r[key]
        for r in table_rows
        if r["cell"] == cell and r[key] is not None and r["status"] == RunStatus.FINISHED
    ]


def _fmt(vals: list[float], scale: float = 1.0, digits: int = 1) -> str:
    if not vals:
        return "-"
    mean = statistics.fmean(vals) * scale
    if len(vals) == 1:
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} ± {statistics.stdev(vals) * scale:.{digits}f}"


def hypothesis(matrix: Matrix, cell: str) -> str:
    """The first comment line of the cell's (last) delta YAML."""
    delta = config_files(matrix.cells[cell].get("delta"))
    if not delta:
        return matrix.cells[cell].get("note", "baseline recipe")
    for line in (matrix.root / delta[-1]).read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _framing(name: str, what: str, scores: dict | None, id_fid: float | None, n_cols: int) -> str | None:
    """A framing row (identity, ground truth) in a table's columns."""
    if not scores:
        return None

    def get(key: str, scale: float = 1.0, digits: int = 1) -> str:
        v = scores.get(key)
        return "-" if v is None else f"{round(v * scale, digits) + 0.0:.{digits}f}"  # never "-0.0"

    ratio = f"{round(scores['fid_cartoon'] / id_fid, 2) + 0.0:.2f}" if id_fid else "-"
    cols = [f"*{name}*", what, f"{get('fid_cartoon')} ({ratio})", "-", get("kid_cartoon", 1e3), "-"]
    cols += [get("l1_truth", 1e3), "-", get("ssim_truth", 1e3), "-"]
    return "| " + " | ".join(cols + ["-"] * (n_cols - len(cols))) + " |"


def tables_markdown(
    matrix: Matrix,
    table_rows: list[dict],
    identity: dict | None = None,
    data: str | None = None,
    truth: dict | None = None,
    noise: dict | None = None,
) -> str:
    """`tables.md`: per table, each cell's scores on both axes and its effect against the
    baseline with a 95 % interval (`cartoonlab.ablation.effects`), framed by the identity
    and ground-truth rows. `noise`: the measured noise sources (`effects.noise_summary`)."""
    from cartoonlab.ablation.effects import ALPHA, METRICS, fmt_effect, table_effects, verdict

    note = matrix.profile_spec.get("note", "")
    lines = [
        f"# Ablation results: profile `{matrix.profile}`",
        "",
        f"Data: {data or 'the embedded synthetic dataset (paired ground truth for validation and test)'}.",
        "",
    ]
    machines = Counter(
        r["machine"] for r in {r.get("run_dir"): r for r in table_rows}.values() if r.get("machine")
    )
    if machines:
        lines += [
            "Ran on: "
            + "; ".join(f"{m} ({n} run(s))" for m, n in machines.most_common())
            + ". A run repeats its figures to the digit on the same machine, not always on another CPU.",
            "",
        ]
    if note:
        lines += [f"> {note}", ""]
    lines += [
        "Two axes on the held-out test split, mean ± std over seeds. **Style**: FID (and its "
        "multiple of the identity row's) and KID of the translations against the test cartoons. "
        "**Content**: L1 and SSIM to the true cartoon of each photo (on paired data). Lower is "
        "better except SSIM. **Δ** is cell minus baseline with its 95 % interval and Holm-adjusted "
        "p over every comparison of the table; style uses seeds as the unit (Welch), content pairs "
        "the runs per test image (hierarchical bootstrap over seeds and images). **\\*** and a "
        f"verdict need Holm p < {ALPHA} and an interval that excludes 0; otherwise the cell is "
        "*not separable at this budget*, with the smallest effect the comparison could have "
        "detected (80 % power). Best val: the lowest validation FID and its epoch; the test "
        "scores are that epoch's checkpoint's (model selection reads validation, never test).",
        "",
    ]
    if noise:
        lines += [
            "Noise, measured: " + "; ".join(f"{k}: {v}" for k, v in noise.items()) + ".",
            "",
        ]
    id_fid = identity["fid_cartoon"] if identity else None
    for t in matrix.tables.values():
        has_pub = bool(t.published)
        head = ["cell", "hypothesis"]
        for m in METRICS:
            head += [m.label + (" (×id)" if m.key == "fid" else ""), f"Δ {m.label}"]
        head += ["verdict", "best val FID (epoch)", "s/epoch"] + (
            ["published FID (cartoons / photos)"] if has_pub else []
        )
        lines += [f"## {t.name}: {t.title}", "", f"Source: {t.source}. Baseline: `{t.baseline}`.", ""]
        kinds = {r["machine"] for r in table_rows if r["cell"] in t.cells and r.get("machine")}
        if len(kinds) > 1:  # the CPU alone can move a run as much as a seed does
            lines += [
                f"**Caution**: this table's runs come from {len(kinds)} kinds of machine, so its "
                "effects mix the cell with the machine; rerun it on one machine to read them.",
                "",
            ]
        lines += [
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        framing = (
            _framing(
                "identity (untranslated photos)",
                "no translation: the style score to beat",
                identity,
                id_fid,
                len(head),
            ),
            _framing(
                "ground truth (true cartoons)",
                "a perfect translation (they are the FID reference)",
                truth,
                id_fid,
                len(head),
            ),
        )
        lines += [f for f in framing if f]
        effects = table_effects(table_rows, [c for c in t.cells if c not in matrix.untestable], t.baseline)
        for cell in t.cells:
            if cell in matrix.untestable:
                row = [f"`{cell}`", hypothesis(matrix, cell)] + ["-"] * 2 * len(METRICS)
                row += [f"not run: {matrix.untestable[cell]}"] + ["-"] * (len(head) - len(row) - 1)
                lines.append("| " + " | ".join(row) + " |")
                continue
            failed = [r for r in table_rows if r["cell"] == cell and r["status"] != RunStatus.FINISHED]
            status = (
                f" ({len(failed)} run(s) {', '.join(sorted({r['status'] for r in failed}))})"
                if failed
                else ""
            )
            fid = _values(table_rows, cell, "fid")
            row = [f"`{cell}`{status}", hypothesis(matrix, cell)]
            for m in METRICS:
                value = _fmt(_values(table_rows, cell, m.key), m.scale, digits=1)
                if m.key == "fid" and id_fid and fid:
                    value += f" ({_fmt([f / id_fid for f in fid], digits=2)})"
                row += [value, fmt_effect(effects.get(cell, {}).get(m.key), m.scale)]
            best = _values(table_rows, cell, "best_val_fid")
            epochs = sorted({int(e) for e in _values(table_rows, cell, "best_val_epoch")})
            pub = t.published.get(cell, {})
            row += [
                verdict(effects[cell]) if cell in effects else "baseline",
                _fmt(best) + (f" ({', '.join(map(str, epochs))})" if epochs else ""),
                _fmt(_values(table_rows, cell, "seconds_per_epoch")),
            ] + (
                [f"{pub.get('fid_cartoon', '-')} / {pub.get('fid_photo', '-')}" if pub else "-"]
                if has_pub
                else []
            )
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def bar_plots(matrix: Matrix, table_rows: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for t in matrix.tables.values():
        fig, axes = plt.subplots(1, 2, figsize=(2 + 1.1 * len(t.cells), 3.2))
        for ax, key, label in ((axes[0], "fid", "FID vs cartoons"), (axes[1], "kid", "KID vs cartoons")):
            vals = [_values(table_rows, c, key) for c in t.cells]
            means = [statistics.fmean(v) if v else 0 for v in vals]
            errs = [statistics.stdev(v) if len(v) > 1 else 0 for v in vals]
            ax.bar(
                range(len(t.cells)),
                means,
                yerr=errs,
                capsize=3,
                color=["0.5" if c == t.baseline else "C0" for c in t.cells],
            )
            ax.set_xticks(range(len(t.cells)), t.cells, rotation=40, ha="right", fontsize=7)
            ax.set_title(label, fontsize=9)
        paths.append(_save(fig, t, out / f"{t.name}_bars.png"))
    return paths


def sample_grids(
    matrix: Matrix,
    runs: list[Run],
    photos: list[Path],
    image_size: int,
    out: Path,
    n: int = 8,
    truths: list[Path] | None = None,
) -> list[Path]:
    """One grid per table: the same test photos (top row) through every cell (the first
    finished seed, at the checkpoint the table scores), and on paired data their true
    cartoons (bottom row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from cartoonlab.data.folders import load_rgb
    from cartoonlab.data.transforms import eval_transform, to_tensor, to_uint8_hwc
    from cartoonlab.inference import load_generator, translate_at

    tf = eval_transform(image_size)

    def load(paths: list[Path]) -> torch.Tensor:
        return torch.stack([to_tensor(tf(image=load_rgb(p))["image"]) for p in paths[:n]])

    x = load(photos)
    by_cell = {}
    for r in runs:  # finished runs only, the checkpoint their test figures come from
        ckpt = scored_checkpoint(r.dir)
        if r.cell in by_cell or not is_done(run_state(r)):
            continue
        try:
            if ckpt.exists():
                net = load_generator(ckpt)
                by_cell[r.cell] = to_uint8_hwc(translate_at(net, x, net.work_side))
            elif (r.dir / "samples" / "test.png").is_file():  # committed results carry no weights
                by_cell[r.cell] = test_grid_row(r.dir / "samples" / "test.png", len(x), image_size)
        except (OSError, ValueError, pickle.UnpicklingError) as e:  # the next seed's run may do
            print(f"ablation report: no sample row from {r.dir}: {e}", file=sys.stderr)
    paths = []
    for t in matrix.tables.values():
        cells = [c for c in t.cells if c in by_cell]
        rows_ = [("photo", to_uint8_hwc(x))] + [(c, by_cell[c]) for c in cells]
        rows_ += [("true cartoon", to_uint8_hwc(load(truths)))] if truths else []
        fig, axes = plt.subplots(len(rows_), 1, figsize=(1.1 * len(x), 1.15 * len(rows_)), squeeze=False)
        for ax, (label, imgs) in zip(axes[:, 0], rows_):
            ax.imshow(np.concatenate(list(imgs), axis=1))  # one row: n images side by side
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
        paths.append(_save(fig, t, out / f"{t.name}_samples.png"))
    return paths


def test_grid_row(path: Path, n: int, size: int, pad: int = 2):
    """The translations row of a run's `samples/test.png` (`callbacks.SampleGrid`: photos,
    translations, truths; torchvision's `make_grid` with `pad` pixels between tiles): the
    first `n` test photos as the scored checkpoint translated them, `[n, size, size, 3]`."""
    import numpy as np

    from cartoonlab.data.folders import load_rgb

    grid = load_rgb(path)
    for rows in (3, 2):  # photos, translations[, truths]; a zoomed grid (`samples.zoom`) is shrunk back
        zoom, rest = divmod(grid.shape[0], pad + rows * (size + pad))
        if zoom >= 1 and not rest:
            grid = grid[::zoom, ::zoom]
            break
    cols = (grid.shape[1] - pad) // (size + pad)
    if n > cols or grid.shape[0] < pad + 2 * (size + pad):
        raise ValueError(f"{path} is not a grid of {n} test images of {size} px")
    y = pad + size + pad
    return np.stack(
        [grid[y : y + size, pad + c * (size + pad) : pad + c * (size + pad) + size] for c in range(n)]
    )


def _save(fig, table, path: Path) -> Path:
    """Title, then `save_figure` (atomic)."""
    fig.suptitle(f"{table.name}: {table.title}", fontsize=8)
    return save_figure(fig, path)
