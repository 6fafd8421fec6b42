"""fit.validation's scoring, checked on the whole entries fit.json carries: which form is
`best_form` of a run (never the combined prediction, which mixes the forms), of the block
(the smallest worst |rel_error| over every run), and `validation.compute`'s budget entries
with every key a reader looks up. Every expected value is worked out by hand: draws 0.01
apart, so that their 95% interval and the mixture's median are known exactly, and
approach 3 from Hoffmann et al.'s closed form."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import validation as vd
from scalecli.fit.prediction import FormDraws

# 41 values y - 0.2 .. y + 0.2, 0.01 apart: np.percentile's 2.5% and 97.5% points are the
# 2nd and the 40th, y - 0.19 and y + 0.19
SPREAD = np.linspace(-0.2, 0.2, 41)[:, None]


def test_the_best_form_of_a_run_is_a_form_even_when_the_combined_prediction_is_closer() -> None:
    # power says 2.7 (draws 2.5..2.9), saturating 3.4 (3.2..3.6); the run lands at 3.0,
    # between them: the mixture's median, halfway between 2.9 and 3.2, is the closest
    power = FormDraws("power", np.array([2.7]), 2.7 + SPREAD)
    sat = FormDraws("saturating", np.array([3.4]), 3.4 + SPREAD)
    runs = [{"run_id": "v0", "model": "big", "x": 1e9, "n": 1.2e9, "tokens": 2e10,
             "budget_flops": None, "observed": 3.0, "n_seeds": 1},
            # drawn at no x the forms were drawn at, and no chinchilla fit: nothing scores it
            {"run_id": "v1", "model": "huge", "x": 5e9, "n": 6e9, "tokens": 2e10,
             "budget_flops": None, "observed": 2.8, "n_seeds": 2}]
    first, second = vd.score_runs(runs, {1e9: 0}, [power, sat], None)
    assert {k: v for k, v in first.items() if k != "scores"} == {
        "run_id": "v0", "model": "big", "x": 1e9, "tokens": 2e10, "observed": 3.0,
        "n_seeds": 1, "best_form": "power"}
    p, s, m = first["scores"]
    assert p == {"form": "power", "predicted": 2.7, "low": pytest.approx(2.51),
                 "high": pytest.approx(2.89), "rel_error": pytest.approx(-0.1),
                 "inside": False}
    assert s == {"form": "saturating", "predicted": 3.4, "low": pytest.approx(3.21),
                 "high": pytest.approx(3.59), "rel_error": pytest.approx(0.4 / 3),
                 "inside": False}
    # 82 draws of weight 1/41; the midpoint rule puts the k-th (from 0) at (k + 0.5) / 82:
    # the median at k = 40.5 (2.9 and 3.2), 2.5% at k = 1.55, 97.5% at k = 79.45
    assert m == {"form": "combined", "predicted": pytest.approx(3.05),
                 "low": pytest.approx(2.5155), "high": pytest.approx(3.5845),
                 "rel_error": pytest.approx(0.05 / 3), "inside": True}
    assert second == {"run_id": "v1", "model": "huge", "x": 5e9, "tokens": 2e10,
                      "observed": 2.8, "n_seeds": 2, "scores": [], "best_form": None}


def test_the_blocks_best_form_has_the_smallest_worst_error_over_every_run() -> None:
    def s(form: str, err: float) -> dict:
        return {"form": form, "rel_error": err, "inside": True}

    # power: worst 5% (on the first run), saturating: worst 3%; power is closer on the last
    # run only, which must not decide it
    scored = [{"scores": [s("power", -0.05), s("saturating", 0.02)]},
              {"scores": [s("power", 0.01), s("saturating", -0.03)]}]
    assert vd.summarise(scored) == {"best_form": "saturating", "ruled_out": [], "misses": 0}


THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # Hoffmann et al. 2022


def law(n: float, d: float) -> float:
    e, a, b, alpha, beta = THETA
    return float(e + a / n**alpha + b / d**beta)


def test_a_budget_entry_carries_each_runs_size_tokens_loss_and_approach_3s_prediction() -> None:
    c = 1e20
    # on the law, 2.626 at N = 3e8 and 2.608 at 1e9 (its minimum there: 2.600 at 6.4e8)
    runs = [{"run_id": "b0", "model": "m1", "x": 2.4e8, "n": 3e8, "tokens": c / 1.8e9,
             "budget_flops": c, "observed": law(3e8, c / 1.8e9) + 0.05},
            {"run_id": "b1", "model": "m3", "x": 8e8, "n": 1e9, "tokens": c / 6e9,
             "budget_flops": c, "observed": law(1e9, c / 6e9) + 0.01},
            # no total params in its row: listed, not scored
            {"run_id": "b2", "model": None, "x": 5e9, "n": None, "tokens": None,
             "budget_flops": c, "observed": 4.0}]
    fits = {"chinchilla": {"converged": True},
            "isoflop": {"converged": True, "params": {"a_opt": {"value": 0.5}},
                        "derived": {"k_n": 0.2}}}
    # every bootstrap draw on the law itself and no seed noise: each interval is one point
    boots = np.tile(THETA, (20, 1))
    (block,) = vd.compute_block(runs, fits, (THETA, boots), 0.0, np.random.default_rng(0))
    assert set(block) == {"flops", "runs", "best_trained_n", "observed_best", "approaches"}
    assert block["flops"] == c and block["best_trained_n"] == 1e9
    assert block["observed_best"] == runs[1]["observed"]
    b0, b1, b2 = block["runs"]
    for got, run in ((b0, runs[0]), (b1, runs[1])):
        on_law = law(run["n"], run["tokens"])
        assert got == {"run_id": run["run_id"], "model": run["model"], "n": run["n"],
                       "tokens": run["tokens"], "observed": run["observed"],
                       "predicted": pytest.approx(on_law, rel=1e-12),
                       "low": pytest.approx(on_law, rel=1e-12),
                       "high": pytest.approx(on_law, rel=1e-12), "inside": False}
    assert b2 == {"run_id": "b2", "model": None, "n": None, "tokens": None, "observed": 4.0}
    iso, three = block["approaches"]
    assert iso == {"approach": "2: isoFLOP", "n_opt": pytest.approx(2e9), "loss": None,
                   "low": None, "high": None, "inside": None,
                   "n_ratio": pytest.approx(2.0)}
    _, a, b, alpha, beta = THETA
    n_opt = (alpha * a / (beta * b)) ** (1 / (alpha + beta)) * (c / 6) ** (beta / (alpha + beta))
    l_opt = law(n_opt, c / (6 * n_opt))
    # the best run (b1) is 0.01 above the law, hence above its minimum on this budget
    assert three == {"approach": "3: parametric", "n_opt": pytest.approx(n_opt, rel=1e-9),
                     "loss": pytest.approx(l_opt, rel=1e-12),
                     "low": pytest.approx(l_opt, rel=1e-12),
                     "high": pytest.approx(l_opt, rel=1e-12), "inside": False,
                     "n_ratio": pytest.approx(n_opt / 1e9, rel=1e-9)}
    # without a chinchilla fit a run is only listed
    (bare,) = vd.compute_block(runs, {}, None, 0.0, np.random.default_rng(0))
    assert bare["runs"][0] == {"run_id": "b0", "model": "m1", "n": 3e8, "tokens": c / 1.8e9,
                               "observed": runs[0]["observed"]}
    assert bare["approaches"] == []
