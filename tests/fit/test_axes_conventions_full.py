"""axes at its edges: a size with one run, the frontier of nothing, and the seed level on
the frontier's points."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import axes


def test_a_size_with_one_run_is_listed_with_its_n_and_why_it_has_no_fit():
    # A token grid whose largest size ran at one D only (a common truncated ladder): that
    # size still gets its row, with its own N and the reason, and the others their fits.
    x = np.array([1e9, 1e10, 1e11, 1e9, 1e10, 1e11, 1e9])
    y = np.array([4.0, 3.5, 3.2, 3.6, 3.1, 2.8, 3.0])
    labels = np.array(["s1", "s1", "s1", "s2", "s2", "s2", "s3"], dtype=object)
    n = np.array([1e7, 1e7, 1e7, 1e8, 1e8, 1e8, 1e9])
    fitted = []

    def fit_one(xs: np.ndarray, ys: np.ndarray) -> dict:
        fitted.append(xs.tolist())
        return {"converged": True, "message": "ok", "exponent": -0.1, "params": {"b": -0.1},
                "r2_log": 1.0, "rmse_log": 0.0, "extrapolation_note": None}

    out = axes.by_size("saturating", x, y, labels, n, 3, fit_one)
    assert [(e["size"], e["n"], e["n_points"], e["converged"]) for e in out] == [
        ("s1", 1e7, 3, True), ("s2", 1e8, 3, True), ("s3", 1e9, 1, False)]
    assert out[2]["message"] == "1 distinct x; the saturating form needs 3 points"
    assert out[2]["exponent"] is None and out[2]["params"] == {}
    assert fitted == [[1e9, 1e10, 1e11]] * 2  # the one-run size is never fitted


@pytest.mark.parametrize("y", [np.array([]), np.array([np.nan, np.nan])])
def test_a_frontier_with_no_point_is_an_empty_index(y):
    # No runs, or none with a loss: no budget is below +inf, so no point is on the
    # frontier. The answer is still indices, which select nothing, not an error.
    c = np.array([1e18, 1e19])[:y.size]
    keep, c_budget = axes.frontier_points(c, y)
    assert keep.dtype.kind == "i" and keep.size == 0 and c_budget.size == 0
    assert c[axes.frontier(c, y)].size == 0


def test_the_frontiers_seed_level_keeps_the_kept_points_draws_from_the_fits_generator():
    # The seed level draws (n_boot, points) for every point; on the frontier the power
    # bootstrap sees the kept points' columns, drawn from the generator it passes, so one
    # --seed gives one answer.
    def level(n_boot: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n_boot, 5))

    keep = np.array([0, 2, 4])
    kept = axes.level_on(level, keep)
    want = np.random.default_rng(7).standard_normal((4, 5))[:, keep]
    np.testing.assert_array_equal(kept(4, np.random.default_rng(7)), want)
    assert axes.level_on(None, keep) is None
    assert axes.level_on(lambda n_boot, rng: None, keep)(4, np.random.default_rng(7)) is None

