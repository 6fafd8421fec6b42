"""`analysis._interval` and `analysis._derived`'s --predict rows, worked out by hand: ten
bootstrap samples are enough for a 95% percentile interval and nine are not (numpy's linear
rule on 1..10 gives 1 + 0.025 * 9 and 1 + 0.975 * 9); and the chinchilla form's predictions
at a FLOP budget C are solved on the flops-per-token profile given (f = r 6N everywhere: the
closed form of Hoffmann et al. 2022 at C / r), not on C = 6 N D.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import registry
from scalecli.fit.laws import FitResult
from tests.fit.test_chinchilla_form import FORM, POINT, draws, loss, n_opt


def test_ten_samples_give_the_linear_rule_interval() -> None:
    """1..10: the 2.5% and 97.5% points lie 0.225 and 8.775 of the way up from 1."""
    lo, hi = analysis._interval(np.arange(1.0, 11.0))
    assert lo == pytest.approx(1.225, rel=1e-12) and hi == pytest.approx(9.775, rel=1e-12)


def test_nine_samples_are_too_few_for_an_interval() -> None:
    """1..9: fewer than ten samples, no interval at all."""
    assert analysis._interval(np.arange(1.0, 10.0)) == (None, None)


def power_rows(k: int) -> list[dict]:
    """--predict x = 400 on y = a x^-0.5 with a = 100 and k draws a = 91, 92, ...,
    b = -0.5: each draw predicts a / 20."""
    point = FitResult("power", np.array([100.0, -0.5]), True, "")
    boots = np.column_stack([np.arange(91.0, 91.0 + k), np.full(k, -0.5)])
    return analysis._derived(registry.get("power"), point, boots, np.array([400.0]))[
        "predictions"]


def test_ten_draws_give_each_prediction_its_interval() -> None:
    """Draws a = 91..100: the interval is (91.225, 99.775) / 20, the point 100 / 20 = 5."""
    assert power_rows(10) == [{"x": 400.0, "y": pytest.approx(5.0, rel=1e-12),
                               "ci_low": pytest.approx(91.225 / 20, rel=1e-12),
                               "ci_high": pytest.approx(99.775 / 20, rel=1e-12)}]


def test_nine_draws_give_a_prediction_without_an_interval() -> None:
    """Draws a = 91..99: too few, the row has its point and no interval."""
    assert power_rows(9) == [{"x": 400.0, "y": pytest.approx(5.0, rel=1e-12),
                              "ci_low": None, "ci_high": None}]


def test_chinchilla_predictions_are_solved_on_the_flops_per_token_given() -> None:
    """f = 2 * 6N at every N: C = 12 N D, so L_opt(C) is the closed form's at C / 2:
    N_opt = G (C / 12)^a_opt, D_opt = C / (12 N_opt). Ten draws of the point's theta give
    an interval of zero width at that value (on 6 N D it would be the loss at C, lower)."""
    r = 2.0
    fpt = FlopsPerToken(np.log([1e6, 1e12]), np.full(2, math.log(r)), (1e18, 1e20))
    budgets = np.array([1e21, 1e22])
    rows = analysis._derived(FORM, POINT, draws(10), budgets, None, fpt)["predictions"]
    by_hand = [loss(n_opt(c, r), c / (12.0 * n_opt(c, r))) for c in budgets]
    six_nd = [loss(n_opt(c), c / (6.0 * n_opt(c))) for c in budgets]
    assert by_hand != pytest.approx(six_nd, rel=1e-3)
    assert rows == [{"x": c, "y": pytest.approx(v, rel=1e-6),
                     "ci_low": pytest.approx(v, rel=1e-6), "ci_high": pytest.approx(v, rel=1e-6)}
                    for c, v in zip(budgets.tolist(), by_hand, strict=True)]
