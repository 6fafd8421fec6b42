"""laws on numbers worked out by hand: the power bootstrap on a ladder with two distinct
sizes, the profile interval whose coarse grid is outside from its first point, and
profile_intervals' early return, key names and natural-unit ends (a lower end of E that
the data do not bound is reported as 0).

The profiled refit is replaced, as in test_laws_full_1, by a stub whose RSS is an exact
function of the held coordinate. Linear profiles are used where the crossing must be
exact: linear interpolation between two grid points then lands on it for any grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from scalecli.fit import laws
from tests.fit.test_laws_full_1 import ALPHA_HAT, Q_HAT, RSS_MIN, K, X, _point

Excess = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------- bootstrap_power


def test_power_bootstrap_runs_on_two_distinct_sizes_with_one_dof() -> None:
    """Three points at ln x = 1, 1, 2 (two distinct sizes, n - 2 = 1 dof) still bootstrap.

    ln y = 0.1, -0.1, 0.5: the OLS line goes through the mean at ln x = 1 (0) and through
    0.5 at ln x = 2, so b = 0.5, ln a = -0.5, fitted = (0, 0, 0.5), RSS = 0.02. Each refit
    draws s = sqrt(0.02 / chi2_1) and z ~ N(0, 1)^3 from the same stream, and its line again
    passes through (1, s (z0 + z1) / 2) and (2, 0.5 + s z2): b* = 0.5 + s (z2 - (z0 + z1) / 2),
    ln a* = s (z0 + z1) / 2 - b*.
    """
    n_boot, seed = 6, 11
    x = np.exp(np.array([1.0, 1.0, 2.0]))
    y = np.exp(np.array([0.1, -0.1, 0.5]))
    draws, dropped = laws.bootstrap_power(x, y, n_boot, np.random.default_rng(seed))
    ref = np.random.default_rng(seed)
    s = np.sqrt(0.02 / ref.chisquare(1, size=n_boot))
    z = ref.standard_normal((n_boot, 3))
    m1 = s * (z[:, 0] + z[:, 1]) / 2.0
    b = 0.5 + s * z[:, 2] - m1
    log_a = m1 - b
    assert dropped == 0
    assert draws.shape == (n_boot, 2)
    np.testing.assert_allclose(draws[:, 1], b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(draws[:, 0], np.exp(log_a), rtol=1e-9)


# ---------------------------------------------------------------------- profile_interval


def test_a_profile_outside_from_the_estimate_on_gives_the_estimate_as_both_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the refit at the estimate reaches RSS_MIN alone but RSS_MIN (1 + 2K) inside a
    batch, every coarse point, the estimate's included, is outside the limit RSS_MIN (1 + K),
    the fine grid collapses onto the estimate (33 equal values, v0 == v1) and no
    interpolation is possible: each end is the estimate itself, alpha_hat = 0.5, not NaN.
    """

    def saturating_lm(q0, lx, ly, fixed=None):
        assert fixed == 1
        rss = RSS_MIN if q0.shape[0] == 1 else RSS_MIN * (1.0 + 2.0 * K)
        return q0, np.full(q0.shape[0], 0.5 * rss), np.ones(q0.shape[0], dtype=bool)

    monkeypatch.setattr(laws, "saturating_lm", saturating_lm)
    assert laws.profile_interval(X, np.ones_like(X), _point(), 1) == (ALPHA_HAT, ALPHA_HAT)


# --------------------------------------------------------------------- profile_intervals


def _stub_all(monkeypatch: pytest.MonkeyPatch, excess: dict[int, tuple[Excess, Excess]]
              ) -> None:
    """RSS of the profile of coordinate k = RSS_MIN (1 + K e(d)), d = q_k - q_hat_k, with e
    the (below, above) pair given for k."""

    def saturating_lm(q0, lx, ly, fixed=None):
        below, above = excess[fixed]
        d = q0[:, fixed] - Q_HAT[fixed]
        e = np.where(d < 0, below(d), above(d))
        return q0, 0.5 * RSS_MIN * (1.0 + K * e), np.ones(q0.shape[0], dtype=bool)

    monkeypatch.setattr(laws, "saturating_lm", saturating_lm)


def test_profile_intervals_report_natural_units_and_zero_for_an_unbounded_e(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linear profiles reaching the limit (e = 1) at: log A -1 and +1.5; alpha -0.25 and
    +0.75; log E never below (flat at RSS_MIN), +1.5 above. With A_hat = 40, E_hat = 2:
    A in (40 e^-1, 40 e^1.5), alpha in (0.25, 1.25), E in (0, 2 e^1.5) -- the unbounded
    lower end of E (log E -> -inf) is E = 0."""
    _stub_all(monkeypatch, {
        0: (lambda d: -d / 1.0, lambda d: d / 1.5),
        1: (lambda d: -d / 0.25, lambda d: d / 0.75),
        2: (lambda d: np.zeros_like(d), lambda d: d / 1.5),
    })
    out = laws.profile_intervals(X, np.ones_like(X), _point())
    assert set(out) == {"E", "A", "alpha"}
    e_lo, e_hi = out["E"]
    assert e_lo == 0.0
    assert e_hi == pytest.approx(2.0 * np.exp(1.5), rel=1e-9)
    assert out["A"][0] == pytest.approx(40.0 * np.exp(-1.0), rel=1e-9)
    assert out["A"][1] == pytest.approx(40.0 * np.exp(1.5), rel=1e-9)
    assert out["alpha"][0] == pytest.approx(0.25, rel=1e-9)
    assert out["alpha"][1] == pytest.approx(1.25, rel=1e-9)


def _bounded_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiles with finite ends on both sides for all three coordinates, so that a run
    past the early return would report numbers (and 0.0 / None could not come from it)."""
    par: tuple[Excess, Excess] = (lambda d: (d / 1.5) ** 2, lambda d: (d / 1.5) ** 2)
    _stub_all(monkeypatch, {0: par, 1: par, 2: par})


def test_three_sizes_leave_no_dof_so_every_interval_is_unbounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three sizes, three parameters: n - 3 = 0 dof, so no F limit exists; even a converged
    point gets (None, None) for each of E, A and alpha, under exactly those three names."""
    _bounded_everywhere(monkeypatch)
    out = laws.profile_intervals(X[:3], np.ones(3), _point())
    assert out == {"E": (None, None), "A": (None, None), "alpha": (None, None)}


def test_an_unconverged_point_on_five_sizes_has_no_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five sizes leave 2 dof, but a point that did not converge is no minimum to profile
    around: (None, None) for each of E, A and alpha, not (0, None) for E and A."""
    _bounded_everywhere(monkeypatch)
    point = _point()
    point.converged = False
    out = laws.profile_intervals(X, np.ones_like(X), point)
    assert out == {"E": (None, None), "A": (None, None), "alpha": (None, None)}
