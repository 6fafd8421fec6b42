"""`analysis.analyse` on a point fit that did not converge, and `extrapolation_check`'s
defaults and its "no points left to fit" guard, worked out by hand.

A fit that did not converge still reports a theta (the saturating fitter's least bad
start), finite here, so its exponent and the form's caveat could be computed from it:
`analyse` must give neither. The holdout check's defaults are no bootstrap (so no
prediction interval), seed 0 and no seed noise; the `Given` form's refits are the draws
given (they take nothing from the random stream), so its intervals are known numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit.forms.saturating import Saturating
from scalecli.fit.laws import FitResult
from tests.fit.test_analysis_full_1 import Given, X, Y, block

LEAST_BAD = np.array([1.5, 40.0, 0.3])  # E, A, alpha of a fit reported as not converged
DRAWS = [float(v) for v in range(1, 11)]  # the Given form's refits: c = 1..10


class NotConverged(Saturating):
    """The saturating form whose fitter gives up: a finite least-bad theta, not converged."""

    def fit(self, x, y, d=None) -> FitResult:
        return FitResult(self.name, LEAST_BAD.copy(), False, "gave up", method="least bad")


def test_a_fit_that_did_not_converge_gives_no_exponent_caveat_or_goodness() -> None:
    """The whole fit.json entry: the theta's alpha 0.3 would give exponent -0.3 and 4 sizes
    over 4x the saturating caveat ("with 4 sizes over 4x ..."), but a fit that did not
    converge reports neither; R^2 and RMSE are NaN, written as None (strict JSON)."""
    form = NotConverged()
    assert form.exponent(LEAST_BAD) == pytest.approx(-0.3)  # what the mutant would report
    assert form.caveat(X, {}) == (
        "with 4 sizes over 4x the curve's band and predicted intervals are too narrow "
        "(85-91% coverage at 10x the largest size in synthetic sweeps like this)")
    result = analysis.analyse(form, X, Y, n_boot=20)
    none = {"value": None, "se": None, "ci_low": None, "ci_high": None}
    assert result == {
        "form": "saturating", "n_points": 4, "converged": False, "message": "gave up",
        "params": {"E": none, "A": none, "alpha": none},
        "exponent": None, "r2_log": None, "rmse_log": None,
        "extrapolation": None, "extrapolation_note": "skipped: the fit did not converge",
        "derived": {}, "band": None,
        "bootstrap": {"n": 20, "n_ok": 0, "seed": 0},
        "method": "least bad", "caveat": None,
    }


def test_the_check_makes_no_interval_without_n_boot() -> None:
    """n_boot defaults to 0: no bootstrap refits, so no interval (low, high, inside None)
    and a note without the "inside" count; with n_boot 1 the Given form's ten draws 1..10
    would give the interval 1 + 0.025 * 9 .. 1 + 0.975 * 9."""
    check, note = analysis.extrapolation_check(Given(DRAWS), X, Y, None, 1)
    assert check == block(None, None, None)
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "0.00%")
    one, _ = analysis.extrapolation_check(Given(DRAWS), X, Y, None, 1, n_boot=1)
    assert one == block(pytest.approx(1.225), pytest.approx(9.775), True)


def test_the_check_adds_no_seed_noise_by_default() -> None:
    """noise_sd_log defaults to 0: with bootstrap refits the interval is the draws' own
    1.225..9.775, not the draws times exp(z) (z ~ N(0, 1) from seed 0)."""
    check, _ = analysis.extrapolation_check(Given(DRAWS), X, Y, None, 1, n_boot=20)
    assert check == block(pytest.approx(1.225, rel=1e-12), pytest.approx(9.775, rel=1e-12), True)
    z = np.random.default_rng(0).normal(0.0, 1.0, size=(10, 1))[:, 0]
    noisy = np.percentile(np.array(DRAWS) * np.exp(z), [2.5, 97.5])
    assert tuple(noisy) != pytest.approx((1.225, 9.775))


def test_the_check_draws_its_seed_noise_from_seed_0_by_default() -> None:
    """seed defaults to 0 (it matters once n_boot > 0 and there is seed noise): the
    interval of the draws times exp(z), z ~ N(0, 0.5) from default_rng(0), worked out with
    numpy on the draws; default_rng(1) would give a different interval."""
    draws = np.array(DRAWS)

    def by_hand(seed: int) -> np.ndarray:
        z = np.random.default_rng(seed).normal(0.0, 0.5, size=(10, 1))[:, 0]
        return np.percentile(draws * np.exp(z), [2.5, 97.5])

    low, high = by_hand(0)
    assert (low, high) != pytest.approx(tuple(by_hand(1)))
    check, _ = analysis.extrapolation_check(Given(DRAWS), X, Y, None, 1, n_boot=20,
                                            noise_sd_log=0.5)
    assert check is not None
    assert (check["low"], check["high"]) == ([pytest.approx(low, rel=1e-12)],
                                             [pytest.approx(high, rel=1e-12)])


def test_holding_out_every_distinct_size_leaves_no_points_to_fit() -> None:
    """x = 1, 2, 3, 4: holding out 4 distinct sizes leaves none to refit on (the guard is
    holdout >= 4), so no check and this note; 3 leaves one size, and the refit is tried."""
    assert analysis.extrapolation_check(Given(DRAWS), X, Y, None, 4) == (
        None, "skipped: --holdout 4 leaves no points to fit")
    assert analysis.extrapolation_check(Given(DRAWS), X, Y, None, 3) == (
        None, "skipped: without the 3 largest x, 1 points, given_draws needs at least 2")
