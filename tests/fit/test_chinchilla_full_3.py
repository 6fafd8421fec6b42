"""Approach 3's Huber objective, the fit's verdict and texts, and the compute-optimal laws,
against what is known without the code: the Huber loss written out, scipy's own stop
message, fit.json's text as a user reads it, the closed form of Hoffmann et al. 2022 (Eq. 4)
and its limits, and least-squares lines from np.polyfit.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis, chinchilla
from scalecli.fit.flops_per_token import FlopsPerToken, law_budgets
from scalecli.fit.forms import registry
from tests.fit.test_chinchilla_full_1 import closed_log_n, no_warnings
from tests.fit.test_chinchilla_survivors import THETA, huber_sum

DELTA = 1e-3
# Internal (a, b, e, alpha, beta) of THETA: A = e^a, B = e^b, E = e^e.
P_TRUE = np.array([np.log(THETA[1]), np.log(THETA[2]), np.log(THETA[0]), THETA[3], THETA[4]])

# --------------------------------------------------------------------- the Huber objective

# Residuals inside delta, exactly at it, and beyond it, each sign, with their Huber loss by
# hand: r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) beyond.
RESIDUALS = [0.0, 4e-4, -4e-4, 1e-3, -1e-3, 2.5e-3, -0.05]
BY_HAND = [0.0, 8e-8, 8e-8, 5e-7, 5e-7, 2e-6, 4.95e-5]


def only_e(e: float) -> np.ndarray:
    """Internal parameters with A = B = e^-1000: A/N^alpha and B/D^beta are exactly 0 in
    floats, so log L_hat = e exactly and a residual is e - log L to the last bit."""
    return np.array([-1000.0, -1000.0, e, 0.3, 0.3])


def test_huber_objective_is_the_huber_loss_on_each_side_of_delta_and_at_it():
    # One point with L = 1 (log L = 0): the residual of only_e(r) is r exactly, so
    # r = +-delta hits the kink itself.
    one = np.array([np.log(1e8)]), np.array([np.log(1e10)]), np.zeros(1)
    for r, want in zip(RESIDUALS, BY_HAND, strict=True):
        f, _ = chinchilla.chinchilla_objective(only_e(r), *one)
        assert f == pytest.approx(want, rel=1e-12, abs=0)
    # the vectorised objective, one parameter row per residual: row by row the same
    many = chinchilla.chinchilla_objective_many(np.array([only_e(r) for r in RESIDUALS]), *one)
    assert many.shape == (len(RESIDUALS),)
    np.testing.assert_allclose(many, BY_HAND, rtol=1e-12, atol=0)
    # all seven at once, as the data of one fit: the sum of the seven
    log_l = -np.array(RESIDUALS)
    log_n, log_d = np.full(7, np.log(1e8)), np.full(7, np.log(1e10))
    total = sum(BY_HAND)  # 5.266e-5
    assert chinchilla.chinchilla_objective(only_e(0.0), log_n, log_d, log_l)[0] == \
        pytest.approx(total, rel=1e-12)
    assert chinchilla.chinchilla_objective_many(only_e(0.0)[None, :], log_n, log_d, log_l)[0] \
        == pytest.approx(total, rel=1e-12)


def test_huber_objective_at_real_parameters_is_the_huber_sum_of_the_log_residuals():
    # Hoffmann et al.'s law on a 4 x 3 grid, L moved off it by known log residuals on both
    # sides of delta; the vectorised objective at three parameter vectors (the truth and two
    # others, whose residuals are worked out from the law written out) matches row by row.
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 1e9, 4), np.geomspace(1e9, 1e11, 3)))
    r = np.array([3e-4, -7e-4, 9e-4, -2e-3, 0.01, -0.04, 5e-4, 1.5e-3, -1e-4, 0.2, -6e-4, 0.0])
    log_l = np.log(THETA[0] + THETA[1] / n ** THETA[3] + THETA[2] / d ** THETA[4]) - r
    f, _ = chinchilla.chinchilla_objective(P_TRUE, np.log(n), np.log(d), log_l)
    assert f == pytest.approx(huber_sum(r), rel=1e-9)
    ps = P_TRUE + np.array([[0.0] * 5, [0.0, 0.3, 0.0, 0.0, 0.01], [0.2, 0.0, 0.1, 0.02, 0.0]])
    want = []
    for a, b, e, alpha, beta in ps:
        fit_r = np.log(np.exp(e) + np.exp(a) / n ** alpha + np.exp(b) / d ** beta) - log_l
        want.append(huber_sum(fit_r))
    got = chinchilla.chinchilla_objective_many(ps, np.log(n), np.log(d), log_l)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert len(set(want)) == 3  # the rows do differ


# ----------------------------------------------------------------- the fit: verdict and text

METHOD = ("sum of Huber(delta=0.001) on log residuals; L-BFGS-B with analytic gradient from "
          "the 64 best of the 4,500-point grid (Hoffmann et al. 2022; Besiroglu et al. 2024)")
CLOSED_FORM = ("N_opt(C) = G (C/6)^a (Hoffmann et al. 2022, Eq. 4), exact here: C is 6 N D in "
               "this N (the runs' flops per token is 6 N, or the CSV has no compute column)")


def noisy_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N, D, L on a 6 x 5 grid, L from THETA with 1% lognormal noise (seeded)."""
    rng = np.random.default_rng(0)
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 1e9, 6), np.geomspace(1e9, 1e11, 5)))
    loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(rng.normal(0, 0.01, n.size))
    return n, d, loss


def test_fit_names_its_form_and_cites_its_method_in_fit_json():
    n, d, loss = noisy_runs()
    drawn: dict = {}
    doc = analysis.analyse("chinchilla", n, loss, d, n_boot=0, holdout=0, draws_out=drawn)
    # what fit.json shows: the form's name, the method with its citations, the verdict
    assert doc["form"] == "chinchilla"
    assert doc["method"] == METHOD + "; " + CLOSED_FORM
    assert doc["converged"] is True and doc["message"] == "L-BFGS-B converged"
    # the fit itself names the form the registry knows it by (report/ looks it up so)
    fit = drawn["chinchilla"][0]  # the FitResult of fit_chinchilla behind it
    assert fit.form == "chinchilla" and registry.find(fit.form) is registry.get("chinchilla")
    assert fit.method == METHOD


STOP = "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"  # scipy's L-BFGS-B, verbatim


def test_a_fit_whose_solver_stops_short_is_not_converged_and_says_why(monkeypatch):
    # Every L-BFGS-B run (the 64 starts and the polish) allowed one iteration: scipy says it
    # stopped at its limit with finite parameters. The fit must report that, not success.
    real = chinchilla.minimize

    def one_step(*args, options=None, **kwargs):
        return real(*args, options={**(options or {}), "maxiter": 1}, **kwargs)

    monkeypatch.setattr(chinchilla, "minimize", one_step)
    n, d, loss = noisy_runs()
    fit = chinchilla.fit_chinchilla(n, d, loss)
    assert np.all(np.isfinite(fit.theta))
    assert not fit.converged
    assert fit.message == STOP
    doc = analysis.analyse("chinchilla", n, loss, d, n_boot=0, holdout=0)
    assert doc["converged"] is False and doc["message"] == STOP
    assert doc["extrapolation_note"] == "skipped: the fit did not converge"


# ------------------------------------------------------------- compute-optimal: inputs


def test_a_budget_given_as_a_scalar_a_list_or_python_ints_is_the_same_budget():
    # N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))
    _, a_, b_, alpha, beta = THETA
    s = alpha + beta
    g = (alpha * a_ / (beta * b_)) ** (1 / s)
    want = g * (1e21 / 6) ** (beta / s)
    for c in (1e21, [1e21], np.array([1e21])):
        got = chinchilla.compute_optimal(THETA, c)
        assert got["N_opt"].shape == (1,)
        assert got["N_opt"][0] == pytest.approx(want, rel=1e-12)
        assert got["D_opt"][0] == pytest.approx(1e21 / 6 / want, rel=1e-12)
    # C = 10**20, 10**22 typed as Python ints (beyond int64), solved on a flops per token
    # of 6N e^0.2: the closed form at C / e^0.2
    fpt = FlopsPerToken(np.array([16.0, 20.0]), np.full(2, 0.2), (1e18, 1e20))
    n, d, _ = chinchilla.optimal_many(THETA, [10**20, 10**22], fpt)
    flops = np.array([1e20, 1e22])
    assert np.max(np.abs(np.log(n) - closed_log_n(THETA[None, :], flops, 0.2))) < 2e-6
    np.testing.assert_allclose(d, flops / (6 * n * np.exp(0.2)), rtol=1e-12)


# A bootstrap refit is unconstrained: alpha or beta may come out 0. With alpha = 0,
# L = E + A + B/D^beta falls with D at any N: every FLOP goes to data, N_opt = 0,
# D_opt = inf, L_opt = E + A. With beta = 0 the mirror: N_opt = inf, D_opt = 0, L = E + B.
ALPHA_0 = np.array([1.69, 406.4, 410.7, 0.0, 0.28])
BETA_0 = np.array([1.69, 406.4, 410.7, 0.34, 0.0])


def test_draws_with_a_zero_exponent_give_the_limits_silently():
    flops = np.array([1e19, 1e23])
    n, d, loss = no_warnings(chinchilla.optimal_many, np.array([THETA, ALPHA_0, BETA_0]), flops)
    assert n[1].tolist() == [0.0, 0.0] and d[1].tolist() == [np.inf, np.inf]
    assert n[2].tolist() == [np.inf, np.inf] and d[2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(loss[1:], [[1.69 + 406.4] * 2, [1.69 + 410.7] * 2], rtol=1e-15)
    np.testing.assert_allclose(np.log(n[0]), closed_log_n(THETA[None, :], flops)[0], rtol=1e-12)
    # as lines N_opt = k_N C^a, D_opt = k_D C^b: alpha = 0 is a = 1 with k_N = 0 (ln -inf)
    laws = no_warnings(chinchilla.chinchilla_laws, np.array([ALPHA_0, BETA_0]))
    assert laws[0].tolist() == [1.0, -np.inf, 0.0, np.inf]
    assert laws[1].tolist() == [0.0, np.inf, 1.0, -np.inf]


# ------------------------------------------------------------- compute-optimal: the laws


def test_laws_are_least_squares_lines_of_each_draw_and_a_failed_draw_spoils_only_itself():
    # f / 6N falls from 1.3 to 1.0 over the runs' N, so N_opt(C) bends and each draw's
    # (a, ln k_N, b, ln k_D) is the least-squares line through its own ln N_opt, ln D_opt
    # against ln C at the law's budgets. Three draws with different optima; the middle
    # one (alpha = 0) has no optimum at all (NaN): its row is NaN, the others untouched.
    fpt = FlopsPerToken(np.log([1e6, 1e12]), np.log([1.3, 1.0]), (1e18, 1e22))
    other = np.array([2.0, 1e4, 50.0, 0.6, 0.2])
    thetas = np.array([THETA, ALPHA_0, other])
    laws = no_warnings(chinchilla.chinchilla_laws, thetas, fpt)
    flops = law_budgets(fpt)
    n, d, _ = chinchilla.optimal_many(thetas, flops, fpt)
    assert np.isnan(n[1]).all() and np.isnan(laws[1]).all()
    for k in (0, 2):
        a, log_kn = np.polyfit(np.log(flops), np.log(n[k]), 1)
        b, log_kd = np.polyfit(np.log(flops), np.log(d[k]), 1)
        np.testing.assert_allclose(laws[k], [a, log_kn, b, log_kd], rtol=1e-9)
    # the two lines differ (a 0.46 and 0.25, ln k_N -0.7 and 7.5): a mean across draws shows
    assert abs(laws[0, 1] - laws[2, 1]) > 1.0
    # with f / 6N held at 1 the lines are the closed form: a = beta / (alpha + beta)
    exact = FlopsPerToken(np.log([1e6, 1e12]), np.zeros(2), (1e18, 1e22))
    np.testing.assert_allclose(chinchilla.chinchilla_laws(thetas[[0, 2]], exact),
                               chinchilla.chinchilla_laws(thetas[[0, 2]]), atol=1e-6)
