"""laws: the guard of `bootstrap_saturating` (n - 3 >= 1 degrees of freedom AND at least three
distinct sizes, else no refits: an empty (0, 3) array and all n_boot counted as dropped), and
the fixed fields of `fit_power`'s result (its form name and the message that fit.json carries
as "message"). Every value is worked out by hand or from numpy on the raw draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis, laws
from tests.fit.test_laws_full_1 import Q_HAT, _point

# E = 2, A = 40, alpha = 0.5: the point of test_laws_full_1 (internal q = Q_HAT).
THETA = np.array([2.0, 40.0, 0.5])


def _on_curve(x: np.ndarray) -> np.ndarray:
    """y exactly on L = 2 + 40 x^-0.5."""
    return 2.0 + 40.0 * x**-0.5


# ------------------------------------------------------------------ bootstrap_saturating


def test_three_sizes_without_a_spare_degree_of_freedom_give_no_refits() -> None:
    """3 points at 3 distinct sizes: n - 3 = 0 dof, so no refits even though the sizes are
    enough: exactly an empty (0, 3) array and all n_boot = 5 counted as dropped."""
    x = np.array([1e4, 1e6, 1e8])
    thetas, dropped = laws.bootstrap_saturating(x, _on_curve(x), _point(), 5,
                                                np.random.default_rng(0))
    assert thetas.shape == (0, 3)
    assert dropped == 5


def test_four_points_on_two_distinct_sizes_give_no_refits() -> None:
    """4 points (n - 3 = 1 dof) but only 2 distinct sizes cannot identify 3 parameters: no
    refits, an empty (0, 3) array and all n_boot = 7 counted as dropped."""
    x = np.array([1e4, 1e4, 1e6, 1e6])
    thetas, dropped = laws.bootstrap_saturating(x, _on_curve(x), _point(), 7,
                                                np.random.default_rng(0))
    assert thetas.shape == (0, 3)
    assert dropped == 7


def test_four_points_on_exactly_three_sizes_bootstrap_back_to_a_curve_without_noise() -> None:
    """4 points at 3 distinct sizes (1 dof, 3 sizes: enough) lying exactly on the point's
    curve: RSS = 0, so every draw's noise is 0 and each of the 5 warm-started refits stays at
    (E, A, alpha) = (2, 40, 0.5); none is dropped."""
    x = np.array([1e4, 1e4, 1e6, 1e8])
    thetas, dropped = laws.bootstrap_saturating(x, _on_curve(x), _point(), 5,
                                                np.random.default_rng(3))
    assert dropped == 0
    assert thetas.shape == (5, 3)
    np.testing.assert_allclose(thetas, np.tile(THETA, (5, 1)), rtol=1e-9)


def test_each_refit_on_three_sizes_is_the_curve_through_its_draws_means() -> None:
    """4 points at 3 distinct sizes, ln y off the curve by +-0.001 at the doubled size (so the
    point stays the least-squares fit, RSS = 2e-6 on 1 dof). With 3 parameters for 3 sizes,
    each refit passes exactly through its draw's mean ln y at each size, L1, L2, L3 at
    x = 1e4, 1e6, 1e8 (a factor 100 apart): with u = 100^-alpha = (L2 - L3) / (L1 - L2),
    alpha = -ln u / ln 100, A = (L1 - L2) / (1e4^-alpha (1 - u)), E = L1 - A 1e4^-alpha.
    The draws are replayed from the same seed: s = sqrt(2e-6 / chi2_1), z ~ N(0, 1)^4."""
    n_boot, seed = 5, 4
    x = np.array([1e4, 1e4, 1e6, 1e8])
    fitted = np.log(_on_curve(x))
    y = np.exp(fitted + np.array([0.001, -0.001, 0.0, 0.0]))
    thetas, dropped = laws.bootstrap_saturating(x, y, _point(), n_boot,
                                                np.random.default_rng(seed))
    ref = np.random.default_rng(seed)
    s = np.sqrt(2e-6 / ref.chisquare(1, size=n_boot))
    drawn = fitted + s[:, None] * ref.standard_normal((n_boot, 4))
    l1, l2, l3 = np.exp(drawn[:, :2].mean(axis=1)), np.exp(drawn[:, 2]), np.exp(drawn[:, 3])
    u = (l2 - l3) / (l1 - l2)
    assert np.all((u > 0) & (u < 1))  # each draw's means lie on a decreasing curve
    alpha = -np.log(u) / np.log(100.0)
    a_ = (l1 - l2) / (1e4**-alpha * (1.0 - u))
    e_ = l1 - a_ * 1e4**-alpha
    assert np.all(e_ > 0)  # ... with a positive floor: reachable by E = exp(log E)
    assert dropped == 0
    assert thetas.shape == (n_boot, 3)
    np.testing.assert_allclose(thetas, np.column_stack([e_, a_, alpha]), rtol=1e-6)


# ------------------------------------------------------------------------------ fit_power


def test_the_power_fit_result_names_its_form_and_says_it_is_closed_form() -> None:
    """fit_power's record: form "power" (the registered name of its form) and the message
    "closed-form least squares" (OLS has no iterations to fail), with a = 3, b = -0.5 from
    points exactly on y = 3 x^-0.5."""
    x = np.array([1.0, 4.0, 16.0])
    res = laws.fit_power(x, 3.0 * x**-0.5)
    assert res.form == "power"
    assert res.message == "closed-form least squares"
    assert res.converged is True
    assert res.theta == pytest.approx([3.0, -0.5], rel=1e-12)


def test_fit_json_carries_the_power_fits_closed_form_message() -> None:
    """The "message" of a power fit's fit.json record is fit_power's own text, verbatim."""
    x = np.exp(np.array([10.0, 11.0, 12.0, 13.0]))
    out = analysis.analyse("power", x, 1e3 * x**-0.1, n_boot=0)
    assert out["form"] == "power"
    assert out["message"] == "closed-form least squares"


def test_the_point_is_the_one_test_laws_full_1_builds() -> None:
    """The shared point's internal q is (ln 40, 0.5, ln 2), i.e. THETA = (2, 40, 0.5)."""
    assert np.exp(Q_HAT[[2, 0]]).tolist() == pytest.approx([2.0, 40.0], rel=1e-15)
    assert Q_HAT[1] == 0.5
