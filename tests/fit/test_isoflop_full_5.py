"""isoflop.window where the parabola through the window has curvature exactly 0: a straight
line has no vertex to re-centre on, so the window stays where it started (at the lowest
point) and fit_vertex rejects the budget as not convex.

The slice: ln N = 0..7, a bowl over the four smallest sizes and a straight fall over the
four largest, 3.75, 3.5, 3.25, 3.0, whose last size is the lowest point. The window starts
on it (index 7) and holds indices 4..7, where loss = 3.375 - 0.25 u exactly (u = ln N -
5.5): c2 = 0. The least squares is done in fractions (`exact_parabola`) so that c2 is 0
whatever the LAPACK's rounding.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from scalecli.fit import isoflop
from scalecli.fit.isoflop import Budget, fit_vertex, window

LOG_N = np.arange(8.0)
LOSS = np.array([4.25, 4.0, 4.25, 5.0, 3.75, 3.5, 3.25, 3.0])
C = 6e18


def exact_parabola(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """isoflop.parabola without rounding: the weighted normal equations solved in fractions
    (Cramer's rule)."""
    rows = [[Fraction(1), Fraction(float(x)), Fraction(float(x)) ** 2] for x in u]
    ys, ws = [Fraction(float(v)) for v in y], [Fraction(float(v)) for v in w]
    a = [[sum(wk * r[i] * r[j] for wk, r in zip(ws, rows, strict=True)) for j in range(3)]
         for i in range(3)]
    b = [sum(wk * r[i] * yk for wk, r, yk in zip(ws, rows, ys, strict=True)) for i in range(3)]

    def det(m: list[list[Fraction]]) -> Fraction:
        return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))

    d = det(a)
    return np.array([float(det([[b[i] if j == k else a[i][j] for j in range(3)]
                                for i in range(3)]) / d) for k in range(3)])


@pytest.fixture(autouse=True)
def exact(monkeypatch) -> None:
    monkeypatch.setattr(isoflop, "parabola", exact_parabola)


def test_the_line_through_the_window_is_exact() -> None:
    # the premise: over indices 4..7 the fit is the line itself, curvature exactly 0
    u = LOG_N[4:] - 5.5
    assert list(exact_parabola(u, LOSS[4:], np.ones(4))) == [3.375, -0.25, 0.0]


def test_a_window_on_a_straight_line_stays_at_the_lowest_point() -> None:
    assert window(LOG_N, LOSS).tolist() == [4, 5, 6, 7]


def test_a_budget_whose_window_is_a_straight_line_is_not_convex() -> None:
    v = fit_vertex(Budget(C, C, LOG_N, LOSS, math.log(C / 6) - LOG_N))
    assert (v.curvature, v.points, v.reason, v.detail) == (
        0.0, 4, "not_convex", "the parabola opens downward (curvature 0)")
    assert all(math.isnan(x) for x in (v.log_n, v.log_d, v.loss, v.spread))
