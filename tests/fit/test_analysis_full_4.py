"""`analysis.analyse` on the chinchilla form, worked out by hand: its holdout check refits
on the kept runs' N and D and predicts each held-out run at its own (N, D); and the FLOPs
per token it is given travel on the point fit (`draws_out`) to the validation block, which
solves approach 3's optimum at a FLOP budget on them (C = f(N) D, not 6 N D).

The form is chinchilla with A, B, alpha, beta known: its fit is E alone, the mean of
y - A / N^alpha - B / D^beta (exact on points of the law, and it reads D as the real fit
does, in milliseconds instead of seconds), its bootstrap copies of the point.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import analysis, seeds, validation
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms.chinchilla import Chinchilla
from scalecli.fit.laws import FitResult
from tests.fit.test_chinchilla_form import THETA as HOFFMANN
from tests.fit.test_chinchilla_form import loss
from tests.fit.test_validation_full_3 import THETA, C, law


class OnlyE(Chinchilla):
    """Chinchilla with theta[1:] given: E is fitted as the mean of y - A/N^alpha - B/D^beta;
    each bootstrap draw is the point itself."""

    def __init__(self, theta: np.ndarray) -> None:
        self.known = np.asarray(theta, dtype=float)

    def fit(self, x, y, d=None) -> FitResult:
        _, a, b, alpha, beta = self.known
        e = float(np.mean(y - a / x**alpha - b / d**beta))
        return FitResult(self.name, np.array([e, a, b, alpha, beta]), True, "")

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        return np.tile(point.theta, (n_boot, 1)), 0


def test_the_holdout_check_predicts_each_held_out_run_at_its_own_tokens() -> None:
    """Hoffmann's law on N = 1e7..3e8 x D = 1e9, 1e10, the two N = 3e8 runs observed 0.1
    above it. The refit on the six kept runs (their D) has E = 1.69 exactly, so it predicts
    the law at (3e8, 1e9) and (3e8, 1e10): two different numbers, one per run's D."""
    n = np.repeat([1e7, 3e7, 1e8, 3e8], 2)
    d = np.tile([1e9, 1e10], 4)
    y = np.array([loss(a, b) for a, b in zip(n, d, strict=True)]) + np.where(n == 3e8, 0.1, 0.0)
    pred = [loss(3e8, 1e9), loss(3e8, 1e10)]
    obs = [v + 0.1 for v in pred]
    rel = [(p - o) / o for p, o in zip(pred, obs, strict=True)]
    result = analysis.analyse(OnlyE(HOFFMANN), n, y, d, n_boot=0)
    assert result["extrapolation"] == {
        "held_out": 1, "x": [3e8, 3e8], "predicted": pytest.approx(pred, rel=1e-12),
        "observed": pytest.approx(obs, rel=1e-12), "rel_error": pytest.approx(rel, rel=1e-9),
        "low": [None, None], "high": [None, None], "inside": [None, None]}
    mean_abs = 100 * (abs(rel[0]) + abs(rel[1])) / 2
    assert result["extrapolation_note"] == (
        f"refit without the 1 largest distinct x (2 rows); mean |relative error| "
        f"{mean_abs:.2f}%")


def test_the_flops_per_token_given_reach_approach_3_at_a_validation_budget() -> None:
    """Law E = 1, A = B = 1e5, alpha = beta = 1/2 on a 3-size ladder; f = 2 x 6N at every N.
    At C = 6e20, C / 12 = 5e19 = N D, so N_opt = D_opt = 1e10 / sqrt(2) and
    L_opt = 1 + 2 x 2^(1/4) (on 6 N D they would be 1e10 and 3). Every draw is the point:
    the interval closes on L_opt; the budget's best run, 3.25, lies below it."""
    k = 2.0
    fpt = FlopsPerToken(np.log([1e6, 1e12]), np.log([k, k]), (1e17, 1e18))
    header = ["run_id", "model", "params_non_embedding", "params", "tokens", "budget_flops",
              "seed", "val_loss", "status", "role"]
    sizes = [1e7, 3e7, 1e8]
    ladder = [{"run_id": f"l{i}", "model": f"l{i}", "params_non_embedding": repr(n),
               "params": repr(n), "tokens": repr(1e18 / (6 * n)), "budget_flops": "1e18",
               "seed": "0", "val_loss": repr(law(n, 1e18 / (6 * n))), "status": "ok",
               "role": ""} for i, n in enumerate(sizes)]
    held = [{"run_id": "b0", "model": "big", "params_non_embedding": "1e10", "params": "1e10",
             "tokens": "1e10", "budget_flops": repr(C), "seed": "0", "val_loss": "3.25",
             "status": "ok", "role": "validation"}]
    n = np.array(sizes)
    d = 1e18 / (6 * n)
    y = np.array([law(a, b) for a, b in zip(n, d, strict=True)])
    draws: dict = {}
    result = analysis.analyse(OnlyE(THETA), n, y, d, n_boot=20, fpt=fpt, draws_out=draws)
    fits = {"chinchilla": {**result, "x": "params", "y": "val_loss", "d": "tokens"}}
    lad = seeds.ladder(ladder, header, "params_non_embedding", "tokens")
    _, block, _ = validation.build(ladder, lad, held, header, fits, draws, 100, 0, None, 0.0)
    n_opt = 1e10 / math.sqrt(k)
    l_opt = 1.0 + 2.0 * k**0.25
    assert block is not None
    (budget,) = block["compute"]
    # N_opt to the golden search's resolution in ln N; L is flat there, so exact to 1e-12
    assert budget["approaches"] == [
        {"approach": "3: parametric", "n_opt": pytest.approx(n_opt, rel=1e-6),
         "loss": pytest.approx(l_opt, rel=1e-12), "low": pytest.approx(l_opt, rel=1e-12),
         "high": pytest.approx(l_opt, rel=1e-12), "inside": False,
         "n_ratio": pytest.approx(n_opt / 1e10, rel=1e-6)}]
