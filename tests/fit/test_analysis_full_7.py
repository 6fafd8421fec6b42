"""`analysis.point_and_draws`' defaults (1000 draws from seed 0) and when it draws the seed
level (only with n_boot >= 1), `bootstrap_form`'s guard (n_boot 1 bootstraps once, n_boot 0
not at all), and the holdout note's mean |relative error| as a percentage, by hand.

The `Drawn` form's bootstrap refits are the random stream itself: the draw i is the seed
level's row i (when given) plus the i-th standard normal of the generator, so every
returned draw is worked out here with numpy from `default_rng(seed)` alone, in
microseconds even for 1000 draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit.laws import FitResult
from tests.fit.test_analysis_full_1 import Given, X, Y, block


class Drawn(Given):
    """y = c (the mean of y); refit i is level_i + z_i, z ~ N(0, 1) from the stream given."""

    name = "drawn"
    seed_level = True

    def __init__(self) -> None:
        super().__init__([])

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        z = rng.standard_normal((n_boot, 1))
        return (z if seed_level is None else seed_level + z), 0


def uniform_level(n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """A seed level of (n_boot, 1) uniforms drawn from the point's stream."""
    return rng.uniform(size=(n_boot, 1))


def test_point_and_draws_defaults_to_1000_draws_from_seed_0() -> None:
    """Called without n_boot and seed: 1000 refits, the first 1000 normals of default_rng(0)
    (seed 1's differ), and no seed level without a seed_level callable."""
    expected = np.random.default_rng(0).standard_normal((1000, 1))
    other = np.random.default_rng(1).standard_normal((1000, 1))
    assert not np.allclose(expected, other)
    point, boots, levels = analysis.point_and_draws(Drawn(), X, Y)
    assert point.theta.tolist() == [5.0]
    assert boots.shape == (1000, 1)
    np.testing.assert_array_equal(boots, expected)
    assert levels is None


def test_point_and_draws_with_seed_0_given_matches_the_default_and_seed_1_differs() -> None:
    """The default stream is seed 0's: seed=0 given makes the same 1000 draws, seed=1 makes
    default_rng(1)'s normals."""
    _, default, _ = analysis.point_and_draws(Drawn(), X, Y)
    _, zero, _ = analysis.point_and_draws(Drawn(), X, Y, n_boot=1000, seed=0)
    _, one, _ = analysis.point_and_draws(Drawn(), X, Y, n_boot=1000, seed=1)
    np.testing.assert_array_equal(default, zero)
    np.testing.assert_array_equal(one, np.random.default_rng(1).standard_normal((1000, 1)))
    assert not np.array_equal(default, one)


def recording_level(calls: list[int]):
    """`uniform_level`, noting in `calls` the n_boot of each time it is asked for."""

    def level(n_boot: int, rng: np.random.Generator) -> np.ndarray:
        calls.append(n_boot)
        return uniform_level(n_boot, rng)

    return level


def test_one_draw_draws_its_seed_level_first() -> None:
    """n_boot 1 with a seed-level form: the level u ~ U(0, 1) is drawn first from
    default_rng(3), then the refit u + z with the next normal; both are returned."""
    rng = np.random.default_rng(3)
    u = rng.uniform(size=(1, 1))
    z = rng.standard_normal((1, 1))
    calls: list[int] = []
    level = recording_level(calls)
    _, boots, levels = analysis.point_and_draws(Drawn(), X, Y, n_boot=1, seed=3,
                                                seed_level=level)
    assert calls == [1]
    assert levels is not None
    np.testing.assert_array_equal(levels, u)
    np.testing.assert_array_equal(boots, u + z)


def test_no_draws_draw_no_seed_level() -> None:
    """n_boot 0: the seed level is never asked for (levels None), and no refits."""
    calls: list[int] = []
    level = recording_level(calls)
    point, boots, levels = analysis.point_and_draws(Drawn(), X, Y, n_boot=0, seed=3,
                                                    seed_level=level)
    assert calls == [] and levels is None
    assert boots.shape == (0, 1)
    assert point.theta.tolist() == [5.0]


def test_bootstrap_form_bootstraps_once_for_one_draw_and_never_for_none() -> None:
    """bootstrap_form: n_boot 1 asks the form (the Given form's two draws 7 and 8 come back,
    none skipped); n_boot 0 returns no draws and counts 0 skipped; a point that did not
    converge gets no draws either, its n_boot all skipped."""
    form = Given([7.0, 8.0])
    point = FitResult("given_draws", np.array([5.0]), True, "")
    rng = np.random.default_rng(0)
    boots, skipped = analysis.bootstrap_form(form, X, Y, None, point, 1, rng)
    assert boots.tolist() == [[7.0], [8.0]] and skipped == 0
    boots, skipped = analysis.bootstrap_form(form, X, Y, None, point, 0, rng)
    assert boots.shape == (0, 1) and skipped == 0
    failed = FitResult("given_draws", np.array([5.0]), False, "no")
    boots, skipped = analysis.bootstrap_form(form, X, Y, None, failed, 3, rng)
    assert boots.shape == (0, 1) and skipped == 3


def test_the_note_gives_the_mean_relative_error_in_percent() -> None:
    """y = 5, 5, 4, 10 at x = 1..4, holding out 2 sizes: the refit on 5, 5 predicts 5, so the
    relative errors are (5 - 4) / 4 = 0.25 and (5 - 10) / 10 = -0.5, mean |.| 0.375: 37.50%."""
    y = np.array([5.0, 5.0, 4.0, 10.0])
    check, note = analysis.extrapolation_check(Given([]), X, y, None, 2)
    assert check is not None
    assert check["rel_error"] == [pytest.approx(0.25), pytest.approx(-0.5)]
    assert note == ("refit without the 2 largest distinct x (2 rows); mean |relative error| "
                    "37.50%")


def test_the_note_rounds_the_percentage_to_two_decimals() -> None:
    """y = 5 at x = 1..3 and 4.8 at x = 4: rel = (5 - 4.8) / 4.8 = 1/24 = 4.1666..%, so
    "4.17%"; with the interval of the Given form's draws 1..10 the inside count follows."""
    y = np.array([5.0, 5.0, 5.0, 4.8])
    check, note = analysis.extrapolation_check(Given([float(v) for v in range(1, 11)]), X, y,
                                               None, 1, n_boot=10)
    expected = block(pytest.approx(1.225), pytest.approx(9.775), True)
    expected.update(observed=[4.8], rel_error=[pytest.approx(1 / 24)])
    assert check == expected
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "4.17%; 1 of 1 inside its 95% prediction interval")
