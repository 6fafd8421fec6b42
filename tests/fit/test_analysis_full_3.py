"""fit.json's per-parameter block (`analysis._params_block`) on hand-made bootstrap draws,
and `analyse`'s defaults (one held-out size, no seed noise on its prediction interval).

The se is the sample standard deviation (ddof=1) of a column of draws, given from ten
draws on, None below; the interval is the linear-rule 2.5% and 97.5% points of the
column; a fit that did not converge gives every parameter, not just the first, as None.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit.laws import FitResult
from tests.fit.test_analysis_full_1 import Given, X, Y, block

SATURATING_THETA = np.array([1.5, 40.0, 0.3])  # E, A, alpha: any values, reported as given


def point(converged: bool = True) -> FitResult:
    """A saturating point without its own se (so the se comes from the draws)."""
    return FitResult("saturating", SATURATING_THETA.copy(), converged, "")


def sample_sd(column: list[int]) -> float:
    """sqrt(sum (v - mean)^2 / (n - 1)) in exact fractions, then one square root."""
    mean = Fraction(sum(column), len(column))
    return math.sqrt(sum((Fraction(v) - mean) ** 2 for v in column) / (len(column) - 1))


def percentile(column: list[int], q: Fraction) -> float:
    """numpy's default (linear) rule by hand: position q (n - 1) in the sorted column."""
    s = sorted(column)
    pos = q * (len(s) - 1)
    i = math.floor(pos)
    return float(s[i] + (pos - i) * (s[min(i + 1, len(s) - 1)] - s[i]))


# three columns (E, A, alpha) of integer draws; fewer than 10 columns, as for every form
COLUMNS = ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
           [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
           [3, 1, 4, 1, 5, 9, 2, 6, 5, 3])


def test_ten_draws_give_each_parameter_its_sample_sd_and_interval() -> None:
    # se of 1..10: sqrt(82.5 / 9) = 3.0277 (ddof=0 would give sqrt(8.25), ddof=2
    # sqrt(82.5 / 8)); of five 0s and five 1s sqrt(2.5 / 9); the CI the 2.5% and 97.5%
    # points of each column by the linear rule (1.225 and 9.775 for 1..10).
    boots = np.array(COLUMNS, dtype=float).T
    assert boots.shape == (10, 3)
    assert sample_sd(COLUMNS[0]) == pytest.approx(math.sqrt(82.5 / 9), rel=1e-15)
    out = analysis._params_block("saturating", point(), boots, {})
    assert out == {
        name: {"value": pytest.approx(float(SATURATING_THETA[k]), rel=1e-15),
               "se": pytest.approx(sample_sd(col), rel=1e-12),
               "ci_low": pytest.approx(percentile(col, Fraction(25, 1000)), rel=1e-12),
               "ci_high": pytest.approx(percentile(col, Fraction(975, 1000)), rel=1e-12)}
        for k, (name, col) in enumerate(zip(("E", "A", "alpha"), COLUMNS, strict=True))
    }
    assert (out["E"]["ci_low"], out["E"]["ci_high"]) == pytest.approx((1.225, 9.775))


def test_nine_draws_give_no_se_and_no_interval() -> None:
    # the first nine rows: too few for an se or an interval, so all None but the value.
    boots = np.array(COLUMNS, dtype=float).T[:9]
    out = analysis._params_block("saturating", point(), boots, {})
    assert out == {name: {"value": float(SATURATING_THETA[k]), "se": None, "ci_low": None,
                          "ci_high": None}
                   for k, name in enumerate(("E", "A", "alpha"))}


def test_no_draws_give_no_se_and_no_interval() -> None:
    # no bootstrap at all (n_boot 0): an empty (0, 3) matrix, value only.
    out = analysis._params_block("saturating", point(), np.empty((0, 3)), {})
    assert out == {name: {"value": float(SATURATING_THETA[k]), "se": None, "ci_low": None,
                          "ci_high": None}
                   for k, name in enumerate(("E", "A", "alpha"))}


def test_a_fit_that_did_not_converge_lists_every_parameter_as_none() -> None:
    # all three names, not only E: each is skipped and the next still reported.
    boots = np.array(COLUMNS, dtype=float).T
    out = analysis._params_block("saturating", point(converged=False), boots, {})
    none = {"value": None, "se": None, "ci_low": None, "ci_high": None}
    assert out == {"E": none, "A": none, "alpha": none}


def test_a_profile_interval_replaces_the_bootstrap_one_and_keeps_an_open_end() -> None:
    # A's profile interval (None, 55.5): the open end stays None, the other replaces 0.975
    # of the draws; E keeps its bootstrap interval (1.225, 9.775) and se sqrt(82.5 / 9).
    boots = np.array(COLUMNS, dtype=float).T
    out = analysis._params_block("saturating", point(), boots, {"A": (None, 55.5)})
    assert out["A"] == {"value": 40.0, "se": pytest.approx(math.sqrt(2.5 / 9), rel=1e-12),
                        "ci_low": None, "ci_high": 55.5}
    assert out["E"] == {"value": 1.5, "se": pytest.approx(math.sqrt(82.5 / 9), rel=1e-12),
                        "ci_low": pytest.approx(1.225), "ci_high": pytest.approx(9.775)}


DRAWS = [float(v) for v in range(1, 11)]  # the Given form's refits: c = 1..10


def test_analyse_holds_out_one_size_by_default() -> None:
    # x = 1, 2, 3, 4 with y = 5: by default only x = 4 is held out (the refit on 1..3
    # predicts 5; its interval is the draws' 1.225..9.775); holding out two would list 3, 4.
    result = analysis.analyse(Given(DRAWS), X, Y, n_boot=20)
    assert result["extrapolation"] == block(pytest.approx(1.225), pytest.approx(9.775), True)
    two = analysis.analyse(Given(DRAWS), X, Y, n_boot=20, holdout=2)["extrapolation"]
    assert (two["held_out"], two["x"]) == (2, [3.0, 4.0])


def test_analyse_adds_no_seed_noise_by_default() -> None:
    # noise_sd_log 0 by default: the held-out interval is the draws' own 1.225..9.775;
    # with sd 1 it would be the draws times exp(z), z ~ N(0, 1) from seed 0 (worked out
    # here with numpy on the draws), a different interval.
    result = analysis.analyse(Given(DRAWS), X, Y, n_boot=20)
    assert result["extrapolation"] == block(pytest.approx(1.225), pytest.approx(9.775), True)
    z = np.random.default_rng(0).normal(0.0, 1.0, size=(10, 1))[:, 0]
    low, high = np.percentile(np.array(DRAWS) * np.exp(z), [2.5, 97.5])
    assert (low, high) != pytest.approx((1.225, 9.775))
    noisy = analysis.analyse(Given(DRAWS), X, Y, n_boot=20, noise_sd_log=1.0)["extrapolation"]
    assert (noisy["low"], noisy["high"]) == ([pytest.approx(low, rel=1e-12)],
                                             [pytest.approx(high, rel=1e-12)])
