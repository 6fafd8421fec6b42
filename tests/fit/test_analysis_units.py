"""analysis' band and holdout note, and the chinchilla bootstrap's count of skipped
resamples, on exact laws where every number is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit.chinchilla import bootstrap_chinchilla, chinchilla_predict, fit_chinchilla
from scalecli.fit.laws import FitResult

X = np.array([1e5, 2e5, 4e5, 8e5, 1.6e6])
THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])


def test_the_band_runs_to_ten_times_the_largest_size_with_or_without_draws() -> None:
    point = FitResult("power", np.array([100.0, -0.5]), True, "")
    few = np.tile([100.0, -0.5], (9, 1))
    band = analysis._band("power", point, few, np.array([1.0, 100.0]))
    grid = np.logspace(0.0, 3.0, analysis.BAND_POINTS)
    assert band["x"] == pytest.approx(grid.tolist())
    assert band["y"] == pytest.approx((100.0 * grid ** -0.5).tolist())
    assert band["low"] == [None] * 60 and band["high"] == [None] * 60
    ten = np.column_stack([np.arange(90.0, 100.0), np.full(10, -0.5)])  # ten draws: a band
    assert analysis._band("power", point, ten, np.array([1.0, 100.0]))["low"][0] == \
        pytest.approx(90.225)
    # draws a = 90..109 at b = -0.5: the 2.5% and 97.5% of a
    draws = np.column_stack([np.arange(90.0, 110.0), np.full(20, -0.5)])
    band = analysis._band("power", point, draws, np.array([1.0, 100.0]))
    assert band["low"][0] == pytest.approx(90.475) and band["high"][0] == pytest.approx(108.525)
    assert band["low"][-1] == pytest.approx(90.475 / 1000 ** 0.5)
    assert analysis._band("chinchilla", point, draws, X) is None  # a law in N and D: none
    failed = FitResult("power", np.array([np.nan, np.nan]), False, "no")
    assert analysis._band("power", failed, draws, X) is None


def test_the_holdout_note_counts_the_held_out_runs_inside_their_interval() -> None:
    y = 100.0 * X ** -0.1  # an exact law: the refit predicts the held-out size exactly
    check, note = analysis.extrapolation_check("power", X, y, None, 1, 50, 0, 0.01)
    assert check["held_out"] == 1 and check["x"] == [1.6e6]
    assert check["rel_error"][0] == pytest.approx(0.0, abs=1e-9)
    assert check["inside"] == [True]
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "0.00%; 1 of 1 inside its 95% prediction interval")
    # without a bootstrap there is no interval, and the note says nothing of one
    _, note = analysis.extrapolation_check("power", X, y, None, 2)
    assert note == ("refit without the 2 largest distinct x (2 rows); mean |relative error| "
                    "0.00%")


def test_the_chinchilla_bootstrap_skips_only_resamples_with_one_n_or_one_d() -> None:
    # two sizes and two token budgets (each pair twice): two of each are enough
    n = np.repeat([1e7, 1e8], 4)
    d = np.tile([1e9, 4e9], 4)
    loss = chinchilla_predict(THETA, n, d)
    point = fit_chinchilla(n, d, loss)
    assert point.converged
    thetas, skipped = bootstrap_chinchilla(n, d, loss, point, 0, np.random.default_rng(0))
    assert thetas.shape == (0, 5) and skipped == 0
    thetas, skipped = bootstrap_chinchilla(n, d, loss, point, 10, np.random.default_rng(1))
    # a resample of 8 rows has one N (or one D) with probability 2 / 2^8
    assert skipped <= 1 and thetas.shape == (10 - skipped, 5)


def test_the_saturating_starts_by_hand() -> None:
    from scalecli.fit.laws import _saturating_starts

    x, y = np.array([1.0, np.e]), np.array([2.0, 2.0])
    starts = _saturating_starts(x, y)
    assert starts.shape == (20, 3)
    # E = 0 (the floor 1e-6 min y stands in for ln 0), alpha = 0.05: ln A = ln 2 + 0.025
    assert starts[0] == pytest.approx([np.log(2.0) + 0.025, 0.05, np.log(2e-6)])
    # E = 0.5 min y = 1, alpha = 0.3: ln A = mean(ln(2 - 1) + 0.3 ln x) = 0.15
    assert starts[7] == pytest.approx([0.15, 0.3, 0.0])
    # E = 0.99 min y = 1.98: ln A = ln 0.02 + alpha / 2
    assert starts[19] == pytest.approx([np.log(0.02) + 0.75, 1.5, np.log(1.98)])


def test_one_predict_value_gets_its_prediction() -> None:
    from scalecli.fit.forms import registry

    point = FitResult("power", np.array([100.0, -0.5]), True, "")
    boots = np.column_stack([np.arange(90.0, 110.0), np.full(20, -0.5)])
    derived = analysis._derived(registry.get("power"), point, boots, np.array([400.0]))
    (row,) = derived["predictions"]
    assert row["x"] == 400.0 and row["y"] == pytest.approx(5.0)  # 100 / sqrt(400)
    assert row["ci_low"] == pytest.approx(90.475 / 20) and row["ci_high"] == pytest.approx(
        108.525 / 20)
    assert analysis._derived(registry.get("power"), point, boots, np.array([]))[
        "predictions"] == []


def test_the_chinchilla_bootstrap_counts_refits_that_fail() -> None:
    # A loss the refit cannot use (an infinite log loss, weighted in by every resample:
    # 0 * inf is NaN) leaves no finite objective: each of the 2 refits fails and is counted,
    # apart from the resamples with one N or one D, which are counted before any refit.
    n = np.repeat([1e7, 1e8], 4)
    d = np.tile([1e9, 4e9], 4)
    loss = chinchilla_predict(THETA, n, d)
    point = fit_chinchilla(n, d, loss)
    loss[0] = np.inf
    with np.errstate(invalid="ignore"):
        thetas, skipped = bootstrap_chinchilla(n, d, loss, point, 2, np.random.default_rng(1))
    assert thetas.shape == (0, 5) and skipped == 2
