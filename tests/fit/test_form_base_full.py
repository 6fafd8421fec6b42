"""forms.base: the curves a form draws are float arrays whatever numbers they are given.

FLOP budgets past 9.2e18 do not fit an int64, so exact integer budgets (JSON writes 10**21
as an integer) become an object array unless converted to float, and fit.json writes a
parameter it could not estimate as null: the curve must then be NaN (nothing drawn), not a
TypeError that stops the report. Each expected number is worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.forms import registry

POWER, CHINCHILLA, ISOFLOP = (registry.get(n) for n in ("power", "chinchilla", "isoflop"))


def test_compute_optimal_n_and_d_at_integer_budgets_past_int64() -> None:
    # N_opt = 0.1 C^0.5 and D_opt = C^0.5 / 0.6, so that 6 N_opt D_opt = C exactly.
    params = {"k_n": 0.1, "a_opt": 0.5, "k_d": 1 / 0.6, "b_opt": 0.5}
    budgets = [10**20, 10**22]  # exact ints; 10**22 > 2**63
    n_opt = ISOFLOP.curve(params, budgets)
    d_opt = ISOFLOP.tokens(params, budgets)
    assert n_opt.dtype == np.float64 and d_opt.dtype == np.float64
    # the log-log slope and level a figure draws: ln N_opt = ln 0.1 + 0.5 ln C
    assert np.log(n_opt).tolist() == pytest.approx(
        [math.log(0.1) + 0.5 * math.log(c) for c in budgets])
    assert np.log(6 * n_opt * d_opt).tolist() == pytest.approx([math.log(c) for c in budgets])


def test_compute_optimal_curve_with_a_whole_number_exponent_does_not_overflow() -> None:
    # An integer a_opt on integer budgets must not be integer arithmetic: (1e10)^2 = 1e20
    # is past int64 and would wrap around.
    params = {"k_n": 1.0, "a_opt": 2, "k_d": 1.0, "b_opt": 2}
    assert ISOFLOP.curve(params, [10**10]).tolist() == pytest.approx([1e20])
    assert ISOFLOP.tokens(params, [10**10]).tolist() == pytest.approx([1e20])


def test_chinchilla_curve_at_integer_token_counts_past_int64() -> None:
    # E + A / N^0.5 + B / D^0.5 with N = D = 10**20 and A = B = 10**10: 1 + 1 + 1 = 3.
    chin = {"E": 1.0, "A": 1e10, "B": 1e10, "alpha": 0.5, "beta": 0.5}
    loss = CHINCHILLA.curve(chin, [10**20], [10**20])
    assert loss.dtype == np.float64
    assert np.log(loss).tolist() == pytest.approx([math.log(3.0)])


def test_a_parameter_fit_json_left_null_draws_nothing() -> None:
    # fit.json writes a non-finite estimate as null: the curve is NaN everywhere (the report
    # draws no line) rather than an error.
    fit = {"params": {"a": {"value": None}, "b": {"value": -0.5}}}
    assert POWER.values(fit) == {"a": None, "b": -0.5}
    drawn = POWER.draw(fit, [1, 4, 100])
    assert drawn.dtype == np.float64 and np.isnan(drawn).all()
    assert np.isnan(POWER.theta({"a": None, "b": -0.5})[0])
