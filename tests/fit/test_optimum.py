"""fit.optimum, the compute-optimal law N_opt = k_N C^a, D_opt = k_D C^b, by hand: exact
lines, the interval and se of a known set of draws, and the solved allocation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.optimum import (
    MIN_DRAWS,
    estimate,
    fit_law,
    interval,
    law_params,
    optimal_at,
    predictions,
    tokens_per_param,
)

LAW = np.array([0.5, math.log(0.1), 0.5, math.log(1 / 0.6)])  # N = 0.1 C^.5, D = C^.5/.6


def test_fit_law_recovers_two_exact_lines_and_weights_them() -> None:
    log_c = np.log([1e18, 1e19, 1e20])
    log_n = 0.45 * log_c + 2.0
    log_d = 0.55 * log_c - 3.0
    assert fit_law(log_c, log_n, log_d) == pytest.approx([0.45, 2.0, 0.55, -3.0])
    # a point off the line pulls the fit less when its weight is small
    bent = log_n + np.array([0.0, 0.0, 0.3])
    light = fit_law(log_c, bent, log_d, np.array([1.0, 1.0, 1e-6]))
    equal = fit_law(log_c, bent, log_d)
    assert light[0] == pytest.approx(0.45, abs=1e-5) and equal[0] > 0.5
    # weights are inverse variances: (1, 1, 4) on (0, 0, 1) at x = (0, 1, 2) gives, by the
    # weighted normal equations, slope 2 / 3.5 = 4/7 and intercept 2/3 - 4/7 * 1.5 = -4/21
    x, y = np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0])
    got = fit_law(x, y, 2 * y, np.array([1.0, 1.0, 4.0]))
    assert got == pytest.approx([4 / 7, -4 / 21, 8 / 7, -8 / 21])


def test_interval_and_estimate_need_ten_finite_draws() -> None:
    assert MIN_DRAWS == 10
    nine = np.arange(1.0, 10.0)
    assert interval(nine) == (None, None)
    assert estimate(3.0, nine) == {"value": 3.0, "se": None, "ci_low": None, "ci_high": None}
    ten = np.arange(1.0, 11.0)  # 1..10: percentiles 2.5 and 97.5 by linear interpolation
    assert interval(ten) == pytest.approx((1.225, 9.775))
    got = estimate(5.5, np.append(ten, [np.nan, np.inf]))  # non-finite draws are dropped
    assert got["value"] == 5.5
    assert got["se"] == pytest.approx(math.sqrt(110 / 12))  # sd with ddof=1 of 1..10: 3.0277
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((1.225, 9.775))
    assert interval(np.append(nine, np.nan)) == (None, None)


def test_law_params_are_a_and_b_with_their_draws() -> None:
    draws = np.column_stack([np.linspace(0.4, 0.6, 11), np.zeros(11),
                             np.linspace(0.5, 0.7, 11), np.zeros(11)])
    got = law_params(np.array([0.45, 1.0, 0.55, 2.0]), draws)
    assert list(got) == ["a_opt", "b_opt"]
    assert got["a_opt"]["value"] == 0.45 and got["b_opt"]["value"] == 0.55
    assert got["a_opt"]["ci_low"] == pytest.approx(0.405)
    assert got["b_opt"]["ci_high"] == pytest.approx(0.695)


def test_the_allocation_at_a_budget_and_its_ratio() -> None:
    n, d = optimal_at(LAW, np.array([1e18, 1e20]))
    assert n.tolist()[0] == pytest.approx([1e8, 1e9])
    assert d.tolist()[0] == pytest.approx([1e9 / 0.6, 1e10 / 0.6])
    assert (6 * n * d).ravel() == pytest.approx([1e18, 1e20])  # C = 6 N D
    ratio = tokens_per_param(LAW, np.empty((0, 4)), 1e20)
    assert ratio == {"flops": 1e20, "value": pytest.approx(1 / 0.06), "se": None,
                     "ci_low": None, "ci_high": None}
    # draws with D/N from 10 to 19 at every C (a = b): the interval is theirs
    draws = np.array([[0.5, 0.0, 0.5, math.log(10.0 + k)] for k in range(10)])
    ratio = tokens_per_param(LAW, draws, 1e20)
    assert (ratio["ci_low"], ratio["ci_high"]) == pytest.approx((10.225, 18.775))


def test_predictions_with_and_without_draws() -> None:
    assert predictions(LAW, np.empty((0, 4)), None) == []
    assert predictions(LAW, np.empty((0, 4)), np.array([])) == []
    (point,) = predictions(LAW, np.empty((0, 4)), np.array([1e22]))
    assert point["flops"] == 1e22 and point["loss"] is None
    assert point["n_opt"] == {"value": pytest.approx(1e10), "se": None, "ci_low": None,
                              "ci_high": None}
    assert point["d_opt"]["value"] == pytest.approx(1e11 / 0.6)
    draws = np.array([[0.5, math.log(0.1 * (1 + k / 100)), 0.5, 0.0] for k in range(10)])
    first, second = predictions(LAW, draws, np.array([1e18, 1e22]))
    assert second["flops"] == 1e22
    assert (second["n_opt"]["ci_low"], second["n_opt"]["ci_high"]) == pytest.approx(
        (1e10 * 1.00225, 1e10 * 1.08775))
    assert first["n_opt"]["se"] == pytest.approx(1e8 * math.sqrt(110 / 12) / 100)
    assert second["d_opt"]["ci_low"] == pytest.approx(1e11)  # k_D = 1 in every draw
