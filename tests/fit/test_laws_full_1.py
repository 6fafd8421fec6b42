"""profile_interval on profiles known in closed form.

The profiled refit (`saturating_lm` with one coordinate held) is replaced by a stub whose
RSS is an exact function of the held coordinate, so where the profile crosses the F limit
is known by hand. The coordinate is alpha (k = 1, PROFILE_SPAN 3) at alpha_hat = 0.5: the
coarse grid is alpha_hat +- m * 3/64 and the fine grid between two coarse points steps
3/2048, all exact binary fractions, so a crossing can be put exactly on a grid point.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import f as f_dist

from scalecli.fit import laws

ALPHA_HAT = 0.5
Q_HAT = np.array([np.log(40.0), ALPHA_HAT, np.log(2.0)])
X = np.array([1e4, 1e5, 1e6, 1e7, 1e8])  # n - 3 = 2 dof
# RSS_min (1 + F(0.95; 1, 2) / 2) is the limit: the profile crosses it where
# RSS / RSS_min - 1 reaches K.
K = f_dist.ppf(0.95, 1, 2) / 2
RSS_MIN = 0.5
FINE = 3.0 / 2048  # fine grid step: coarse step 3/64 split in 32


def _point() -> laws.FitResult:
    return laws.FitResult(form="saturating", theta=np.array([2.0, 40.0, ALPHA_HAT]),
                          converged=True, message="", extra={"internal": Q_HAT.copy()})


def _stub(monkeypatch: pytest.MonkeyPatch, excess: Callable[[np.ndarray], np.ndarray]) -> None:
    """The profile's RSS becomes RSS_MIN (1 + K excess(alpha - alpha_hat))."""

    def saturating_lm(q0, lx, ly, fixed=None):
        assert fixed == 1
        d = q0[:, 1] - ALPHA_HAT
        cost = 0.5 * RSS_MIN * (1.0 + K * excess(d))
        return q0, cost, np.ones(q0.shape[0], dtype=bool)

    monkeypatch.setattr(laws, "saturating_lm", saturating_lm)


def _interval(monkeypatch, excess):
    _stub(monkeypatch, excess)
    return laws.profile_interval(X, np.ones_like(X), _point(), 1)


def test_parabolic_profile_ends_exactly_where_it_crosses_the_f_limit(monkeypatch) -> None:
    # Below: a parabola reaching the limit at d = -20 * 3/64 = -0.9375, a coarse grid point
    # (the last one inside, since the interval is RSS <= limit). Above: one reaching it at
    # d = 205 * 3/2048, an odd fine point, which lies on no grid with another number of
    # points (3/64/32 * m is not a multiple of 3/49/32, 3/65/32, 3/64/49, 3/64/33 nor
    # 3/64/16 for odd m), so any other grid interpolates the curved profile linearly
    # between two points around the crossing and misses it by about 1e-6.
    d_lo, d_hi = 20 * 3.0 / 64, 205 * FINE

    def excess(d: np.ndarray) -> np.ndarray:
        return np.where(d < 0, (d / d_lo) ** 2, (d / d_hi) ** 2)

    lo, hi = _interval(monkeypatch, excess)
    assert lo == pytest.approx(ALPHA_HAT - 0.9375, abs=1e-12)
    assert hi == pytest.approx(ALPHA_HAT + 205 * 3.0 / 2048, abs=1e-12)


def test_an_end_beyond_the_span_is_none_on_either_side(monkeypatch) -> None:
    # The profile reaches the limit 4 from alpha_hat on both sides, past PROFILE_SPAN[1] = 3:
    # the data do not bound alpha within the span.
    lo, hi = _interval(monkeypatch, lambda d: (d / 4.0) ** 2)
    assert (lo, hi) == (None, None)
    # Within the span (2.90625 = 31 * 3/32) the same profile shape gives both ends.
    lo, hi = _interval(monkeypatch, lambda d: (d / 2.90625) ** 2)
    assert lo == pytest.approx(ALPHA_HAT - 2.90625, abs=1e-12)
    assert hi == pytest.approx(ALPHA_HAT + 2.90625, abs=1e-12)


def test_a_profile_flat_at_the_limit_counts_as_inside_up_to_its_far_end(monkeypatch) -> None:
    # Above alpha_hat the profile rises to the limit at d1 = 3/64 + 5 * 3/2048, stays on it
    # until d2 = 3/64 + 20 * 3/2048, then rises linearly: the interval is RSS <= limit,
    # so the upper end is d2, not d1. Below: a parabola to the limit at -1.5 (coarse point 32).
    d1, d2 = 3.0 / 64 + 5 * FINE, 3.0 / 64 + 20 * FINE

    def excess(d: np.ndarray) -> np.ndarray:
        up = np.where(d <= d1, (d / d1) ** 2, np.where(d <= d2, 1.0, 1.0 + (d - d2)))
        return np.where(d < 0, (d / 1.5) ** 2, up)

    lo, hi = _interval(monkeypatch, excess)
    assert lo == pytest.approx(ALPHA_HAT - 1.5, abs=1e-12)
    assert hi == pytest.approx(ALPHA_HAT + d2, abs=1e-12)


def test_a_failed_refit_just_inside_the_end_gives_the_first_point_out_not_nan(monkeypatch
                                                                               ) -> None:
    # The linear interpolation needs a finite RSS at the last point inside; where the refit
    # there returned NaN (no interpolation possible) the end is the first point outside.
    # Parabola to the limit at 205.5 * 3/2048 above (between fine points 205 and 206), with
    # the refit at point 205 failing; below, the parabola to -1.5 again.
    d_hi = 205.5 * FINE

    def excess(d: np.ndarray) -> np.ndarray:
        e = np.where(d < 0, (d / 1.5) ** 2, (d / d_hi) ** 2)
        return np.where(d == 205 * FINE, np.nan, e)

    lo, hi = _interval(monkeypatch, excess)
    assert lo == pytest.approx(ALPHA_HAT - 1.5, abs=1e-12)
    assert hi == ALPHA_HAT + 206 * FINE


def test_a_fit_that_did_not_converge_has_no_profile_interval(monkeypatch) -> None:
    # Five sizes leave dof = 2, but an unconverged point is no minimum to profile around:
    # both ends are None even where the profile (a parabola to the limit at +-1.5) has ends.
    _stub(monkeypatch, lambda d: (d / 1.5) ** 2)
    point = _point()
    assert laws.profile_interval(X, np.ones_like(X), point, 1) == (ALPHA_HAT - 1.5,
                                                                    ALPHA_HAT + 1.5)
    point.converged = False
    assert laws.profile_interval(X, np.ones_like(X), point, 1) == (None, None)
