"""laws and prediction on numbers worked out by hand: the power fit's standard errors and
method, a profile interval on one degree of freedom, Levenberg-Marquardt's per-problem
convergence, and the percentile and mixture arithmetic of the combined prediction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from scalecli.fit import analysis, laws
from scalecli.fit.prediction import MIN_DRAWS, FormDraws, mixture


def test_the_power_fit_reports_the_textbook_ols_standard_errors_and_its_method() -> None:
    # ln x = 10, 11, 12, 13 and residuals 0.01 * (1, -1, -1, 1), which are orthogonal to
    # 1 and to ln x: least squares recovers a = 1000, b = -0.1 exactly, with RSS 4e-4 on
    # n - 2 = 2 dof, so s^2 = 2e-4. Sxx = 2.25 + 0.25 + 0.25 + 2.25 = 5, mean ln x 11.5:
    # se(b) = sqrt(2e-4 / 5) = 0.01 sqrt(0.4);
    # se(ln a) = sqrt(2e-4 (1/4 + 11.5^2 / 5)) = 0.01 sqrt(2 * 26.7) = 0.01 sqrt(53.4),
    # and se(a) = a se(ln a) by the delta method.
    x = np.exp(np.array([10.0, 11.0, 12.0, 13.0]))
    y = 1e3 * x ** -0.1 * np.exp(0.01 * np.array([1.0, -1.0, -1.0, 1.0]))
    out = analysis.analyse("power", x, y, n_boot=0)
    a, b = out["params"]["a"], out["params"]["b"]
    assert a["value"] == pytest.approx(1e3, rel=1e-12)
    assert b["value"] == pytest.approx(-0.1, rel=1e-12)
    assert b["se"] == pytest.approx(0.01 * np.sqrt(0.4), rel=1e-9)
    assert a["se"] == pytest.approx(1e3 * 0.01 * np.sqrt(53.4), rel=1e-9)  # 73.075
    assert out["method"] == "OLS on log y vs log x"


def _rss_at_alpha(x: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """The least RSS of log L over (log A, log E) with alpha held: the profile, by scipy
    from a grid of starts (independent of laws.saturating_lm)."""
    lx, ly = np.log(x), np.log(y)

    def resid(p: np.ndarray) -> np.ndarray:
        return np.logaddexp(p[0] - alpha * lx, p[1]) - ly

    best = np.inf
    for log_a in (2.0, 4.0, 6.0):
        for log_e in (-2.0, 0.0, 0.7):
            r = least_squares(resid, [log_a, log_e], xtol=1e-15, ftol=1e-15, gtol=1e-15).fun
            best = min(best, float(np.sum(r**2)))
    return best


def test_a_profile_interval_on_one_degree_of_freedom_ends_where_the_f_bound_says() -> None:
    # Four sizes and three parameters leave n - 3 = 1 dof: still enough for an interval.
    # Its ends are where the profile RSS reaches RSS_min (1 + F(0.95; 1, 1) / 1), and
    # F(0.95; 1, 1) = 161.45 (the tabulated value).
    x = np.array([1e4, 1e5, 1e6, 1e7])
    y = (2.0 + 40.0 * x ** -0.3) * np.exp(0.005 * np.array([1.0, -1.0, -1.0, 1.0]))
    point = laws.fit_saturating(x, y)
    assert point.converged
    alpha_hat = point.theta[2]
    rss_min = _rss_at_alpha(x, y, alpha_hat)
    limit = rss_min * (1.0 + 161.4476)
    lo, hi = laws.profile_intervals(x, y, point)["alpha"]
    assert lo is not None and hi is not None
    assert lo < alpha_hat < hi
    assert _rss_at_alpha(x, y, lo) == pytest.approx(limit, rel=2e-3)
    assert _rss_at_alpha(x, y, hi) == pytest.approx(limit, rel=2e-3)


def test_levenberg_marquardt_flags_convergence_per_problem() -> None:
    # Two problems in one batch on the exact law L = 2 + 40 x^-0.3: one started at the
    # truth, one at A = 0 (log A = -inf), which can never move and so never converges.
    # The first's flag is its own: one hopeless problem must not fail its neighbours (a
    # bootstrap would lose every refit to one that ran off).
    x = np.array([1e4, 1e5, 1e6, 1e7])
    lx, ly = np.log(x), np.log(2.0 + 40.0 * x ** -0.3)
    truth = [np.log(40.0), 0.3, np.log(2.0)]
    q0 = np.array([truth, [-np.inf, 0.3, np.log(2.0)]])
    q, cost, converged = laws.saturating_lm(q0, lx, ly)
    assert converged.tolist() == [True, False]
    np.testing.assert_allclose(q[0], truth, rtol=1e-9)
    assert cost[0] < 1e-20


def test_ten_draws_are_enough_for_an_interval_and_nine_are_not() -> None:
    # np.percentile's linear rule on 0..9: the 2.5th percentile at index 0.025 * 9 = 0.225,
    # the 97.5th at 0.975 * 9 = 8.775.
    assert MIN_DRAWS == 10
    draws = np.arange(10.0)[:, None]
    lo, hi = FormDraws("power", np.array([4.5]), draws).interval()
    assert lo.tolist() == pytest.approx([0.225])
    assert hi.tolist() == pytest.approx([8.775])
    assert FormDraws("power", np.array([4.5]), draws[:9]).interval() is None


def test_the_mixture_median_keeps_tied_draws_in_the_forms_order() -> None:
    # Form A: 20 draws (weight 1/20 each), ten 0s and ten 1s; form B: 10 draws (1/10 each),
    # five 0s and five 1s. The 0s weigh exactly half of the total 2, so the median falls
    # in the gap between the last 0 and the first 1, and which draws border the gap
    # decides it. Ties keep the forms' order (a stable sort), whatever the sort algorithm:
    # the last 0 is B's, at (1 - 0.1 / 2) / 2 = 0.475, and the first 1 is A's, at
    # (1 + 0.05 / 2) / 2 = 0.5125; the median is (0.5 - 0.475) / 0.0375 = 2/3.
    a = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0], float)
    b = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 1], float)
    forms = [FormDraws("power", np.array([0.5]), a[:, None]),
             FormDraws("saturating", np.array([0.5]), b[:, None])]
    median, low, high = mixture(forms)
    assert median.tolist() == pytest.approx([2.0 / 3.0], rel=1e-12)
    assert low.tolist() == [0.0] and high.tolist() == [1.0]
