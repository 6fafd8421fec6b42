"""`fit_saturating` with Levenberg-Marquardt replaced by a stub that returns chosen rows:
which start it reports when none converged, and the message at the exact E -> 0 boundary.

The stub hands back fixed (q, cost, converged) rows for the 20 starts, so the start picked,
its natural parameters (E, A, alpha) = (exp q2, exp q0, q1) and the message follow from the
rows alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import laws

X = np.array([10.0, 100.0, 1000.0])
N_STARTS = 20  # 4 fractions of min(y) x 5 alphas in `_saturating_starts`


def _stub(monkeypatch: pytest.MonkeyPatch, q: np.ndarray, cost: np.ndarray,
          conv: np.ndarray) -> None:
    """Make `laws.saturating_lm` return these rows for the 20 starts of `fit_saturating`."""

    def saturating_lm(q0: np.ndarray, lx: np.ndarray, ly: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert q0.shape == (N_STARTS, 3)
        return q.copy(), cost.copy(), conv.copy()

    monkeypatch.setattr(laws, "saturating_lm", saturating_lm)


def test_with_no_start_converged_the_first_all_finite_row_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No start converged: the message is exactly "no start converged" and the row reported is
    the first whose three coordinates are all finite (row 2 here: row 0 has a nan alpha, row 1
    an infinite log A), so theta = (exp 0, exp 0, 0.25) = (1, 1, 0.25)."""
    q = np.array([[float(k), 0.5 + k, float(k)] for k in range(N_STARTS)])
    q[0] = [0.0, np.nan, 0.0]
    q[1] = [np.inf, 0.25, 0.0]
    q[2] = [0.0, 0.25, 0.0]
    # finite costs, but not converged: every cost counts as inf
    _stub(monkeypatch, q, np.arange(1.0, N_STARTS + 1.0), np.zeros(N_STARTS, dtype=bool))
    fit = laws.fit_saturating(X, np.array([8.0, 7.0, 6.0]))
    assert fit.converged is False
    assert fit.message == "no start converged"
    np.testing.assert_array_equal(fit.theta, [1.0, 1.0, 0.25])
    np.testing.assert_array_equal(fit.extra["internal"], [0.0, 0.25, 0.0])


def test_all_rows_finite_and_none_converged_reports_the_first_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When every row is finite and none converged, the first (row 0, not the cheapest row
    19) is reported: theta = (exp 0, exp 0, 0.5) = (1, 1, 0.5)."""
    q = np.array([[float(k), 0.5 + k, float(k)] for k in range(N_STARTS)])
    cost = np.arange(float(N_STARTS), 0.0, -1.0)  # row 19 is the cheapest
    _stub(monkeypatch, q, cost, np.zeros(N_STARTS, dtype=bool))
    fit = laws.fit_saturating(X, np.array([8.0, 7.0, 6.0]))
    assert fit.converged is False
    assert fit.message == "no start converged"
    np.testing.assert_array_equal(fit.theta, [1.0, 1.0, 0.5])


def _fit_with_log_e(monkeypatch: pytest.MonkeyPatch, log_e: float, y_min: float
                    ) -> laws.FitResult:
    """A converged fit whose best row has log E = log_e, on data whose smallest loss is y_min."""
    q = np.tile([0.0, 0.3, log_e], (N_STARTS, 1))
    _stub(monkeypatch, q, np.ones(N_STARTS), np.ones(N_STARTS, dtype=bool))
    return laws.fit_saturating(X, np.array([y_min + 2.0, y_min + 1.0, y_min]))


def test_e_exactly_one_millionth_of_the_smallest_loss_is_not_yet_e_to_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """E -> 0 is E < 1e-6 min(y), strictly: with E = 6e-6 and min(y) = 6, where
    exp(log 6e-6) == 6e-6 == 1e-6 * 6 exactly in float64, the fit reports a plain convergence;
    one ulp more on min(y) puts E strictly below the bound and the message says E -> 0."""
    e_ = 6e-6
    assert np.exp(np.log(e_)) == e_ and e_ == 1e-6 * 6.0  # the boundary is exact
    at = _fit_with_log_e(monkeypatch, float(np.log(e_)), 6.0)
    assert at.converged is True
    assert at.theta[0] == e_
    assert at.message == "Levenberg-Marquardt converged"
    y_min = float(np.nextafter(6.0, 7.0))
    assert e_ < 1e-6 * y_min  # one ulp above 6 moves the bound above E
    below = _fit_with_log_e(monkeypatch, float(np.log(e_)), y_min)
    assert below.converged is True
    assert below.message == ("Levenberg-Marquardt converged with E -> 0: no floor visible; "
                             "power fits as well")
