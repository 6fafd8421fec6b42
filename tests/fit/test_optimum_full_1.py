"""fit.optimum's solved allocation at budgets given as exact integers, by hand.

A FLOP count is naturally an integer (6 N D of a 1e9-parameter model on 2e10 tokens is
1.2e20), and a Python int above 2^64 makes a numpy object array, on which np.log fails:
optimal_at converts the budgets to floats first, so 4 * 10**20 FLOPs give the same N_opt
and D_opt as 4e20. The law N = 0.1 C^0.5, D = C^0.5 / 0.6 (C = 6 N D) as in test_optimum.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.optimum import optimal_at, predictions, tokens_per_param

LAW = np.array([0.5, math.log(0.1), 0.5, math.log(1 / 0.6)])  # N = 0.1 C^.5, D = C^.5/.6
BIG = 4 * 10**20  # above 2^64 = 1.8e19: np.asarray([BIG]) is an object array


def test_the_allocation_at_budgets_given_as_python_ints() -> None:
    n, d = optimal_at(LAW, [10**18, BIG])
    # sqrt(4e20) = 2e10
    assert n.tolist() == [pytest.approx([1e8, 2e9], rel=1e-12)]
    assert d.tolist() == [pytest.approx([1e9 / 0.6, 2e10 / 0.6], rel=1e-12)]
    # and through the public callers, with and without draws
    draws = np.tile(LAW, (10, 1))
    ratio = tokens_per_param(LAW, draws, BIG)
    assert ratio == {"flops": 4e20, "value": pytest.approx(1 / 0.06, rel=1e-12),
                     "se": pytest.approx(0.0, abs=1e-9),
                     "ci_low": pytest.approx(1 / 0.06, rel=1e-12),
                     "ci_high": pytest.approx(1 / 0.06, rel=1e-12)}
    (row,) = predictions(LAW, np.empty((0, 4)), [BIG])
    assert row == {"flops": 4e20, "loss": None,
                   "n_opt": {"value": pytest.approx(2e9, rel=1e-12), "se": None,
                             "ci_low": None, "ci_high": None},
                   "d_opt": {"value": pytest.approx(2e10 / 0.6, rel=1e-12), "se": None,
                             "ci_low": None, "ci_high": None}}
