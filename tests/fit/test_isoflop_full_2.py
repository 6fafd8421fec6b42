"""isoflop's grouping order, its line's weights and its budgets' fit.json blocks, by hand.

- group_budgets: each budget's runs come out smallest flops first and, at equal flops, in
  row order (a stable sort), so that the same CSV gives the same budgets on every machine.
  24 runs, so that an unstable sort (numpy's quicksort, or its SIMD argsort) reorders ties.
- law_from: each accepted vertex weighs 1 / spread; a spread that is not a finite positive
  number (nan: no precision known; 0; inf) makes the line unweighted. The lines are worked
  out by least squares by hand on three points at ln C = 40, 42, 44.
- analyse_isoflop's `budgets`: the whole block of an exact parabola, and of a budget with
  too few sizes, with every number from the design.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.isoflop import Budget, Vertex, analyse_isoflop, group_budgets, law_from

# --- group_budgets ---------------------------------------------------------------------

FLOPS = np.array([2e18, 1e18, 1.02e18] * 8)  # 1e18 and 1.02e18 are one budget (5%)
ONES = list(range(1, 24, 3))  # rows at 1e18
TWOS = list(range(2, 24, 3))  # rows at 1.02e18
BIG = list(range(0, 24, 3))  # rows at 2e18


def test_a_budget_lists_its_runs_by_flops_then_in_row_order() -> None:
    groups = [g.tolist() for g in group_budgets(FLOPS)]
    assert groups == [ONES + TWOS, BIG]


def test_budget_flops_groups_keep_the_same_order() -> None:
    # the 1.02e18 rows belong to the 2e18 budget by their budget_flops: they come first in it
    nominal = np.array([2e18, 1e18, 2e18] * 8)
    groups = [g.tolist() for g in group_budgets(FLOPS, nominal)]
    assert groups == [ONES, TWOS + BIG]


# --- law_from ----------------------------------------------------------------------------

LOG_C = (40.0, 42.0, 44.0)
LOG_N = (10.0, 11.5, 12.0)
LOG_D = (30.0, 31.0, 33.0)
# Unweighted, x centred at 42 (deviations -2, 0, 2, sum of squares 8):
#   slope N = (-2 * 10 + 2 * 12) / 8 = 0.5, mean 33.5 / 3, ln k_N = 33.5 / 3 - 21
#   slope D = (-2 * 30 + 2 * 33) / 8 = 0.75, mean 94 / 3, ln k_D = 94 / 3 - 31.5
UNWEIGHTED = (0.5, 33.5 / 3 - 21, 0.75, 94 / 3 - 31.5)
# Weights 1, 4, 1 (spreads 1, 1/4, 1): the weighted mean of x is still 42 and the middle
# point has no leverage on the slope, so the slopes stay; the means become
# (10 + 4 * 11.5 + 12) / 6 = 68 / 6 and (30 + 4 * 31 + 33) / 6 = 187 / 6.
WEIGHTED = (0.5, 68 / 6 - 21, 0.75, 187 / 6 - 31.5)


def line_inputs(spreads: tuple[float, ...]) -> tuple[list[Budget], list[Vertex]]:
    budgets, vertices = [], []
    for log_c, log_n, log_d, spread in zip(LOG_C, LOG_N, LOG_D, spreads, strict=True):
        c = math.exp(log_c)
        budgets.append(Budget(c, c, np.array([log_n]), np.array([3.0]), np.array([log_d])))
        vertices.append(Vertex(log_n, log_d, 3.0, 0.2, 5, None, spread=spread))
    return budgets, vertices


def test_each_vertex_weighs_by_its_precision() -> None:
    budgets, vertices = line_inputs((1.0, 0.25, 1.0))
    # a rejected budget has no precision (nan): it is left out, and does not turn weights off
    far = math.exp(50.0)
    budgets.append(Budget(far, far, np.array([20.0]), np.array([2.0]), np.array([40.0])))
    vertices.append(Vertex(20.0, 40.0, 2.0, -0.1, 5, "not_convex"))
    assert law_from(budgets, vertices) == pytest.approx(WEIGHTED, rel=0, abs=1e-9)


@pytest.mark.parametrize("odd", [float("nan"), 0.0, float("inf")])
def test_a_vertex_without_a_usable_precision_makes_the_line_unweighted(odd: float) -> None:
    budgets, vertices = line_inputs((1.0, odd, 1.0))
    assert law_from(budgets, vertices) == pytest.approx(UNWEIGHTED, rel=0, abs=1e-9)


def test_vertices_must_pair_one_for_one_with_budgets() -> None:
    # e.g. the accepted budgets' vertices against every budget: pairing would shift them
    budgets, vertices = line_inputs((1.0, 0.25, 1.0))
    with pytest.raises(ValueError):
        law_from(budgets, vertices[1:])


# --- the budgets' blocks in fit.json -----------------------------------------------------

C = 6e18
N = np.array([1e6, 2e6, 4e6, 8e6, 16e6])
LOSS = 3.0 + 0.1 * np.log(N / 4e6) ** 2  # an exact parabola in ln N, vertex at N = 4e6


def test_each_budget_block_carries_its_points_vertex_and_verdict() -> None:
    exact = Budget(C * 1.01, C, np.log(N), LOSS, np.log(C / (6 * N)))
    few = Budget(2 * C, None, np.log(N[:3]), LOSS[:3], np.log(2 * C / (6 * N[:3])))
    out = analyse_isoflop([exact, few], n_boot=0)
    assert out["budgets"] == [
        {"flops": pytest.approx(C * 1.01, rel=1e-12), "budget_flops": C,
         # the vertex of 3 + 0.1 (ln N - ln 4e6)^2, its D = C / (6 N), curvature 2 * 0.1
         "n_opt": pytest.approx(4e6, rel=1e-9), "d_opt": pytest.approx(C / 24e6, rel=1e-9),
         "loss_opt": pytest.approx(3.0, rel=1e-12), "curvature": pytest.approx(0.2, rel=1e-9),
         "points": 5, "window": 5, "accepted": True,
         "n": pytest.approx(N.tolist(), rel=1e-12), "loss": pytest.approx(LOSS.tolist())},
        {"flops": 2 * C, "budget_flops": None, "n_opt": None, "d_opt": None,
         "loss_opt": None, "curvature": None, "points": 3, "window": 3, "accepted": False,
         "reason": "too_few_points", "reason_text": "3 sizes, at least 5 are needed",
         "n": pytest.approx(N[:3].tolist(), rel=1e-12),
         "loss": pytest.approx(LOSS[:3].tolist())},
    ]
