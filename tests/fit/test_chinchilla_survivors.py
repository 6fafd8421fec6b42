"""What approach 3's fit, approaches 1 and 2 and the holdout check report, checked against
numbers known independently of the code: an independent Huber sum, exact parabolas, an
exact optimum, the quantiles of a normal distribution."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from scalecli.fit import analysis, chinchilla
from scalecli.fit.envelope import analyse_envelope
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.isoflop import MIN_POINTS, Budget, analyse_isoflop

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta (Hoffmann et al.)


def huber_sum(r: np.ndarray, delta: float = 1e-3) -> float:
    """sum Huber_delta(r), written out here, not taken from the code under test."""
    a = np.abs(r)
    return float(np.sum(np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))))


def test_chinchilla_fit_reports_its_huber_objective_unscaled_and_says_it_converged():
    # 1% noise puts most log residuals above delta = 1e-3, so the objective is of order
    # delta * sum |r|; the optimiser works on it divided by delta, and the result must be
    # scaled back (bench/fit_speed.py compares it with a full grid loop's).
    rng = np.random.default_rng(0)
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 1e9, 6), np.geomspace(1e9, 1e11, 5)))
    loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(rng.normal(0, 0.01, n.size))
    fit = chinchilla.fit_chinchilla(n, d, loss)
    assert fit.converged
    assert fit.message == "L-BFGS-B converged"  # the text fit.json carries, its case too
    r = np.log(chinchilla.chinchilla_predict(fit.theta, n, d)) - np.log(loss)
    want = huber_sum(r)
    assert 1e-5 < want < 1e-3  # of order delta * n * 0.01: far from 0, so scale shows
    assert np.isclose(fit.extra["objective"], want, rtol=1e-6)


def exact_budget(flops: float, v: float, sizes: int) -> Budget:
    """`sizes` points spaced 0.5 in ln N about v, on loss = 3 + 0.1 (ln N - v)^2 exactly,
    with C = 6 N D."""
    log_n = v + 0.5 * (np.arange(sizes) - (sizes - 1) / 2)
    loss = 3.0 + 0.1 * (log_n - v) ** 2
    return Budget(flops, flops, log_n, loss, np.log(flops / 6.0) - log_n)


def test_isoflop_accepts_a_budget_of_exactly_min_points_sizes_and_n_boot_0_draws_none():
    # Two budgets a decade apart whose vertices move by 0.6 in ln N: a = 0.6 / ln 10,
    # b = 1 - a (C = 6 N D). Each has MIN_POINTS sizes, two on each side of its vertex:
    # the least the checks accept, so both must be.
    c1, c2 = 1e18, 1e19
    v1 = 17.0
    budgets = [exact_budget(c1, v1, MIN_POINTS), exact_budget(c2, v1 + 0.6, MIN_POINTS)]
    out = analyse_isoflop(budgets, n_boot=0)
    assert [b["accepted"] for b in out["budgets"]] == [True, True]
    assert np.isclose(out["params"]["a_opt"]["value"], 0.6 / np.log(10.0), rtol=1e-9)
    assert np.isclose(out["params"]["b_opt"]["value"], 1 - 0.6 / np.log(10.0), rtol=1e-9)
    assert np.isclose(out["budgets"][0]["n_opt"], np.exp(v1), rtol=1e-9)
    # --bootstrap 0: no draws at all, so no interval
    assert out["bootstrap"]["n_ok"] == 0
    assert out["params"]["a_opt"]["ci_low"] is None and out["params"]["a_opt"]["ci_high"] is None
    # one size fewer is refused, with the reason
    short = analyse_isoflop([exact_budget(c1, v1, MIN_POINTS - 1), budgets[1]], n_boot=0)
    assert short["budgets"][0]["reason"] == "too_few_points"


def envelope_budgets() -> list[Budget]:
    """5 budgets, 7 sizes each about the true optimum, 1% noise: the envelope moves with
    the noise, so its interval depends on the random draws."""
    rng = np.random.default_rng(1)
    flops = np.geomspace(1e18, 1e20, 5)
    out = []
    for c, n0 in zip(flops, chinchilla.compute_optimal(THETA, flops)["N_opt"], strict=True):
        n = n0 * 2.0 ** np.arange(-3, 4)
        d = c / (6 * n)
        loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(rng.normal(0, 0.01, n.size))
        out.append(Budget(float(c), float(c), np.log(n), loss, np.log(d)))
    return out


def test_envelope_interval_is_reproducible_from_its_seed():
    budgets = envelope_budgets()

    def ci(seed: int) -> tuple:
        p = analyse_envelope(budgets, n_boot=100, seed=seed, seed_sd=0.03)["params"]["a_opt"]
        return p["ci_low"], p["ci_high"]

    first = ci(3)
    assert None not in first
    assert ci(3) == first  # fit.json records the seed: the same seed, the same interval
    assert ci(4) != first  # and the interval does come from the draws


def test_holdout_interval_is_the_central_95_percent_of_the_seed_noise():
    # An exact power law: every bootstrap refit is the truth, so the interval is the
    # held-out prediction times exp(N(0, s)) draws, whose 2.5% and 97.5% quantiles are
    # exp(-+1.96 s). With 20,000 draws the sample quantile's sd is 0.019 s, so 0.1 s is
    # over 5 sd; the 98.5% quantile (2.17 s) would be 11 sd off.
    x = np.geomspace(1e5, 1e7, 8)
    y = 60.0 * x ** -0.08
    s = 0.05
    check, note = analysis.extrapolation_check("power", x, y, None, holdout=1, n_boot=20000,
                                               seed=0, noise_sd_log=s)
    pred = check["predicted"][0]
    assert np.isclose(pred, y[-1], rtol=1e-9)
    z = norm.ppf(0.975)
    assert abs(np.log(check["high"][0] / pred) / s - z) < 0.1
    assert abs(np.log(check["low"][0] / pred) / s + z) < 0.1
    assert check["inside"] == [True]
    assert "1 of 1 inside its 95% prediction interval" in note


def test_compute_optimum_is_found_near_the_top_of_the_scan():
    # The scan of ln N is centred on the closed form at the mean of ln(f / 6N) and spans
    # its range and 5 more (alpha + beta > 1). Here f / 6N is 1 at 99 small sizes and
    # e^-200 at the largest (a contrived ratio), held beyond it: D is e^200 C / 6N there,
    # so the exact optimum is the closed form at e^200 C, near the scan's upper end (its
    # second-to-last point). The golden-section search between that point's neighbours
    # must still find it.
    theta = np.array([1.0, 400.0, 400.0, 0.001, 1.0])
    _, a_, b_, alpha, beta = theta
    s = alpha + beta
    c = 1e20
    log_g = (np.log(alpha * a_) - np.log(beta * b_)) / s
    closed = log_g + beta / s * np.log(c / 6.0)  # ln N_opt with f = 6N
    ratio = np.zeros(100)
    ratio[-1] = -200.0
    fpt = FlopsPerToken(np.append(np.linspace(closed - 20, closed - 10, 99), closed - 9),
                        ratio, (c, c))
    want = log_g + beta / s * (np.log(c / 6.0) + 200.0)
    got = chinchilla.compute_optimal(theta, np.array([c]), fpt)
    assert np.isclose(np.log(got["N_opt"]), want, atol=1e-5)
    # D_opt = C / f(N_opt) with f = 6 N e^-200 there
    assert np.isclose(np.log(got["D_opt"]), np.log(c / 6.0) + 200.0 - want, atol=1e-5)
