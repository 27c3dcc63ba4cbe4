"""Known answers for the ablation statistics (`cartoonlab.ablation.stats`)."""

import numpy as np
import pytest
from scipy import stats as sp

from cartoonlab.ablation.stats import Effect, hierarchical_bootstrap, holm, welch


def test_holm_matches_the_textbook_step_down():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept monotone: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)], "capped at 1"
    assert holm([0.04]) == [0.04], "one comparison: nothing to correct"


def test_welch_matches_scipy_and_a_hand_computed_interval():
    a, b = [10.0, 12.0, 14.0], [20.0, 21.0, 25.0]
    e = welch(a, b)
    assert e.diff == pytest.approx(-10.0)
    assert e.p == pytest.approx(sp.ttest_ind(a, b, equal_var=False).pvalue)
    se = np.sqrt(4 / 3 + 7 / 3)  # variances 4 and 7, three values each
    df = (4 / 3 + 7 / 3) ** 2 / ((4 / 3) ** 2 / 2 + (7 / 3) ** 2 / 2)
    t = sp.t.ppf(0.975, df)
    assert (e.lo, e.hi) == pytest.approx((-10 - t * se, -10 + t * se))
    assert e.mde == pytest.approx((t + sp.t.ppf(0.8, df)) * se)
    assert welch([1.0], [2.0, 3.0]) is None, "one seed has no spread"


def test_bootstrap_finds_a_paired_shift_that_image_noise_would_hide():
    rng = np.random.default_rng(1)
    images = rng.normal(0.3, 0.1, size=500)  # per-image difficulty, shared by both cells
    base = images + rng.normal(0, 0.002, size=(3, 500))
    cell = images + 0.01 + rng.normal(0, 0.002, size=(3, 500))
    e = hierarchical_bootstrap(cell, base, n_boot=500)
    assert e.diff == pytest.approx(0.01, abs=1e-3) and e.lo < 0.01 < e.hi and e.lo > 0
    assert e.p == pytest.approx(1 / 500) and e.shown()
    # the same shift with the pairing broken (the cell's images in another order) is lost in
    # the spread between images: pairing per image is where the power comes from
    unpaired = hierarchical_bootstrap(cell[:, rng.permutation(500)], base, n_boot=500)
    assert unpaired.se > 5 * e.se and not unpaired.shown()


def test_bootstrap_standard_error_is_that_of_a_mean_over_images():
    rng = np.random.default_rng(2)
    sigma, n = 0.05, 400
    base = np.zeros((3, n))  # no seed spread: only the images vary
    cell = np.tile(rng.normal(0, sigma, size=n), (3, 1))
    e = hierarchical_bootstrap(cell, base, n_boot=2000)
    assert e.se == pytest.approx(sigma / np.sqrt(n), rel=0.15)
    assert e.lo < 0 < e.hi and not e.shown(), "no effect: the interval covers 0"


def test_bootstrap_counts_the_seed_spread():
    rng = np.random.default_rng(3)
    seeds = np.array([[-0.05], [0.0], [0.05]])  # seeds differ by far more than images
    cell = seeds + rng.normal(0, 0.001, size=(3, 300))
    base = np.zeros((3, 300)) + rng.normal(0, 0.001, size=(3, 300))
    e = hierarchical_bootstrap(cell, base, n_boot=1000)
    assert e.se > 0.01, "resampling seeds shows the spread between them"
    with pytest.raises(ValueError, match="same images"):
        hierarchical_bootstrap(np.zeros((3, 5)), np.zeros((3, 6)))


def test_an_effect_is_shown_only_when_holm_and_the_interval_agree():
    e = Effect(diff=2.0, lo=0.5, hi=3.5, p=0.01, se=0.7, mde=2.0, p_holm=0.08)
    assert not e.shown(), "significant alone, not after correction"
    assert Effect(diff=2.0, lo=0.5, hi=3.5, p=0.01, se=0.7, mde=2.0, p_holm=0.02).shown()
