"""laws.saturating_lm on one-point problems whose every step is known in closed form.

With one size at x = 1 (log x = 0) and log E held (fixed=2), the alpha column of the
Jacobian is -s1 * 0 = 0 and only log A = a can move: the problem is one-dimensional, with
s1 = e^a / (e^a + E) the share of the power term and r = log(e^a + E) - log y. At a = log E - 50
the power term is e^-50 ~ 2e-22 of E, below half an ulp, so log(e^a + E) is log E exactly and
the cost 0.5 r^2 does not change when a moves a little. LM's first step (lam = 1e-3) is then
step = -r s1 / (s1^2 (1 + lam) + lam * 1e-12): the damping matrix is H + lam * (diag H + 1e-12),
with H = s1^2 on a and exactly 0 on alpha (1.0 on the held log E).

- A step that leaves the cost exactly equal is accepted (cost_new <= cost) and, being no gain,
  ends the row: a moves by exactly that one step and never again, even while another row of
  the batch keeps iterating; a finished row is not stepped again (no NaN candidate, so no
  numpy warning).
- The scaled gradient sqrt(g^2 / (h + 1e-300)), g = r s1, h = s1^2, is |r| whatever s1 is:
  the row is not converged, however small the power term.
- A row whose weights are all 0 carries no data: cost 0, no move, converged (0 <= 0).
- A row whose first step is rejected keeps its start and reports its start cost 0.5 r^2.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scalecli.fit import laws

LX = np.array([0.0])  # one size, x = 1
LAM0 = 1e-3  # LM's starting damping


def _first_step(r: float, s1: float) -> float:
    """LM's first step on a, by hand, for the one-point problem with log E held."""
    return -r * s1 / (s1 * s1 * (1.0 + LAM0) + LAM0 * 1e-12)


def test_a_step_that_leaves_the_cost_equal_is_taken_once_and_ends_the_row() -> None:
    """log E = 1 held, y = e^0.5, a = -49: r = 1 - 0.5 = 0.5 exactly, s1 = e^-50; a moves by
    _first_step(0.5, e^-50) (~ -9.6e-8) once; cost stays 0.125; scaled gradient |r| = 0.5, so
    not converged."""
    q, cost, converged = laws.saturating_lm(np.array([[-49.0, 0.0, 1.0]]), LX,
                                            np.array([0.5]), fixed=2)
    assert q[0, 0] == pytest.approx(-49.0 + _first_step(0.5, np.exp(-50.0)), rel=0, abs=1e-13)
    assert q[0, 1:].tolist() == [0.0, 1.0]
    assert cost.tolist() == [0.125]
    assert converged.tolist() == [False]


def test_a_finished_row_stays_put_while_another_row_iterates_and_nothing_warns() -> None:
    """Row 0 is the row above (one step, then done); row 1 holds E = 1 with y = 3 from
    a = -30, which takes many LM steps to reach a = log(3 - 1) = log 2. Row 0 still moved by
    exactly one step, and no numpy warning is raised on the way (warnings are errors here)."""
    ly = np.array([[0.5], [np.log(3.0)]])
    q0 = np.array([[-49.0, 0.0, 1.0], [-30.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q, cost, converged = laws.saturating_lm(q0, LX, ly, fixed=2)
    assert q[0, 0] == pytest.approx(-49.0 + _first_step(0.5, np.exp(-50.0)), rel=0, abs=1e-13)
    assert q[1, 0] == pytest.approx(np.log(2.0), rel=0, abs=1e-9)
    assert q[:, 1:].tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert cost[0] == 0.125
    assert cost[1] == pytest.approx(0.0, abs=1e-18)
    assert converged.tolist() == [False, True]


def test_a_row_with_all_weights_zero_stops_at_once_unchanged_and_converged() -> None:
    """weights 0 at both sizes: cost 0, gradient 0, so the start (1, 0.5, 0) comes back
    exactly; scale = sum w = 0 and the scaled gradient 0 <= 1e-6 * 0: converged. The row is
    done after its first (null) step, so even max_iter=1000 never shrinks the damping until
    the system turns singular."""
    lx = np.log(np.array([10.0, 100.0]))
    q, cost, converged = laws.saturating_lm(
        np.array([[1.0, 0.5, 0.0]]), lx, np.array([1.0, 0.5]),
        weights=np.zeros((1, 2)), max_iter=1000,
    )
    assert q.tolist() == [[1.0, 0.5, 0.0]]
    assert cost.tolist() == [0.0]
    assert converged.tolist() == [True]


def test_a_rejected_first_step_leaves_the_start_and_its_cost_half_r_squared() -> None:
    """E = 1 held, y = 3, a = -30: the first step is +log(3) e^-30 / ~1e-15 ~ +100, far past
    a = log 2 (cost ~ 0.5 * 70^2), so it is rejected; with max_iter=1 the start comes back with
    cost 0.5 (log(1 + e^-30) - log 3)^2."""
    q, cost, converged = laws.saturating_lm(np.array([[-30.0, 0.0, 0.0]]), LX,
                                            np.array([np.log(3.0)]), fixed=2, max_iter=1)
    assert q.tolist() == [[-30.0, 0.0, 0.0]]
    expected = 0.5 * (np.log1p(np.exp(-30.0)) - np.log(3.0)) ** 2
    assert cost[0] == pytest.approx(expected, rel=1e-14)
    assert converged.tolist() == [False]


def test_a_curvature_that_underflows_to_zero_still_gets_the_1e_300_floor() -> None:
    """log E = 1 held, log y = 1 - 1e10, a = -390: s1 = e^-391 ~ 3e-170, so h = s1^2
    underflows to exactly 0 while g = r s1 = 1e10 * s1 ~ 3e-160 does not (g^2 ~ 1e-319);
    every step is below an ulp of a, so a stays -390. The scaled gradient is
    sqrt(g^2 / (0 + 1e-300)) ~ 3e-10 <= 1e-6: converged (a negative floor would give
    sqrt(negative) = NaN)."""
    r, s1 = 1e10, np.exp(-391.0)
    assert s1 * s1 == 0.0 and (r * s1) ** 2 > 0.0  # the premise, on plain floats
    with np.errstate(invalid="ignore"):
        q, cost, converged = laws.saturating_lm(np.array([[-390.0, 0.0, 1.0]]), LX,
                                                np.array([1.0 - r]), fixed=2)
    assert q.tolist() == [[-390.0, 0.0, 1.0]]
    assert cost[0] == pytest.approx(0.5 * r * r, rel=1e-15)
    assert converged.tolist() == [True]


def test_a_row_whose_steps_all_overshoot_until_the_damping_passes_1e12_keeps_its_start() -> None:
    """weight 1e24, log E = 1 held, log y = 1.5, a = -39 (s1 = e^-40 ~ 4e-18, on the plateau):
    the damped step w |r| s1 / (w s1^2 (1 + lam) + lam 1e-12) is ~ 0.5 / (lam * 4.5e-18) > 1e5
    for every lam up to 1e12, far past a = log(e^1.5 - e) ~ 0.57, so each is rejected (finite
    cost ~ 1e34 > 1.25e23) until lam passes 1e12: the row is given up at its start with cost
    0.5 * 1e24 * 0.5^2, not converged."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q, cost, converged = laws.saturating_lm(np.array([[-39.0, 0.0, 1.0]]), LX,
                                                np.array([1.5]), weights=np.array([[1e24]]),
                                                fixed=2)
    assert q.tolist() == [[-39.0, 0.0, 1.0]]
    assert cost[0] == pytest.approx(0.5 * 1e24 * 0.25, rel=1e-15)
    assert converged.tolist() == [False]


def test_a_finished_row_is_not_evaluated_again_at_a_shifted_point() -> None:
    """Row 0 weighs 1e308, log E = 1 held, log y = 0.5, a = -699 (s1 = e^-700 ~ 1e-304): its
    one step, w r s1 / (w s1^2 (1 + lam) + lam 1e-12) ~ 4.9e18 down, keeps log L_hat = 1, so the
    cost 0.5 * 1e308 * 0.5^2 is unchanged and the row is done; row 1 (E = 1, y = 3) iterates on
    to a = log 2. Row 0 is never stepped again: any move of its log E by 1 would give
    w r^2 = 1e308 * 1.5^2, an overflow, and no warning is raised."""
    ly = np.array([[0.5], [np.log(3.0)]])
    q0 = np.array([[-699.0, 0.0, 1.0], [-30.0, 0.0, 0.0]])
    w = np.array([[1e308], [1.0]])
    w_s1 = 1e308 * np.exp(-700.0)  # w * s1, formed without underflow
    step = -0.5 * w_s1 / (w_s1 * np.exp(-700.0) * (1.0 + LAM0) + LAM0 * 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q, cost, converged = laws.saturating_lm(q0, LX, ly, weights=w, fixed=2)
    assert q[0, 0] == pytest.approx(-699.0 + step, rel=1e-12)
    assert q[1, 0] == pytest.approx(np.log(2.0), rel=0, abs=1e-9)
    assert q[:, 1:].tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert cost[0] == pytest.approx(0.5 * 1e308 * 0.25, rel=1e-15)
    assert bool(converged[1])
