"""The extrapolation check (`analysis.extrapolation_check`) block whole, worked out by hand:
chinchilla's refit without the largest size, on an exact law in N and D, predicts it; and
the held-out runs' 95% prediction interval from known bootstrap draws (a registered form
whose refits are given): draws not positive and finite at a held-out x are left out, ten
are enough for an interval, nine are not, and one run's seed noise multiplies each draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit.forms import LawForm
from scalecli.fit.laws import FitResult


def test_chinchilla_refit_without_the_largest_size_predicts_its_three_runs() -> None:
    # L = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28 (Hoffmann 2022) on 4 sizes x 3 token
    # budgets: without N = 3e8 the 9 runs left still vary N and D, so the refit recovers the
    # law and predicts the 3 held-out runs exactly. No bootstrap: no interval.
    n = np.repeat([1e7, 3e7, 1e8, 3e8], 3)
    d = np.tile([1e9, 3e9, 1e10], 4)
    loss = 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28
    held = [1.69 + 406.4 / 3e8 ** 0.34 + 410.7 / t ** 0.28 for t in (1e9, 3e9, 1e10)]
    check, note = analysis.extrapolation_check("chinchilla", n, loss, d, holdout=1)
    assert check == {"held_out": 1, "x": [3e8, 3e8, 3e8],
                     "predicted": pytest.approx(held, rel=1e-6),
                     "observed": pytest.approx(held, rel=1e-12),
                     "rel_error": pytest.approx([0.0, 0.0, 0.0], abs=1e-6),
                     "low": [None] * 3, "high": [None] * 3, "inside": [None] * 3}
    assert note == ("refit without the 1 largest distinct x (3 rows); mean |relative error| "
                    "0.00%")


class Given(LawForm):
    """y = c, fitted as the mean of y; its bootstrap refits are the draws given
    (they take nothing from the random stream, so the seed noise's draws are known)."""

    name = "given_draws"
    param_names = ("c",)

    def __init__(self, draws: list[float]) -> None:
        self.draws = np.array(draws, dtype=float)[:, None]

    def fit(self, x, y, d=None) -> FitResult:
        return FitResult(self.name, np.array([float(np.mean(y))]), True, "")

    def predict(self, theta, x, d=None) -> np.ndarray:
        return np.full(np.shape(x), float(theta[0]))

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        return self.draws, 0


X = np.array([1.0, 2.0, 3.0, 4.0])
Y = np.full(4, 5.0)  # y = 5 at every size: the refit on 1, 2, 3 predicts 5 at 4 exactly
BAD = [0.0, -1.0, np.inf, np.nan]  # no loss or perplexity: each draw is left out


def check_of(draws: list[float], noise_sd_log: float = 0.0, seed: int = 0):
    return analysis.extrapolation_check(Given(draws), X, Y, None, 1, n_boot=100, seed=seed,
                                        noise_sd_log=noise_sd_log)


def block(low: float | None, high: float | None, inside: bool | None) -> dict:
    return {"held_out": 1, "x": [4.0], "predicted": [5.0], "observed": [5.0],
            "rel_error": [0.0], "low": [low], "high": [high], "inside": [inside]}


def test_ten_positive_finite_draws_make_the_interval_and_the_others_are_left_out() -> None:
    # draws 1..10 among 0, -1, inf and nan: the interval is of 1..10 alone, its 2.5% and
    # 97.5% points 1 + 0.025 * 9 and 1 + 0.975 * 9; the held-out 5 lies inside.
    check, note = check_of([0.0, 1.0, 2.0, -1.0, 3.0, 4.0, np.inf, 5.0, 6.0, np.nan,
                            7.0, 8.0, 9.0, 10.0])
    assert check == block(pytest.approx(1.225), pytest.approx(9.775), True)
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "0.00%; 1 of 1 inside its 95% prediction interval")
    # draws 6..15: 5 lies below the interval (6.225, 14.775)
    check, note = check_of(BAD + [float(v) for v in range(6, 16)])
    assert check == block(pytest.approx(6.225), pytest.approx(14.775), False)
    assert note.endswith("; 0 of 1 inside its 95% prediction interval")


def test_nine_positive_finite_draws_are_too_few_for_an_interval() -> None:
    check, note = check_of(BAD + [float(v) for v in range(1, 10)])
    assert check == block(None, None, None)
    assert note == ("refit without the 1 largest distinct x (1 rows); mean |relative error| "
                    "0.00%")


def test_one_runs_seed_noise_multiplies_each_draw() -> None:
    # The draws 1..10 times exp(z), z ~ N(0, 0.3) drawn from the check's seed (the draws
    # took nothing from it): the interval of a held-out run, not of the mean curve.
    draws = np.arange(1.0, 11.0)
    z = np.random.default_rng(7).normal(0.0, 0.3, size=(10, 1))[:, 0]
    low, high = np.percentile(draws * np.exp(z), [2.5, 97.5])
    assert (low, high) != pytest.approx(tuple(np.percentile(draws / np.exp(z), [2.5, 97.5])))
    check, _ = check_of(draws.tolist(), noise_sd_log=0.3, seed=7)
    assert check == block(pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12), True)
