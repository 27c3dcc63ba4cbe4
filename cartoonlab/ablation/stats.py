"""Effects of a cell against its table's baseline, with 95 % intervals, Holm-corrected
p-values and the smallest effect the data could have detected.

- Style (FID, KID): one number per run, so the unit is the seed. `welch`: the mean
  difference, Welch's t interval and p-value.
- Content (L1, SSIM to the true cartoon): one number per test image per run, on the same
  test images for every cell. `hierarchical_bootstrap`: each replicate draws the images
  once for both cells (paired per image) and each cell's seeds with replacement; the
  interval is the percentile interval of the replicated mean differences. With few
  seeds the seed level is resampled coarsely (3 seeds give 10 distinct draws), which
  makes the interval somewhat narrow: read effects near the edge with care.
- `holm`: Holm's step-down adjustment over the comparisons of one table.
- `Effect.mde`: the smallest true difference that this comparison would call real with
  80 % power at the given alpha, from its own standard error; an effect that is not
  shown is "not separable at this budget", never "no effect".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

POWER = 0.8


@dataclass
class Effect:
    diff: float  # cell - baseline
    lo: float
    hi: float
    p: float
    se: float
    mde: float  # at alpha and POWER (see the module docstring)
    p_holm: float | None = None

    def shown(self, alpha: float = 0.05) -> bool:
        """Real at `alpha` after Holm's correction, and the interval agrees."""
        p = self.p if self.p_holm is None else self.p_holm
        return p < alpha and (self.lo > 0 or self.hi < 0)


def welch(a: list[float], b: list[float], alpha: float = 0.05) -> Effect | None:
    """mean(a) - mean(b) with Welch's t interval (1 - alpha) and two-sided p; None with
    fewer than two values on a side."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = math.sqrt(va + vb)
    diff = float(np.mean(a) - np.mean(b))
    if se == 0:
        return Effect(diff, diff, diff, 0.0 if diff else 1.0, 0.0, 0.0)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = stats.t.ppf(1 - alpha / 2, df)
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    mde = float((t + stats.t.ppf(POWER, df)) * se)
    return Effect(diff, diff - t * se, diff + t * se, p, se, mde)


def hierarchical_bootstrap(
    a: np.ndarray, b: np.ndarray, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
) -> Effect:
    """Mean difference of per-image scores `a` `[seeds_a, images]` and `b` `[seeds_b, images]`
    (the same images, in the same order, in both), resampling images jointly and seeds per
    cell; percentile interval, two-sided bootstrap p (at least 1 / n_boot)."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need [seeds, images] arrays over the same images, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        images = rng.integers(n, size=n)
        sa = rng.integers(a.shape[0], size=a.shape[0])
        sb = rng.integers(b.shape[0], size=b.shape[0])
        diffs[i] = a[sa][:, images].mean() - b[sb][:, images].mean()
    diff = float(a.mean() - b.mean())
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, max(2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)), 1 / n_boot))
    se = float(diffs.std(ddof=1))
    mde = float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(POWER)) * se)
    return Effect(diff, float(lo), float(hi), float(p), se, mde)


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values, in the input order (None stays None and does not count)."""
    idx = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = running
    return out
