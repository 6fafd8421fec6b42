"""laws.saturating_lm: how it takes its starts and its default iteration cap.

- The starts q0 are the caller's: the solver writes its updates into its own float copy, so
  a float64 array passed in is left exactly as it was, and integer starts (a list of ints or
  an int array) are not truncated on every update but reach the exact optimum.
- The default cap is 200 iterations: on a slow problem that is still moving after 200
  iterations, the call without max_iter is the max_iter=200 call, bit for bit, and not the
  max_iter=201 one.

The curve is the one of test_laws_full_1 / _4: L = 2 + 40 x^-0.5 on x = 1e4..1e8, whose
internal optimum is exactly Q_HAT = (log 40, 0.5, log 2) with zero residuals.
"""

from __future__ import annotations

import numpy as np

from scalecli.fit import laws
from tests.fit.test_laws_full_1 import Q_HAT, X
from tests.fit.test_laws_full_4 import _on_curve


def _curve() -> tuple[np.ndarray, np.ndarray]:
    """log x and log y exactly on L = 2 + 40 x^-0.5."""
    return np.log(X), np.log(_on_curve(X))


def test_a_float_start_array_is_left_exactly_as_the_caller_passed_it() -> None:
    """q0 = [[4, 1, 1], [3, 0.25, 0]] as float64 comes back unchanged element for element
    (the solver updates q in place, q[better] = ..., so it must be a copy), while the
    returned rows have moved to the optimum Q_HAT."""
    lx, ly = _curve()
    q0 = np.array([[4.0, 1.0, 1.0], [3.0, 0.25, 0.0]])
    q, _, converged = laws.saturating_lm(q0, lx, ly)
    assert q0.dtype == np.float64
    assert q0.tolist() == [[4.0, 1.0, 1.0], [3.0, 0.25, 0.0]]
    assert q is not q0
    np.testing.assert_allclose(q, np.vstack([Q_HAT, Q_HAT]), rtol=0, atol=1e-7)
    assert converged.tolist() == [True, True]


def test_a_start_given_as_a_list_of_ints_reaches_the_exact_optimum() -> None:
    """q0 = [[4, 1, 1]] (Python ints): the solver works in floats, so it reaches
    (log 40, 0.5, log 2) to 1e-7 with zero cost; in an int array every accepted step would
    be truncated to whole numbers and alpha could never be 0.5."""
    lx, ly = _curve()
    q, cost, converged = laws.saturating_lm([[4, 1, 1]], lx, ly)  # type: ignore[arg-type]
    assert q.dtype == np.float64
    np.testing.assert_allclose(q[0], Q_HAT, rtol=0, atol=1e-7)
    assert abs(float(cost[0])) <= 1e-18  # exact data: the minimum cost is 0
    assert converged.tolist() == [True]


def test_an_int_array_start_reaches_the_exact_optimum() -> None:
    """q0 = np.array([[3, 1, 0]]) (int64): same optimum (log 40, 0.5, log 2) to 1e-7, and the
    caller's int array is untouched."""
    lx, ly = _curve()
    q0 = np.array([[3, 1, 0]])
    q, cost, converged = laws.saturating_lm(q0, lx, ly)
    assert q0.tolist() == [[3, 1, 0]]
    np.testing.assert_allclose(q[0], Q_HAT, rtol=0, atol=1e-7)
    assert abs(float(cost[0])) <= 1e-18
    assert converged.tolist() == [True]


def test_the_default_iteration_cap_is_200() -> None:
    """y = (3, 2, 2, 6, 8) at x = 10..1e5 from q0 = (0, 0, 1) is a slow problem (a narrow
    valley; it is not done after 200 iterations and the 201st still moves q by more than
    1e-3), so the cap shows: omitting max_iter gives exactly the max_iter=200 result."""
    lx = np.log(np.array([1e1, 1e2, 1e3, 1e4, 1e5]))
    ly = np.log(np.array([3.0, 2.0, 2.0, 6.0, 8.0]))
    q0 = np.array([[0.0, 0.0, 1.0]])
    q_def, cost_def, conv_def = laws.saturating_lm(q0, lx, ly)
    q_200, cost_200, conv_200 = laws.saturating_lm(q0, lx, ly, max_iter=200)
    q_201, _, _ = laws.saturating_lm(q0, lx, ly, max_iter=201)
    assert float(np.max(np.abs(q_201 - q_200))) > 1e-3  # the cap matters on this problem
    assert q_def.tolist() == q_200.tolist()
    assert cost_def.tolist() == cost_200.tolist()
    assert conv_def.tolist() == conv_200.tolist()
