"""The saturating fit's 20 starting points, its pick when no start converged, and its form name.

`_saturating_starts` is a pure function of the data whose grid is a documented design choice:
E = frac * min(y) for frac in (0, 0.5, 0.9, 0.99), alpha in (0.05, 0.1, 0.3, 0.7, 1.5), and
log A the least-squares value for that E and alpha, mean(log(max(y - E, 1e-12 y)) + alpha log x),
with log E floored at log(1e-6 min(y)). The tests rebuild that grid in plain Python from the
rule and compare the whole array. With positive y, y - E >= (1 - 0.99) min(y) > 1e-12 y, so the
floor never binds; the losses here are tiny (1e-7 .. 3e-7), where a floor of 1e-12 / y would
(1e-12 / 1e-7 = 1e-5 > y), so the floor's form is pinned too.

The pick when none converged uses `_stub` from test_laws_full_5 (fixed rows from
Levenberg-Marquardt): the first row whose three coordinates are all finite is reported.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import laws
from tests.fit.test_laws_full_5 import N_STARTS, _stub

FRACS = (0.0, 0.5, 0.9, 0.99)
ALPHAS = (0.05, 0.1, 0.3, 0.7, 1.5)


def _starts_by_rule(x: list[float], y: list[float]) -> list[list[float]]:
    """The documented grid, worked out element by element with math.log (no floor binds)."""
    y_min = min(y)
    rows = []
    for frac in FRACS:
        e_ = frac * y_min
        for alpha in ALPHAS:
            terms = [math.log(yi - e_) + alpha * math.log(xi) for xi, yi in zip(x, y, strict=True)]
            assert all(yi - e_ > 1e-12 * yi for yi in y)  # the floor does not bind
            rows.append([sum(terms) / len(terms), alpha, math.log(max(e_, 1e-6 * y_min))])
    return rows


def test_starting_grid_on_ordinary_losses() -> None:
    """Losses 4, 3, 2.5 at x = 10, 100, 1000: the 20 starts are the grid rebuilt from its rule
    (e.g. row 0: log A = mean(log y + 0.05 log x), alpha 0.05, log E = log(2.5e-6))."""
    x, y = [10.0, 100.0, 1000.0], [4.0, 3.0, 2.5]
    got = laws._saturating_starts(np.array(x), np.array(y))
    assert got.shape == (N_STARTS, 3)
    np.testing.assert_allclose(got, _starts_by_rule(x, y), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(got[:5, 1], ALPHAS)  # the alpha grid, exactly


def test_starting_grid_on_tiny_losses() -> None:
    """Losses 3e-7, 2e-7, 1e-7: log A uses log(y - E) itself (y - E >= 1e-9 > 1e-12 y), so
    row 0's log A is mean(log y) + 0.05 mean(log x) = log(6e-21)/3 + 0.05 log 100."""
    x, y = [10.0, 100.0, 1000.0], [3e-7, 2e-7, 1e-7]
    got = laws._saturating_starts(np.array(x), np.array(y))
    np.testing.assert_allclose(got, _starts_by_rule(x, y), rtol=1e-13, atol=1e-13)
    assert got[0, 0] == pytest.approx(math.log(6e-21) / 3 + 0.05 * math.log(100.0), rel=1e-13)
    np.testing.assert_array_equal(got[15:, 1], ALPHAS)  # frac 0.99 block keeps the same grid


def test_no_start_converged_and_row_0_not_finite_reports_row_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Row 0 has log E = -inf, rows 1.. are finite, none converged: row 1 is the first all-finite
    row, so theta = (exp 0.5, exp 1, 0.2) and the internal q is row 1 itself."""
    q = np.array([[1.0, 0.2 + k, 0.5] for k in range(N_STARTS)])
    q[0] = [1.0, 0.2, -np.inf]
    _stub(monkeypatch, q, np.ones(N_STARTS), np.zeros(N_STARTS, dtype=bool))
    fit = laws.fit_saturating(np.array([10.0, 100.0, 1000.0]), np.array([5.0, 4.0, 3.0]))
    assert fit.converged is False
    np.testing.assert_array_equal(fit.extra["internal"], [1.0, 1.2, 0.5])
    np.testing.assert_allclose(fit.theta, [math.exp(0.5), math.e, 1.2], rtol=1e-15)


def test_no_row_finite_reports_row_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row has a nan coordinate and none converged: nothing is finite, the fallback is
    row 0 (no error), reported as (nan, exp 2, 0.3) with "no start converged"."""
    q = np.array([[2.0, 0.3 + k, np.nan] for k in range(N_STARTS)])
    _stub(monkeypatch, q, np.full(N_STARTS, np.nan), np.zeros(N_STARTS, dtype=bool))
    fit = laws.fit_saturating(np.array([10.0, 100.0, 1000.0]), np.array([5.0, 4.0, 3.0]))
    assert fit.converged is False
    assert fit.message == "no start converged"
    np.testing.assert_array_equal(fit.theta, [np.nan, math.exp(2.0), 0.3])


def test_saturating_fit_names_its_form() -> None:
    """A real fit of exact data L = 2 + 5 N^-0.5 at N = 10 .. 10^4: form "saturating" (the
    registered name of the form) and theta (E, A, alpha) = (2, 5, 0.5)."""
    x = np.array([10.0, 100.0, 1000.0, 10000.0])
    fit = laws.fit_saturating(x, 2.0 + 5.0 * x**-0.5)
    assert fit.form == "saturating"
    assert fit.converged is True
    np.testing.assert_allclose(fit.theta, [2.0, 5.0, 0.5], rtol=1e-6)
