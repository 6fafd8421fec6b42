"""The maths of `scalecli fit`: recovery of known parameters, coverage of the bootstrap
intervals, published numbers, gradients and the compute-optimal algebra."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import approx_fprime

from scalecli import chinchilla, fit, laws

NOISE = 0.01  # 1% lognormal multiplicative noise


def noisy(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return y * np.exp(rng.normal(0.0, NOISE, y.size))


def chinchilla_data(n_points: int = 60, seed: int = 0):
    """Points over 3 decades of N and D from Chinchilla's own fit (Hoffmann 2022, Eq. 10)."""
    rng = np.random.default_rng(seed)
    theta = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
    n = np.exp(rng.uniform(np.log(1e6), np.log(1e9), n_points))
    d = np.exp(rng.uniform(np.log(1e8), np.log(1e11), n_points))
    return theta, n, d, noisy(chinchilla.chinchilla_predict(theta, n, d), rng)


# ---------------------------------------------------------------------------- recovery


def test_power_recovers_exponent():
    rng = np.random.default_rng(0)
    x = np.logspace(5, 8, 40)
    result = laws.fit_power(x, noisy(3e3 * x**-0.25, rng))
    assert result.converged
    assert abs(result.theta[1] - -0.25) < 0.01
    assert_allclose(result.theta[0], 3e3, rtol=0.15)


def test_saturating_recovers_parameters():
    rng = np.random.default_rng(1)
    x = np.logspace(6, 9, 40)
    result = laws.fit_saturating(x, noisy(1.7 + 400.0 * x**-0.34, rng))
    assert result.converged
    e_, _, alpha = result.theta
    assert abs(alpha - 0.34) < 0.03
    assert_allclose(e_, 1.7, rtol=0.05)


def test_chinchilla_recovers_exponents():
    theta, n, d, loss = chinchilla_data()
    result = chinchilla.fit_chinchilla(n, d, loss)
    assert result.converged
    assert abs(result.theta[3] - theta[3]) < 0.03
    assert abs(result.theta[4] - theta[4]) < 0.03


# ---------------------------------------------------------------------------- coverage


def _coverage(form: str, truth: np.ndarray, make_y, n_boot: int, reps: int = 50) -> np.ndarray:
    """Fraction of `reps` seeded data sets whose 95% CI holds each true parameter.

    With 200 refits the percentile noise alone costs about a point of coverage; power
    uses the CLI's default 1,000 (vectorised, cheap). Over 1,000 repetitions the power
    slope's 1,000-refit CI covers 93.4%.
    """
    x = np.logspace(6, 9, 40)
    hits = np.zeros(truth.size)
    for rep in range(reps):
        rng = np.random.default_rng(100 + rep)
        y = noisy(make_y(x), rng)
        point = fit.fit_form(form, x, y)
        boots, _ = fit.bootstrap_form(form, x, y, None, point, n_boot, rng)
        lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
        hits += (lo <= truth) & (truth <= hi)
    return hits / reps


def test_power_bootstrap_coverage():
    truth = np.array([3e3, -0.25])
    coverage = _coverage("power", truth, lambda x: truth[0] * x ** truth[1], n_boot=1000)
    assert np.all(coverage >= 0.9), coverage


def test_saturating_bootstrap_coverage():
    truth = np.array([1.7, 400.0, 0.34])
    coverage = _coverage("saturating", truth, lambda x: laws.saturating_predict(truth, x), 200)
    assert np.all(coverage >= 0.9), coverage


# ---------------------------------------------------------------- published numbers

# GPT-2 on OpenWebText, val loss in nats at 124M, 350M, 774M, 1558M params
# (karpathy/nanoGPT README, "baselines").
GPT2_OWT_PARAMS = np.array([124e6, 350e6, 774e6, 1558e6])
GPT2_OWT_LOSS = np.array([3.12, 2.84, 2.67, 2.54])
# GPT-2 zero-shot WikiText-103 perplexity at 117M, 345M, 762M, 1542M params
# (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", Table 3).
GPT2_WT103_PARAMS = np.array([117e6, 345e6, 762e6, 1542e6])
GPT2_WT103_PPL = np.array([37.50, 26.37, 22.05, 17.48])


def test_gpt2_openwebtext_loss_exponent():
    result = laws.fit_power(GPT2_OWT_PARAMS, GPT2_OWT_LOSS)
    assert abs(result.theta[1] - -0.0814) <= 0.001
    # The same line by an independent route.
    slope = np.polyfit(np.log(GPT2_OWT_PARAMS), np.log(GPT2_OWT_LOSS), 1)[0]
    assert_allclose(result.theta[1], slope, rtol=1e-10)


def test_gpt2_wikitext_perplexity_exponent():
    result = laws.fit_power(GPT2_WT103_PARAMS, GPT2_WT103_PPL)
    assert abs(result.theta[1] - -0.290) <= 0.002


def test_power_standard_error_matches_scipy():
    from scipy.stats import linregress

    reg = linregress(np.log(GPT2_WT103_PARAMS), np.log(GPT2_WT103_PPL))
    result = laws.fit_power(GPT2_WT103_PARAMS, GPT2_WT103_PPL)
    assert_allclose(result.se[1], reg.stderr, rtol=1e-10)


# ------------------------------------------------------------------ pieces of the fits


def test_chinchilla_gradient_matches_finite_differences():
    _, n, d, loss = chinchilla_data(30)
    args = (np.log(n), np.log(d), np.log(loss))
    weights = np.random.default_rng(0).integers(0, 3, n.size).astype(float)
    for p in ([5.0, 6.0, 0.5, 0.3, 0.3], [10.0, 0.0, -1.0, 1.0, 0.5]):
        p = np.array(p)
        _, grad = chinchilla.chinchilla_objective(p, *args, weights)
        numeric = approx_fprime(
            p, lambda q: chinchilla.chinchilla_objective(q, *args, weights)[0], 1e-7)
        assert_allclose(grad, numeric, rtol=1e-4, atol=1e-9)


def test_vectorised_objective_matches_scalar_and_scipy_huber():
    from scipy.special import huber

    _, n, d, loss = chinchilla_data(30)
    args = (np.log(n), np.log(d), np.log(loss))
    grid = chinchilla.chinchilla_grid()
    assert grid.shape == (4500, 5)
    pick = grid[::397]
    many = chinchilla.chinchilla_objective_many(pick, *args)
    scalar = [chinchilla.chinchilla_objective(p, *args)[0] for p in pick]
    direct = [huber(1e-3, chinchilla.chinchilla_log_predict(p, *args[:2]) - args[2]).sum()
              for p in pick]
    assert_allclose(many, scalar, rtol=1e-12)
    assert_allclose(many, direct, rtol=1e-12)


def test_compute_optimal_minimises_loss_at_fixed_compute():
    theta = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
    flops = np.array([1e20, 1e23])
    opt = chinchilla.compute_optimal(theta, flops)
    assert_allclose(6 * opt["N_opt"] * opt["D_opt"], flops, rtol=1e-12)
    assert_allclose(opt["a_opt"] + opt["b_opt"], 1.0)
    for c, n_opt in zip(flops, opt["N_opt"], strict=True):
        ns = n_opt * np.logspace(-1, 1, 2001)
        losses = chinchilla.chinchilla_predict(theta, ns, c / (6 * ns))
        assert_allclose(ns[np.argmin(losses)], n_opt, rtol=2e-3)


def test_degenerate_bootstrap_resamples_are_skipped_and_counted():
    x = np.array([1.0, 1.0, 1.0, 1.0, 10.0])
    y = np.array([5.0, 5.1, 4.9, 5.0, 3.0])
    boots, skipped = laws.bootstrap_power(x, y, 500, np.random.default_rng(3))
    # Count the degenerate resamples from the same index draws, independently.
    idx = np.random.default_rng(3).integers(0, 5, size=(500, 5))
    expected = int(np.sum((idx != 4).all(axis=1) | (idx == 4).all(axis=1)))
    assert skipped == expected > 0
    assert boots.shape == (500 - expected, 2)


def test_analyse_is_strict_json_with_the_contract_keys():
    rng = np.random.default_rng(4)
    x = np.logspace(4, 6, 6)
    out = fit.analyse(
        "saturating",
        x,
        noisy(2.0 + 30 * x**-0.3, rng),
        n_boot=50,
        predict=np.array([1e7]),
        holdout=1,
    )
    json.dumps(out, allow_nan=False)
    assert set(out) >= {
        "params",
        "exponent",
        "r2_log",
        "rmse_log",
        "extrapolation",
        "extrapolation_note",
        "derived",
        "band",
        "bootstrap",
        "method",
    }
    assert out["exponent"] == pytest.approx(-out["params"]["alpha"]["value"])
    assert len(out["band"]["x"]) == fit.BAND_POINTS
    assert out["extrapolation"]["held_out"] == 1


def test_holdout_skipped_when_too_few_points_remain():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = 5 * x**-0.1
    check, note = fit.extrapolation_check("saturating", x, y, None, 1)
    assert check is None and "skipped" in note
