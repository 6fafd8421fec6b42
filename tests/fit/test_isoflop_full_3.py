"""isoflop.fit_vertex's whole Vertex record, worked out by hand, for each verdict.

- too_few_points: every field (nan, the count of sizes present, the reason and its text),
  for 2 and 3 sizes, whole budgets and bootstrap resamples (`counts`: zeros drop a size).
- a resample with 3 sizes is fitted (the shape checks only), its middle size drawn twice
  weighs twice: spread 37.5 instead of 50 (the delta method by hand, below).
- not_convex: a downward parabola's curvature and its text; a flat slice (curvature 0).
- a vertex exactly on a sampled size: on the end sizes it is inside (not minimum_outside),
  and the size under it counts on neither side in the one_sided check.
- the window is chosen with the counts as weights: a tiny model drawn twice moves it.

The exact cases use parabolas 3 + 0.25 (ln N - v)^2 on integer ln N, whose values are
exact in binary, and the least squares is done in fractions (`exact_parabola`), so that a
vertex lands exactly on a size whatever the LAPACK's rounding.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest

from scalecli.fit import isoflop
from scalecli.fit.isoflop import Budget, Vertex, fit_vertex

C = 6e18
LOG_C6 = math.log(C / 6)  # ln D = ln(C / 6) - ln N on every budget here
NAN = float("nan")


def budget(log_n, loss) -> Budget:
    log_n = np.asarray(log_n, dtype=float)
    return Budget(C, C, log_n, np.asarray(loss, dtype=float), LOG_C6 - log_n)


def assert_vertex(v: Vertex, **want: object) -> None:
    """Every field of v as in want; a nan field must be a float nan (not None)."""
    got = dataclasses.asdict(v)
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, float) and math.isnan(value):
            assert isinstance(got[key], float) and math.isnan(got[key]), (key, got[key])
        else:
            assert got[key] == value, (key, got[key], value)


def solve3(a: list[list[Fraction]], b: list[Fraction]) -> list[Fraction]:
    """Cramer's rule, in fractions."""
    def det(m: list[list[Fraction]]) -> Fraction:
        return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
    d = det(a)
    return [det([[b[i] if j == k else a[i][j] for j in range(3)] for i in range(3)]) / d
            for k in range(3)]


def exact_parabola(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """isoflop.parabola without rounding: the weighted normal equations in fractions."""
    rows = [[Fraction(1), Fraction(float(x)), Fraction(float(x)) ** 2] for x in u]
    ys, ws = [Fraction(float(v)) for v in y], [Fraction(float(v)) for v in w]
    a = [[sum(wk * r[i] * r[j] for wk, r in zip(ws, rows, strict=True)) for j in range(3)]
         for i in range(3)]
    b = [sum(wk * r[i] * yk for wk, r, yk in zip(ws, rows, ys, strict=True)) for i in range(3)]
    return np.array([float(c) for c in solve3(a, b)])


@pytest.fixture
def exact(monkeypatch):
    monkeypatch.setattr(isoflop, "parabola", exact_parabola)


def test_exact_parabola_is_least_squares() -> None:
    # the helper itself: the same coefficients as numpy's lstsq on a noisy, weighted case
    rng = np.random.default_rng(0)
    u, y, w = rng.normal(size=6), rng.normal(size=6), rng.integers(1, 4, 6).astype(float)
    design = np.column_stack([np.ones(6), u, u * u]) * np.sqrt(w)[:, None]
    want, *_ = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)
    assert exact_parabola(u, y, w) == pytest.approx(want, rel=1e-12)


# --- too few sizes -------------------------------------------------------------------------

FIVE = np.arange(5.0)
BOWL = 3.0 + 0.25 * (FIVE - 2.0) ** 2  # vertex at ln N = 2, the middle size


def too_few(points: int, detail: str) -> dict:
    return dict(log_n=NAN, log_d=NAN, loss=NAN, curvature=NAN, points=points,
                reason="too_few_points", detail=detail, spread=NAN)


@pytest.mark.parametrize("sizes", [2, 3])
def test_a_budget_with_too_few_sizes_is_rejected_with_nothing_fitted(sizes: int) -> None:
    v = fit_vertex(budget(FIVE[:sizes], BOWL[:sizes]))
    assert_vertex(v, **too_few(sizes, f"{sizes} sizes, at least 5 are needed"))


def test_a_resample_counts_only_the_sizes_it_drew() -> None:
    # 5 sizes, 5 draws that hit 3 of them: strictly, 3 sizes are too few
    v = fit_vertex(budget(FIVE, BOWL), np.array([1, 0, 2, 0, 2]))
    assert_vertex(v, **too_few(3, "3 sizes, at least 5 are needed"))


def test_a_bootstrap_resample_with_two_sizes_fits_nothing() -> None:
    # with strict=False (the bootstrap) only a parabola's 3 coefficients are needed
    v = fit_vertex(budget(FIVE, BOWL), np.array([0, 3, 0, 0, 2]), strict=False)
    assert_vertex(v, **too_few(2, ""))


def test_a_bootstrap_resample_with_three_sizes_is_fitted_with_its_weights() -> None:
    # sizes 1, 2, 3 drawn 1, 2, 1 times; 3 + 0.25 (x - 2.5)^2 through them is exact.
    # centre 2, u = -1, 0, 1: c0 = y2, c1 = (y3 - y1) / 2 = -0.25, c2 = (y1 + y3) / 2 - y2
    # = 0.25. With Var(y_i) = 1 / w_i: Var c1 = (1 + 1) / 4 = 1/2, Var c2 = 1/2 + 1/2 = 1,
    # Cov = 0; the vertex's gradient (-1 / (2 c2), c1 / (2 c2^2)) = (-2, -2), so the spread
    # is 4 * 1/2 + 4 * 1 = 6 (unweighted, Var c2 = 3/2 and it would be 8).
    loss = 3.0 + 0.25 * (FIVE - 2.5) ** 2
    v = fit_vertex(budget(FIVE, loss), np.array([0, 1, 2, 1, 0]), strict=False)
    assert_vertex(v, log_n=pytest.approx(2.5, abs=1e-12),
                  log_d=pytest.approx(LOG_C6 - 2.5, abs=1e-12),
                  loss=pytest.approx(3.0, abs=1e-12), curvature=pytest.approx(0.5, rel=1e-12),
                  points=3, reason=None, detail="", spread=pytest.approx(6.0, rel=1e-9))


# --- not convex --------------------------------------------------------------------------

def test_a_downward_parabola_is_rejected_with_its_curvature() -> None:
    # 3 - 0.25 (x - 1)^2 on x = 0..4: lowest at x = 4, so the window is x = 1..4 (the
    # lowest size and up to 3 on each side); its parabola opens downward, curvature -0.5
    loss = 3.0 - 0.25 * (FIVE - 1.0) ** 2
    v = fit_vertex(budget(FIVE, loss))
    assert_vertex(v, log_n=NAN, log_d=NAN, loss=NAN, curvature=pytest.approx(-0.5, rel=1e-9),
                  points=4, reason="not_convex",
                  detail="the parabola opens downward (curvature -0.5)", spread=NAN)


def test_a_flat_slice_has_no_minimum(exact) -> None:
    # the same loss at every size: curvature exactly 0, which is not a minimum either
    v = fit_vertex(budget(FIVE, np.full(5, 3.0)))
    assert_vertex(v, log_n=NAN, log_d=NAN, loss=NAN, curvature=0.0, points=4,
                  reason="not_convex", detail="the parabola opens downward (curvature 0)",
                  spread=NAN)


# --- a vertex exactly on a sampled size ----------------------------------------------------

def one_sided(left: int, right: int) -> str:
    return (f"{left} sizes below and {right} above the vertex; at least 2 are needed on "
            "each side")


@pytest.mark.parametrize(("at", "window", "reason", "detail"), [
    # the size under the vertex is neither below nor above it
    (0.0, 4, "one_sided", one_sided(0, 4)),
    (1.0, 5, "one_sided", one_sided(1, 3)),
    (2.0, 5, None, ""),
    (3.0, 5, "one_sided", one_sided(3, 1)),
    (4.0, 4, "one_sided", one_sided(4, 0)),
])
def test_a_vertex_on_a_size_counts_it_on_neither_side(exact, at, window, reason,
                                                      detail) -> None:
    v = fit_vertex(budget(FIVE, 3.0 + 0.25 * (FIVE - at) ** 2))
    assert (v.log_n, v.log_d, v.loss, v.curvature) == (at, LOG_C6 - at, 3.0, 0.5)
    assert (v.points, v.reason, v.detail) == (window, reason, detail)


@pytest.mark.parametrize("at", [1.0, 3.0])
def test_a_vertex_on_the_end_sizes_of_a_resample_is_inside_them(exact, at: float) -> None:
    # a resample that drew sizes 1, 2, 3: a vertex on 1 or on 3 is on the sampled range's
    # edge, not outside it, so the bootstrap keeps it. Window 1..3, centre 2, u = -1, 0, 1;
    # c2 = 0.25, c1 = -2 c2 (at - 2) = -/+0.5: gradient (-2, c1 / (2 c2^2)) = (-2, -/+4),
    # Var c1 = 1/2, Var c2 = 3/2 (unit weights): spread 4 / 2 + 16 * 3 / 2 = 26.
    v = fit_vertex(budget(FIVE, 3.0 + 0.25 * (FIVE - at) ** 2), np.array([0, 1, 1, 1, 0]),
                   strict=False)
    assert_vertex(v, log_n=at, log_d=LOG_C6 - at, loss=3.0, curvature=0.5, points=3,
                  reason=None, detail="", spread=pytest.approx(26.0, rel=1e-9))


# --- the window's weights ------------------------------------------------------------------

EIGHT = np.arange(8.0)
# x = 1..7 lie on 3 + 0.1 (x - 3.4)^2; the tiny model x = 0 sits 0.4 above it
BENT = 3.0 + 0.1 * (EIGHT - 3.4) ** 2 + np.where(EIGHT == 0, 0.4, 0.0)


def test_the_window_weighs_each_size_by_its_draws() -> None:
    # The window starts on the lowest point, x = 3: sizes 0..6. Their parabola puts its
    # vertex at 3.496 with every size once (nearest size 3: the window stays, and the
    # vertex is pulled off by x = 0), but at 3.506 with x = 0 drawn twice (nearest size 4:
    # the window moves to 1..7, an exact parabola, and x = 0 is out).
    # Window 1..7: centre 4, u = -3..3 with unit weights; sum u^2 = 28, sum u^4 = 196, so
    # Var c1 = 1/28 and Var c2 = 7 / (7 * 196 - 28^2) = 1/84, Cov = 0. c2 = 0.1, c1 =
    # -2 c2 (3.4 - 4) = 0.12: gradient (-5, 6), spread 25/28 + 36/84 = 37/28.
    counts = np.array([2, 1, 1, 1, 1, 1, 1, 1])
    v = fit_vertex(budget(EIGHT, BENT), counts, strict=False)
    assert_vertex(v, log_n=pytest.approx(3.4, abs=1e-9),
                  log_d=pytest.approx(LOG_C6 - 3.4, abs=1e-9),
                  loss=pytest.approx(3.0, abs=1e-9), curvature=pytest.approx(0.2, rel=1e-9),
                  points=7, reason=None, detail="", spread=pytest.approx(37 / 28, rel=1e-9))
