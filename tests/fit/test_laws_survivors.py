"""The saturating law's fit on exact laws and an independent optimiser: whether it says it
saw a floor, and Levenberg-Marquardt's answer not depending on the scale of its weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from scalecli.fit import laws

X = np.geomspace(1e4, 1e6, 5)


def test_the_saturating_fit_says_whether_the_data_show_a_floor() -> None:
    # L = 3.71 + 11.6 N^-0.3 has a floor E = 3.71, 0.79 below its smallest point (4.50 at
    # 1e6): the fit finds it and says nothing of E -> 0
    floor = laws.fit_saturating(X, 3.71 + 11.6 * X ** -0.3)
    assert floor.converged
    assert floor.theta == pytest.approx([3.71, 11.6, 0.3], rel=1e-6)
    assert floor.message == "Levenberg-Marquardt converged"
    # a pure power law, L = 7 N^-0.05, has none: E runs to 0, and the fit says so
    power = laws.fit_saturating(X, 7.0 * X ** -0.05)
    assert power.converged
    assert power.theta[0] < 1e-6 * float(np.min(7.0 * X ** -0.05))
    assert power.message == ("Levenberg-Marquardt converged with E -> 0: no floor visible; "
                             "power fits as well")


def test_levenberg_marquardt_weights_are_relative() -> None:
    # Weighted least squares minimises sum w r^2, whose minimiser is the same for w and
    # c * w: the stopping rule must scale with the weights too (a tolerance in absolute
    # units stops at the first small step when the weights are small).
    rng = np.random.default_rng(3)
    lx = np.log(X)
    ly = np.log(2.0 + 40.0 * X ** -0.3) + rng.normal(0.0, 0.01, X.size)
    q0 = np.array([[np.log(30.0), 0.25, np.log(1.8)]])

    def resid(q: np.ndarray) -> np.ndarray:
        return np.logaddexp(q[0] - q[1] * lx, q[2]) - ly

    best = least_squares(resid, q0[0], xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    for c in (1.0, 1e-6, 1e6):
        q, cost, converged = laws.saturating_lm(q0, lx, ly, weights=np.full((1, X.size), c))
        assert converged.tolist() == [True], c
        np.testing.assert_allclose(q[0], best, rtol=1e-6, err_msg=str(c))
        assert cost[0] == pytest.approx(c * 0.5 * np.sum(resid(best) ** 2), rel=1e-9)
