"""laws.fit_power and laws.bootstrap_power on numbers worked out independently: each refit is
the least-squares line of its own draw (the bootstrap's stream replayed by hand, the line by
exact rational arithmetic), the seed-level split uses the variance across draws (ddof 1),
the slope stays exact to rounding for sizes only 1e-6 apart (it is computed from data
centred on both axes), and two points (no degree of freedom) give nan standard errors
silently.

No helper of tests/fit/test_laws_full_*.py or test_*laws*.py fits here (they stub the
saturating profile); the exact least-squares line is worked out below with fractions.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from scalecli.fit import laws


def _exact_line(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line of ly on lx, in exact rationals on the
    given floats, rounded once at the end (independent of laws' numpy formulas)."""
    xs = [Fraction(float(v)) for v in lx]
    ys = [Fraction(float(v)) for v in ly]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True))
    slope = sxy / sum((a - mx) ** 2 for a in xs)
    return float(my - slope * mx), float(slope)


def _exact_lines(lx: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_exact_line on each row: (intercepts, slopes)."""
    lines = [_exact_line(lx, row) for row in rows]
    return np.array([c for c, _ in lines]), np.array([s for _, s in lines])


# ----------------------------------------------------------------------------- fit_power


def test_two_points_leave_no_dof_so_both_standard_errors_are_nan_without_a_warning() -> None:
    """ln x = 1, 3 and ln y = 0, 1: the line through both is b = 0.5, ln a = -0.5, with
    n - 2 = 0 dof, so s^2 is undefined: se(a) and se(b) are nan, set, not 0 / 0 (which
    would warn)."""
    x = np.exp(np.array([1.0, 3.0]))
    y = np.exp(np.array([0.0, 1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = laws.fit_power(x, y)
    assert fit.theta[1] == pytest.approx(0.5, rel=1e-12)
    assert fit.theta[0] == pytest.approx(np.exp(-0.5), rel=1e-12)
    assert fit.se is not None
    assert fit.se.shape == (2,)
    assert np.isnan(fit.se).all()


def test_the_slope_is_exact_to_rounding_for_sizes_one_part_in_a_million_apart() -> None:
    """ln x = 30 + 1e-6 k (k = 0..4) and ln y = 2 + 0.5 (ln x - 30) + 1e-7 (1, -1, 0, -1, 1).

    The residual pattern is orthogonal to 1 and to k, so the exact slope is 0.5; it is
    worked out with fractions on the very floats ln x and ln y. The fit centres both axes,
    so its rounding stays ~1e-16 relative; a sum that leans on sum(ln x - mean) = 0 or
    sum(ln y - mean) = 0 instead picks up mean * (rounding of that sum) / Sxx, with
    Sxx = 1e-11: percent-level here.
    """
    x = np.exp(30.0 + 1e-6 * np.arange(5.0))
    lx = np.log(x)
    ly = 2.0 + 0.5 * (lx - 30.0) + 1e-7 * np.array([1.0, -1.0, 0.0, -1.0, 1.0])
    y = np.exp(ly)
    log_a, b = _exact_line(lx, np.log(y))
    assert b == pytest.approx(0.5, rel=1e-6)  # the design, up to the rounding of exp/log
    fit = laws.fit_power(x, y)
    assert fit.theta[1] == pytest.approx(b, rel=1e-9)
    assert np.log(fit.theta[0]) == pytest.approx(log_a, rel=1e-9, abs=1e-9)


# ----------------------------------------------------------------------- bootstrap_power

# ln x = 0, 1, 2, 3 and ln y = 1 + 0.5 ln x + 0.1 (1, -1, -1, 1): the residual pattern is
# orthogonal to 1 and to ln x, so the fitted line is exactly ln y = 1 + 0.5 ln x with
# RSS = 4 * 0.01 = 0.04 on n - 2 = 2 dof.
LX4 = np.array([0.0, 1.0, 2.0, 3.0])
FITTED4 = 1.0 + 0.5 * LX4
Y4 = np.exp(FITTED4 + 0.1 * np.array([1.0, -1.0, -1.0, 1.0]))


def test_each_power_refit_is_the_least_squares_line_of_its_own_draw() -> None:
    """The stream replayed by hand (chi2 on 2 dof, then standard normals): refit r has
    ln y* = 1 + 0.5 ln x + s_r z_r with s_r = sqrt(0.04 / chi2_r), and its (ln a*, b*) is
    that row's own least-squares line (np.polyfit per row), the intercept from that row's
    own mean."""
    n_boot, seed = 6, 5
    draws, dropped = laws.bootstrap_power(np.exp(LX4), Y4, n_boot, np.random.default_rng(seed))
    ref = np.random.default_rng(seed)
    s = np.sqrt(0.04 / ref.chisquare(2, size=n_boot))
    z = ref.standard_normal((n_boot, 4))
    rows = FITTED4 + s[:, None] * z
    lines = np.array([np.polyfit(LX4, row, 1) for row in rows])  # (slope, intercept)
    assert dropped == 0
    assert draws.shape == (n_boot, 2)
    np.testing.assert_allclose(draws[:, 1], lines[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.log(draws[:, 0]), lines[:, 1], rtol=1e-10, atol=1e-12)


# Seed-level draws (5 draws x 4 points), in units of 0.05. Every column has mean 0 and sum
# of squares 6, 24, 24, 76 (x 0.0025), so across draws with ddof 1
# v_seed = mean(1.5, 6, 6, 19) * 0.0025 = 0.0203125; ddof 0 or 2 give 0.01625 and 0.02708,
# the variance of all 20 entries 0.01711 and the mean variance across points 0.01708.
SEED5 = 0.05 * np.array(
    [
        [2.0, 3.0, -4.0, 5.0],
        [0.0, -1.0, 2.0, -3.0],
        [-1.0, 2.0, 0.0, 4.0],
        [-1.0, -3.0, 2.0, -1.0],
        [0.0, -1.0, 0.0, -5.0],
    ]
)


def test_seed_level_draws_take_the_variance_across_draws_off_the_drawn_scale() -> None:
    """v_seed = mean over points of the across-draws variance (ddof 1) = 0.0203125, worked
    out in fractions; refit r has ln y* = 1 + 0.5 ln x + seed_r + sqrt(max(s_r^2 - v_seed,
    0)) z_r, and its (ln a*, b*) is that row's exact least-squares line. Seed 3 draws scales
    s_r^2 = 0.04 / chi2_r both below and well above v_seed, so the split is seen."""
    n_boot, seed = 5, 3
    cols = [[Fraction(float(v)) for v in SEED5[:, j]] for j in range(4)]
    var = [sum((v - sum(c) / 5) ** 2 for v in c) / 4 for c in cols]
    v_seed = float(sum(var) / 4)
    assert v_seed == pytest.approx(0.0203125, rel=1e-12)
    draws, dropped = laws.bootstrap_power(
        np.exp(LX4), Y4, n_boot, np.random.default_rng(seed), seed_level=SEED5
    )
    ref = np.random.default_rng(seed)
    s2 = 0.04 / ref.chisquare(2, size=n_boot)
    z = ref.standard_normal((n_boot, 4))
    assert (s2 < v_seed).sum() >= 1 and (s2 > 2 * v_seed).sum() >= 2  # the split is exercised
    size_sd = np.sqrt(np.maximum(s2 - v_seed, 0.0))
    rows = FITTED4 + SEED5 + size_sd[:, None] * z
    log_a, b = _exact_lines(LX4, rows)
    assert dropped == 0
    np.testing.assert_allclose(draws[:, 1], b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.log(draws[:, 0]), log_a, rtol=1e-10, atol=1e-12)


def test_power_refits_stay_exact_for_sizes_one_part_in_a_million_apart() -> None:
    """ln x = 30 + 1e-6 k (k = 0..4), ln y = 1e-3 (ln x - 30) + 1e-7 (1, -1, 0, -1, 1): the
    exact line is ln y = -0.03 + 1e-3 ln x (residuals orthogonal to 1 and k), fitted values
    near 0. The seed level moves whole draws by 5, -7, 11 (v_seed ~ 81 >> s^2 ~ 1e-14, so no
    size-level noise is added) plus 1e-6 within each draw: refit r is exactly the line of
    fitted + seed_r, slope 1e-3 + slope(seed_r). With Sxx = 1e-11, a slope that leaned on
    sum(ln x - mean) = 0 or on a row-centred sum being 0 picks up mean * (rounding of that
    sum, ~5e-15 per point) / Sxx: off by several times the slope here, against rtol 1e-7."""
    lx = np.log(np.exp(30.0 + 1e-6 * np.arange(5.0)))
    ly = 1e-3 * (lx - 30.0) + 1e-7 * np.array([1.0, -1.0, 0.0, -1.0, 1.0])
    offsets = np.array([5.0, -7.0, 11.0])
    within = 1e-6 * np.array([[1.0, 0.0, 2.0, -1.0, 0.0], [0.0, 3.0, -2.0, 1.0, 1.0],
                              [-1.0, 0.0, 0.0, 2.0, 4.0]])
    seed_level = offsets[:, None] + within
    c0, c1 = _exact_line(lx, ly)
    assert c1 == pytest.approx(1e-3, rel=1e-6)
    draws, dropped = laws.bootstrap_power(
        np.exp(lx), np.exp(ly), 3, np.random.default_rng(0), seed_level=seed_level
    )
    log_a, b = _exact_lines(lx, c0 + c1 * lx + seed_level)
    assert dropped == 0
    np.testing.assert_allclose(draws[:, 1], b, rtol=1e-7)
    np.testing.assert_allclose(np.log(draws[:, 0]), log_a, rtol=1e-7)
