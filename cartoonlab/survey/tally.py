"""`cartoonlab survey tally survey/`: preference shares, intervals, pairwise tests, agreement.

- Share of a cell: the fraction of all answers that picked it, with a 95 % Wilson score
  interval (answers treated as independent) and a 95 % bootstrap interval that resamples
  participants (answers of one person are correlated: this one is the honest width).
- Pairwise: for cells a and b, among the answers that picked either, an exact two-sided
  binomial (sign) test of "a and b are picked equally often".
- Agreement: Fleiss' kappa over questions answered by two or more participants (items
  with different numbers of raters, Fleiss 1971's pooled form); 0 = chance, 1 = unanimous.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from cartoonlab.survey.build import KEY
from cartoonlab.survey.store import Store
from cartoonlab.utils import atomic_write_text, save_figure

Z95 = 1.959963984540054


@dataclass
class Tally:
    cells: list[str]
    answers: list[tuple[str, str, str]]  # (participant, question, cell)

    @property
    def counts(self) -> Counter:
        return Counter(cell for _, _, cell in self.answers)

    def shares(self, n_boot: int = 2000, seed: int = 0) -> list[dict]:
        n, counts = len(self.answers), self.counts
        boot = bootstrap_shares(self.answers, self.cells, n_boot, seed)
        return [
            {
                "cell": c,
                "votes": counts[c],
                "share": counts[c] / n if n else math.nan,
                "wilson": wilson(counts[c], n),
                "bootstrap": boot[c],
            }
            for c in self.cells
        ]

    def pairwise(self) -> list[dict]:
        from scipy.stats import binomtest

        counts, out = self.counts, []
        for a, b in itertools.combinations(self.cells, 2):
            k, m = counts[a], counts[a] + counts[b]
            out.append(
                {
                    "a": a,
                    "b": b,
                    "a_votes": k,
                    "b_votes": m - k,
                    "p": binomtest(k, m, 0.5).pvalue if m else math.nan,
                }
            )
        return out

    def kappa(self) -> float | None:
        by_q: dict[str, Counter] = defaultdict(Counter)
        for _, q, cell in self.answers:
            by_q[q][cell] += 1
        return fleiss_kappa(list(by_q.values()))

    @property
    def participants(self) -> int:
        return len({p for p, _, _ in self.answers})


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p, d = k / n, 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_shares(answers, cells, n_boot: int, seed: int) -> dict[str, tuple[float, float]]:
    """95 % percentile intervals of each cell's share, resampling participants."""
    import numpy as np

    people = sorted({p for p, _, _ in answers})
    if not people:
        return {c: (math.nan, math.nan) for c in cells}
    index = {c: j for j, c in enumerate(cells)}
    per = np.zeros((len(people), len(cells)))
    row = {p: i for i, p in enumerate(people)}
    for p, _, cell in answers:
        per[row[p], index[cell]] += 1
    draws = np.random.default_rng(seed).integers(0, len(people), (n_boot, len(people)))
    sums = per[draws].sum(axis=1)  # n_boot x cells
    shares = sums / sums.sum(axis=1, keepdims=True)
    lo, hi = np.percentile(shares, [2.5, 97.5], axis=0)
    return {c: (float(lo[j]), float(hi[j])) for c, j in index.items()}


def fleiss_kappa(items: list[dict[str, int]]) -> float | None:
    """Fleiss' kappa of items given as {category: ratings}; items with fewer than 2 ratings
    are left out; None when it is undefined (no such item, or one category only)."""
    items = [c for c in items if sum(c.values()) >= 2]
    if not items:
        return None
    agree, totals = [], Counter()
    for counts in items:
        n = sum(counts.values())
        agree.append((sum(x * x for x in counts.values()) - n) / (n * (n - 1)))
        totals.update(counts)
    n_all = sum(totals.values())
    p_e = sum((x / n_all) ** 2 for x in totals.values())
    return None if p_e >= 1 else (sum(agree) / len(agree) - p_e) / (1 - p_e)


def load(folder: str | Path) -> Tally:
    folder = Path(folder)
    if not (folder / KEY).is_file():
        raise FileNotFoundError(
            2, "Not a survey folder (`cartoonlab survey build` writes one)", str(folder / KEY)
        )
    key = json.loads((folder / KEY).read_text())
    db = folder / "answers.sqlite"
    if not db.is_file():
        raise FileNotFoundError(2, "No answers yet (`cartoonlab survey serve` writes them)", str(db))
    answers = [(p, q, key["options"][c]) for p, q, c, _ in Store(db).rows() if c in key["options"]]
    return Tally(key["cells"], answers)


def markdown(t: Tally) -> str:
    """The tally as markdown: shares with both intervals, pairwise tests, agreement."""
    kappa = t.kappa()
    lines = [
        f"Survey: {len(t.answers)} answers from {t.participants} participant(s) "
        f"(Fleiss' kappa {'n/a' if kappa is None else f'{kappa:.2f}'}).",
        "",
        "| option | votes | share | 95% CI (Wilson) | 95% CI (bootstrap over participants) |",
        "|---|---|---|---|---|",
    ]
    for r in t.shares():
        lines.append(
            f"| `{r['cell']}` | {r['votes']} | {_pct(r['share'])} "
            f"| {_ci(r['wilson'])} | {_ci(r['bootstrap'])} |"
        )
    pairs = t.pairwise()
    if pairs:
        lines += ["", "| pair | votes | p (exact binomial, two-sided) |", "|---|---|---|"]
        lines += [
            f"| `{r['a']}` vs `{r['b']}` | {r['a_votes']} : {r['b_votes']} | {_p(r['p'])} |" for r in pairs
        ]
    return "\n".join(lines) + "\n"


def bar_plot(t: Tally, path: Path) -> Path:
    """Shares with their bootstrap intervals, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = t.shares()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(rows), 3))
    shares = [r["share"] for r in rows]
    err = [
        [s - r["bootstrap"][0] for s, r in zip(shares, rows)],
        [r["bootstrap"][1] - s for s, r in zip(shares, rows)],
    ]
    ax.bar([r["cell"] for r in rows], shares, yerr=err, capsize=4, color="#4c72b0")
    ax.set_ylabel("share of answers")
    ax.set_ylim(0, 1)
    ax.set_title(f"closest in style: {len(t.answers)} answers, {t.participants} participants", fontsize=9)
    return save_figure(fig, path)


def write(folder: str | Path, t: Tally, export: str | None = None) -> list[Path]:
    """tally.md and tally.png (and with export="csv" tally.csv and answers.csv) in `folder`."""
    folder = Path(folder)
    if not t.answers:
        raise ValueError(f"{folder / 'answers.sqlite'} holds no answers yet")
    written = [folder / "tally.md", bar_plot(t, folder / "tally.png")]
    atomic_write_text(written[0], markdown(t))
    if export == "csv":
        rows = [[r["cell"], r["votes"], r["share"], *r["wilson"], *r["bootstrap"]] for r in t.shares()]
        written += [
            _csv(
                folder / "tally.csv",
                ["option", "votes", "share", "wilson_low", "wilson_high", "bootstrap_low", "bootstrap_high"],
                rows,
            ),
            _csv(folder / "answers.csv", ["participant", "question", "option"], t.answers),
        ]
    return written


def _csv(path: Path, header: list[str], rows) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    atomic_write_text(path, buf.getvalue())
    return path


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f} %"


def _ci(ci: tuple[float, float]) -> str:
    return "-" if math.isnan(ci[0]) else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f} %"


def _p(p: float) -> str:
    return "-" if math.isnan(p) else f"{p:.3f}" if p >= 0.001 else "< 0.001"
