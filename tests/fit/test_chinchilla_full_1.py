"""Approach 3's compute-optimal N and its bootstrap, against truths known without the code.

optimal_log_n: with flops per token f = 6N e^r0 (r0 constant) the optimum is the closed form
N_opt = G (C / 6 e^r0)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))
(Hoffmann et al. 2022, Eq. 4); with r = ln(f / 6N) varying, where it is held beyond the runs
the closed form of that held value holds there. bootstrap_chinchilla: the seeded rng says which
rows each resample draws, so the counts, the resamples skipped and the refits are known.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from scalecli.fit import chinchilla
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.laws import FitResult
from tests.fit.test_chinchilla_survivors import THETA, huber_sum


def closed_log_n(theta: np.ndarray, c: np.ndarray, r0: float = 0.0) -> np.ndarray:
    """ln N_opt of Hoffmann et al.'s closed form at C / e^r0, for (S, 5) thetas: (S, K)."""
    _, a_, b_, alpha, beta = (theta[:, k:k + 1] for k in range(5))
    s = alpha + beta
    return np.log(alpha * a_ / (beta * b_)) / s + beta / s * (np.log(c / 6.0)[None, :] - r0)


def no_warnings(fn, *args):
    """Call fn with any RuntimeWarning (overflow, log of 0) raised: a user's terminal gets none."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


# ------------------------------------------------------------------------- optimal_log_n


@pytest.mark.parametrize("r0", [0.0, np.log(1.3), 5.0])
def test_optimum_is_the_closed_form_over_the_range_of_exponents_and_budgets(r0):
    # f / 6N = e^r0 at every N (r0 = 0: C = 6 N D exactly), so N_opt is the closed form at
    # C / e^r0 for every theta: alpha, beta from 0.05 to 2, A and B four decades apart,
    # budgets ten decades either side of the runs' (1e18 to 1e20).
    vals = [0.05, 0.1, 0.3, 0.6, 1.0, 2.0]
    ab = [10.0, 400.0, 1e4, 1e6]
    thetas = np.array([[1.7, a_, b_, al, be]
                       for al, be, a_, b_ in itertools.product(vals, vals, ab, ab)])
    flops = np.geomspace(1e10, 1e30, 5)
    fpt = FlopsPerToken(np.array([16.0, 18.0, 20.0]), np.full(3, r0), (1e18, 1e20))
    n, d, _ = no_warnings(chinchilla.optimal_many, thetas, flops, fpt)
    want = closed_log_n(thetas, flops, r0)
    # the golden-section search ends within the float-flat bottom of L: ~1e-6 in ln N
    assert np.max(np.abs(np.log(n) - want)) < 2e-6
    assert np.allclose(d, flops / (6.0 * n * np.exp(r0)), rtol=1e-12)


def step_fpt(theta: np.ndarray, c: float, jump: float) -> tuple[FlopsPerToken, float]:
    """ln(f / 6N) = 0 at 99 sizes, then `jump` at the largest, held beyond it. The sizes lie
    below ln N_opt of both the closed form (r = 0) and that at C / e^jump, so L falls up to
    the latter and rises after it: that closed form is the one optimum. The scan is centred
    on the mean ratio (jump / 100) and reaches |jump| + 5 either way."""
    want = float(closed_log_n(theta[None, :], np.array([c]), jump)[0, 0])
    top = min(want, float(closed_log_n(theta[None, :], np.array([c]))[0, 0])) - 9
    log_n = np.append(np.linspace(top - 11, top - 1, 99), top)
    return FlopsPerToken(log_n, np.append(np.zeros(99), jump), (c, c)), want


def test_optimum_between_the_scans_first_points_is_found():
    # f / 6N jumps to e^250 at the largest size: the optimum is the closed form at C / e^250,
    # 97% of the way from the scan's centre to its lower end, in its first cell just below
    # its second point, while exp() overflows at the scan's far end: found, with no warning.
    theta = np.array([1.0, 400.0, 400.0, 0.001, 1.999])
    fpt, want = step_fpt(theta, 1e20, 250.0)
    got = no_warnings(chinchilla.optimal_log_n, theta[None, :], np.array([1e20]), fpt)
    assert abs(got[0, 0] - want) < 1e-5


def test_optimum_near_the_scans_upper_end_is_found():
    # the mirror: f / 6N falls to e^-400 at the largest size, the optimum sits between the
    # scan's last two points
    theta = np.array([1.0, 400.0, 400.0, 0.001, 1.0])
    fpt, want = step_fpt(theta, 1e20, -400.0)
    got = no_warnings(chinchilla.optimal_log_n, theta[None, :], np.array([1e20]), fpt)
    assert abs(got[0, 0] - want) < 1e-5


def kink_fpt(theta: np.ndarray, c: float, top: float, zeros: int) -> tuple[FlopsPerToken, float]:
    """A ratio whose L(N, C / f(N)) falls until a kink and rises after it: the kink is the
    optimum, known by construction.

    With u = ln N, dL/du = alpha A e^(-alpha u) ((1 + r') q - 1), where ln q = (alpha + beta)
    (u - u0) + beta r and u0 is the closed form at r = 0. From u0 on, pieces with
    1 + r' = 0.99 e^(-ln q at the piece's end) keep (1 + r') q < 1, so L falls, until
    ln q = top; beyond, r is held (r' = 0) with q > 1, so L rises. `zeros` sizes below u0 with
    r = 0 (where q < 1: L falls) hold the mean ratio, and so the scan's centre, near 0."""
    alpha, beta = theta[3], theta[4]
    u = float(closed_log_n(theta[None, :], np.array([c]))[0, 0])
    r, y = 0.0, 0.0
    us, rs = [u], [r]
    while y < top - 1e-9:  # steps of 1 in ln q
        slope = 0.99 * np.exp(-(y + 1.0))  # 1 + r'
        h = 1.0 / (alpha + beta * slope)
        u, r, y = u + h, r + (slope - 1.0) * h, y + 1.0
        us.append(u)
        rs.append(r)
    log_n = np.concatenate([np.linspace(us[0] - 30, us[0] - 20, zeros), us])
    ratio = np.concatenate([np.zeros(zeros), rs])
    return FlopsPerToken(log_n, ratio, (c, c)), us[-1]


def reducible(theta: np.ndarray, c: float, fpt: FlopsPerToken, u: np.ndarray) -> np.ndarray:
    """A / N^alpha + B / D^beta at D = C / f(N), written out here."""
    _, a_, b_, alpha, beta = theta
    log_d = np.log(c / 6.0) - u - np.interp(u, fpt.log_n, fpt.log_ratio)
    return a_ * np.exp(-alpha * u) + b_ * np.exp(-beta * log_d)


def test_optimum_at_a_kink_of_the_ratio_is_found_for_small_exponents():
    # alpha = beta = 0.1: f / 6N falling with N (to e^-71, d ln f / d ln N down to 3e-4)
    # puts the optimum at a kink 75 in ln N above the closed form; the scan, 2 / (alpha +
    # beta) = 10 wider each way for the slope of f, must reach it
    theta = np.array([1.7, 400.0, 400.0, 0.1, 0.1])
    fpt, want = kink_fpt(theta, 1e20, 8.0, 100_000)
    u = np.linspace(want - 200, want + 200, 400_001)
    assert abs(u[np.argmin(reducible(theta, 1e20, fpt, u))] - want) < 2e-3  # the kink is it
    got = no_warnings(chinchilla.optimal_log_n, theta[None, :], np.array([1e20]), fpt)
    assert abs(got[0, 0] - want) < 1e-4


def test_optimum_beyond_the_scan_is_nan_never_the_scans_end():
    # alpha = 0.001: the same construction puts the kink past the scan's upper end (the
    # scan allows slopes of f worth 2 / (alpha + beta), and alpha this small needs more).
    # A scan whose lowest point is its end brackets nothing: the answer is NaN (or, if the
    # scan ever reaches further, the kink), not a point at the scan's end, and no error.
    theta = np.array([1.7, 400.0, 400.0, 0.001, 1.0])
    fpt, want = kink_fpt(theta, 1e20, 8.0, 100_000)
    u = np.linspace(want - 50, want + 50, 100_001)
    assert abs(u[np.argmin(reducible(theta, 1e20, fpt, u))] - want) < 2e-3
    got = no_warnings(chinchilla.optimal_log_n, theta[None, :], np.array([1e20]), fpt)[0, 0]
    assert np.isnan(got) or abs(got - want) < 1e-4


def test_thetas_without_an_optimum_give_nan_and_leave_the_others_alone():
    # a bootstrap refit is unconstrained: alpha or beta may come out 0 or negative, where
    # L(N, C / 6N) has no minimum; those rows are NaN, silently, the others the closed form
    good = THETA.copy()
    bad = [np.r_[THETA[:3], 0.0, 0.28], np.r_[THETA[:3], 0.34, 0.0],
           np.r_[THETA[:3], -0.1, 0.28], np.full(5, np.nan)]
    thetas = np.array([good, *bad, good])
    flops = np.array([1e19, 1e23])
    fpt = FlopsPerToken(np.array([16.0, 20.0]), np.zeros(2), (1e18, 1e20))
    got = no_warnings(chinchilla.optimal_log_n, thetas, flops, fpt)
    assert np.isnan(got[1:5]).all()
    want = closed_log_n(good[None, :], flops)[0]
    assert np.max(np.abs(got[[0, 5]] - want)) < 2e-6


# -------------------------------------------------------------------- bootstrap_chinchilla

INTERNAL = np.array([np.log(THETA[1]), np.log(THETA[2]), np.log(THETA[0]), THETA[3], THETA[4]])


def point(ranked: np.ndarray | None = None) -> FitResult:
    """The point estimate as fit_chinchilla leaves it: the truth, and 4 ranked grid starts."""
    ranked = chinchilla.chinchilla_grid()[[2000, 3000, 1000, 4000]] if ranked is None else ranked
    return FitResult("chinchilla", THETA, True, "",
                     extra={"internal": INTERNAL, "ranked_starts": ranked})


def draws(seed: int, rows: int, n_boot: int) -> list[np.ndarray]:
    """Each resample's row counts: `rows` rows drawn with replacement from the seeded rng."""
    rng = np.random.default_rng(seed)
    return [np.bincount(rng.integers(0, rows, rows), minlength=rows) for _ in range(n_boot)]


# 2 sizes x 2 token counts: a resample of 4 rows often holds one size or one token count
N4 = np.array([1e7, 1e7, 1e9, 1e9])
D4 = np.array([1e9, 1e11, 1e9, 1e11])


def test_resamples_with_one_size_or_one_token_count_are_counted_as_skipped():
    loss = chinchilla.chinchilla_predict(THETA, N4, D4)
    want = 0
    for counts in draws(2, 4, 40):
        used = counts > 0
        want += len(set(N4[used])) < 2 or len(set(D4[used])) < 2
    assert 3 <= want <= 37  # skips and refits both (7 of 40 here)
    thetas, skipped = chinchilla.bootstrap_chinchilla(N4, D4, loss, point(), 40,
                                                      np.random.default_rng(2))
    assert skipped == want
    assert thetas.shape == (40 - want, 5)


def test_each_refit_starts_from_the_point_and_two_grid_starts_weighted_by_its_counts(
        monkeypatch):
    loss = chinchilla.chinchilla_predict(THETA, N4, D4) * np.array([1.01, 0.99, 1.0, 1.02])
    calls = []
    real = chinchilla._lbfgsb

    def spy(p0, log_n, log_d, log_l, weights=None, tight=False):
        calls.append((np.array(p0), log_n, log_d, log_l, weights))
        return real(p0, log_n, log_d, log_l, weights, tight)

    monkeypatch.setattr(chinchilla, "_lbfgsb", spy)
    fit = point()
    chinchilla.bootstrap_chinchilla(N4, D4, loss, fit, 8, np.random.default_rng(5))
    kept = [c for c in draws(5, 4, 8)
            if len(set(N4[c > 0])) == 2 and len(set(D4[c > 0])) == 2]
    assert kept and len(calls) == 3 * len(kept)
    starts = [INTERNAL, *fit.extra["ranked_starts"][:2]]
    for i, (p0, log_n, log_d, log_l, weights) in enumerate(calls):
        assert np.array_equal(p0, starts[i % 3])
        assert np.array_equal(log_n, np.log(N4)) and np.array_equal(log_d, np.log(D4))
        assert np.array_equal(log_l, np.log(loss))
        assert np.array_equal(weights, kept[i // 3])


def test_refits_of_exact_data_are_the_truth():
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 1e9, 4), np.geomspace(1e9, 1e11, 4)))
    loss = chinchilla.chinchilla_predict(THETA, n, d)
    thetas, skipped = chinchilla.bootstrap_chinchilla(n, d, loss, point(), 3,
                                                      np.random.default_rng(0))
    assert skipped == 0
    assert np.allclose(thetas, THETA, rtol=1e-4)


def test_each_refit_is_the_best_fit_of_its_own_resample():
    # 1% noise: each resample's counts weight the Huber sum differently, so each refit is
    # its own optimum (better, on its counts, than any other draw's) and they differ
    rng = np.random.default_rng(0)
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 1e9, 4), np.geomspace(1e9, 1e11, 4)))
    loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(rng.normal(0, 0.01, n.size))
    thetas, skipped = chinchilla.bootstrap_chinchilla(n, d, loss, point(), 4,
                                                      np.random.default_rng(3))
    assert skipped == 0 and thetas.shape == (4, 5)
    counts = draws(3, n.size, 4)

    def weighted(theta, w):
        r = np.log(chinchilla.chinchilla_predict(theta, n, d)) - np.log(loss)
        return sum(k * huber_sum(r[i:i + 1]) for i, k in enumerate(w))

    for i, w in enumerate(counts):
        own = weighted(thetas[i], w)
        others = [weighted(t, w) for j, t in enumerate(thetas) if j != i]
        assert own < min(others) * (1 - 1e-6)
    assert np.ptp(thetas[:, 3]) > 1e-3  # alpha moves between resamples
