"""`analysis.extrapolation_check`'s held-out rows and their `inside` flags, worked out by hand.

The held-out rows are listed by x, and rows at the same x (seeds) in their CSV order: a
stable sort (numpy's default sort reorders ties among 20 interleaved rows). An observed value
exactly on either end of its 95% prediction interval lies inside it; an interval with only one
end (the other overflowed to inf, written as None) says nothing about inside.

The `Given` form's refits are the draws given and take nothing from the random stream, so the
interval is numpy's linear-rule 2.5% and 97.5% points of known numbers: with the two smallest
draws equal (and the two largest) those points are the draws themselves, exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis
from tests.fit.test_analysis_full_1 import Given, X, block

# two copies of each end: the 2.5% point (position 0.225 of 9) lies between the two 5s and
# the 97.5% point (position 8.775) between the two 7s, so the interval is exactly (5, 7)
FLAT_ENDS = [5.0, 5.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 7.0, 7.0]


def test_rows_at_the_same_held_out_size_keep_their_csv_order() -> None:
    """Sizes 1, 2 kept (y = 5: the refit predicts 5), sizes 3 and 4 held out with 10 seeds
    each, listed seed by seed (4, 3, 4, 3, ...) with y = 10 + row: the check lists the ten
    x = 3 rows, then the ten x = 4 rows, each group in CSV order (y 11, 13, .., 29, then
    10, 12, .., 28); rel_error (5 - y) / y."""
    held_x = np.array([4.0, 3.0] * 10)
    held_y = 10.0 + np.arange(20.0)
    # numpy's default sort does reorder these ties, so the order below is the stable one's
    assert np.argsort(held_x).tolist() != np.argsort(held_x, kind="stable").tolist()
    x = np.concatenate([[1.0, 2.0], held_x])
    y = np.concatenate([[5.0, 5.0], held_y])
    check, note = analysis.extrapolation_check(Given(FLAT_ENDS), x, y, None, 2)
    observed = [11.0 + 2 * k for k in range(10)] + [10.0 + 2 * k for k in range(10)]
    assert check == {"held_out": 2, "x": [3.0] * 10 + [4.0] * 10, "predicted": [5.0] * 20,
                     "observed": observed,
                     "rel_error": [pytest.approx((5.0 - o) / o, rel=1e-15) for o in observed],
                     "low": [None] * 20, "high": [None] * 20, "inside": [None] * 20}
    mean_abs = 100 * sum(abs((5.0 - o) / o) for o in observed) / 20
    assert note == (f"refit without the 2 largest distinct x (20 rows); mean |relative error| "
                    f"{mean_abs:.2f}%")


def test_an_observation_equal_to_the_low_end_lies_inside() -> None:
    """y = 5 everywhere, interval exactly (5, 7): the held-out 5 is on its low end, inside."""
    check, note = analysis.extrapolation_check(Given(FLAT_ENDS), X, np.full(4, 5.0), None, 1,
                                               n_boot=10)
    assert check == block(5.0, 7.0, True)
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "0.00%; 1 of 1 inside its 95% prediction interval")


def test_an_observation_equal_to_the_high_end_lies_inside() -> None:
    """y = 5, 5, 5, 7: the refit predicts 5 at x = 4, observed 7 (rel_error -2/7), on the
    interval's high end 7 exactly: inside."""
    y = np.array([5.0, 5.0, 5.0, 7.0])
    check, note = analysis.extrapolation_check(Given(FLAT_ENDS), X, y, None, 1, n_boot=10)
    assert check == {"held_out": 1, "x": [4.0], "predicted": [5.0], "observed": [7.0],
                     "rel_error": [pytest.approx(-2.0 / 7.0, rel=1e-15)], "low": [5.0],
                     "high": [7.0], "inside": [True]}
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    f"{100 * 2 / 7:.2f}%; 1 of 1 inside its 95% prediction interval")


def test_an_interval_with_only_its_low_end_says_nothing_about_inside() -> None:
    """Draws 1.79e308, 2, .., 10 times exp(z), z ~ N(0, 0.5) from seed 0: z_0 > 0 pushes the
    first past the largest float (inf), so the 97.5% point is not finite (high None) while the
    2.5% point, 0.225 of the way from the smallest product to the next, is: inside is None."""
    draws = [1.79e308] + [float(v) for v in range(2, 11)]
    z = np.random.default_rng(0).normal(0.0, 0.5, size=(10, 1))[:, 0]
    with np.errstate(over="ignore"):
        products = np.array(draws) * np.exp(z)
    assert np.isinf(products[0]) and np.isfinite(products[1:]).all()
    s = sorted(products[1:].tolist())
    low = s[0] + 0.225 * (s[1] - s[0])
    with np.errstate(over="ignore", invalid="ignore"):
        check, note = analysis.extrapolation_check(Given(draws), X, np.full(4, 5.0), None, 1,
                                                   n_boot=10, seed=0, noise_sd_log=0.5)
    assert check == block(pytest.approx(low, rel=1e-12), None, None)
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "0.00%")
