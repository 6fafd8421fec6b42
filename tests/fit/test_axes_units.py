"""fit.axes by hand: the compute frontier's points and C, the per-size entries of a law
along D, and their texts (tests/fit/test_axes.py runs them through the CLI)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit.axes import (
    by_size,
    frontier,
    frontier_points,
    level_on,
    nominal_budgets,
    on_frontier,
    pooled_caveat,
    sizes,
)


class OneRowPerPoint:
    """A seeds.Ladder of one row per configuration: `first` is the rows' values."""

    @staticmethod
    def first(values: np.ndarray) -> np.ndarray:
        return values


LAD = OneRowPerPoint()


def test_the_frontier_is_each_budgets_best_below_every_cheaper_budget() -> None:
    # budgets: {0, 1} (1% apart), {2}, {3, 4}; budget 2's best (3.1) is above 2.9
    c = np.array([1e18, 1.01e18, 2e18, 4e18, 4.1e18])
    y = np.array([3.0, 2.9, 3.1, 2.5, 2.6])
    keep, at = frontier_points(c, y)
    assert keep.tolist() == [1, 3]
    assert at.tolist() == pytest.approx([math.sqrt(1.01) * 1e18, math.sqrt(4 * 4.1) * 1e18])
    assert frontier(c, y).tolist() == [1, 3]
    # a budget that only ties the best so far is not below it
    assert frontier(np.array([1e18, 2e18]), np.array([3.0, 3.0])).tolist() == [0]


def test_the_frontier_lists_points_in_index_order_with_their_budgets_c() -> None:
    keep, at = frontier_points(np.array([4e18, 1e18]), np.array([2.5, 3.0]))
    assert keep.tolist() == [0, 1] and at.tolist() == pytest.approx([4e18, 1e18])
    assert keep.dtype == np.int64 or keep.dtype == np.intp


def test_budget_flops_group_the_runs_when_every_run_has_one() -> None:
    c, y = np.array([1e18, 1.2e18]), np.array([3.0, 2.9])  # 20% apart: two budgets by C
    assert frontier(c, y).tolist() == [0, 1]
    one = np.array([1e18, 1e18])  # ...one budget by budget_flops
    assert frontier(c, y, one).tolist() == [1]
    _, at = frontier_points(c, y, one)
    assert at.tolist() == pytest.approx([math.sqrt(1.2) * 1e18])


def test_nominal_budgets_read_the_column_or_none() -> None:
    rows = [{"budget_flops": "1e18"}, {"budget_flops": ""}]
    assert nominal_budgets(rows, ["params"], LAD) is None
    got = nominal_budgets(rows, ["params", "budget_flops"], LAD)
    assert got[0] == 1e18 and math.isnan(got[1])


def test_a_frontier_too_short_says_how_many_points_and_budgets() -> None:
    c = np.array([1e18, 1.01e18, 2e18, 4e18])
    y = np.array([3.0, 2.9, 3.1, 2.5])
    keep, at = on_frontier("power", "flops", c, y, 2)
    assert keep.tolist() == [1, 3] and at.size == 2
    with pytest.raises(ScaleError) as caught:
        on_frontier("saturating", "flops", c, y, 4)
    assert str(caught.value) == (
        "the compute frontier of 'flops' has 2 of 4 points (3 FLOP budgets); the saturating "
        "form needs at least 4. Runs that trade N against D at each budget (an isoFLOP or "
        "token grid) widen it")
    one = np.ones(4)  # one budget by budget_flops: its best run only
    assert on_frontier("power", "flops", c, y, 1, one)[0].tolist() == [3]
    with pytest.raises(ScaleError, match=r"has 1 of 4 points \(1 FLOP budgets\)"):
        on_frontier("power", "flops", c, y, 2, one)


def test_level_on_keeps_the_kept_points_columns() -> None:
    assert level_on(None, np.array([0])) is None
    drawn = np.arange(12.0).reshape(3, 4)
    kept = level_on(lambda n_boot, rng: drawn[:n_boot], np.array([1, 3]))
    assert kept(2, np.random.default_rng(0)).tolist() == [[1.0, 3.0], [5.0, 7.0]]
    assert level_on(lambda n_boot, rng: None, np.array([1]))(2, None) is None


def test_sizes_are_named_by_model_else_by_n() -> None:
    rows = [{"model": "s1", "params": "2e6", "params_non_embedding": "1e6"},
            {"model": "", "params": "3e6", "params_non_embedding": "2.5e6"}]
    labels, n = sizes(rows, ["model", "params", "params_non_embedding"], LAD)
    assert labels.tolist() == ["s1", "2.5e+06"] and n.tolist() == [1e6, 2.5e6]
    labels, n = sizes(rows, ["model", "params"], LAD)
    assert labels.tolist() == ["s1", "3e+06"] and n.tolist() == [2e6, 3e6]
    labels, n = sizes([{"model": "a"}, {}], ["model"], LAD)
    assert labels.tolist() == ["a", "nan"] and np.isnan(n).all()


def test_by_size_fits_each_size_smallest_first_or_says_why_not() -> None:
    x = np.array([1.0, 2.0, 4.0, 1.0, 2.0, 1.0, 1.0, 1.0, 2.0, 4.0])
    y = np.arange(10.0)
    labels = np.array(["big"] * 3 + ["mid"] * 2 + ["one"] * 2 + ["tie"] * 3, dtype=object)
    n = np.array([9e6] * 3 + [3e6] * 2 + [1e6] * 2 + [9e6] * 3)
    seen = []

    def fit_one(xs: np.ndarray, ys: np.ndarray) -> dict:
        seen.append((xs.tolist(), ys.tolist()))
        return {"converged": True, "message": "ok", "exponent": -0.1 * len(xs),
                "params": {"b": len(xs)}, "r2_log": 0.9, "rmse_log": 0.01,
                "extrapolation_note": None, "ignored": 1}

    out = by_size("power", x, y, labels, n, 3, fit_one)
    assert [e["size"] for e in out] == ["one", "mid", "big", "tie"]  # by N, then by name
    assert out[0] == {"size": "one", "n": 1e6, "n_points": 2, "converged": False,
                      "exponent": None, "params": {},
                      "message": "1 distinct x; the power form needs 3 points"}
    assert out[1]["message"] == "2 distinct x; the power form needs 3 points"
    assert out[2] == {"size": "big", "n": 9e6, "n_points": 3, "converged": True,
                      "message": "ok", "exponent": pytest.approx(-0.3), "params": {"b": 3},
                      "r2_log": 0.9, "rmse_log": 0.01, "extrapolation_note": None}
    assert seen == [([1.0, 2.0, 4.0], [0.0, 1.0, 2.0]), ([1.0, 2.0, 4.0], [7.0, 8.0, 9.0])]
    # two points with two distinct x are enough where the form needs two
    assert by_size("power", x, y, labels, n, 2, fit_one)[1]["converged"] is True


def test_the_pooled_caveat() -> None:
    assert pooled_caveat([{}, {}, {}], "tokens") == (
        "this fit pools 3 sizes, whose losses differ at the same tokens; the data exponent "
        "of each size is in by_size")
