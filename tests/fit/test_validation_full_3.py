"""fit.json's validation.compute rows and the prediction_miss text of a FLOP budget, and
noise_sd_log's ln y, checked on numbers worked out by hand: an approach that cannot be
evaluated keeps every key of its row (null), approach 3's interval is solved on the compute
column's flops per token, a best run on the interval's edge is inside it, and a miss says
how far outside which edge.

The law E = 1, A = B = 1e5, alpha = beta = 1/2 has G = 1 and a_opt = 1/2, so at
C = 6e20 (C / 6 = 1e20) N_opt = D_opt = 1e10 and L_opt = 1 + 1 + 1 = 3 exactly."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from scalecli.fit import seeds, validation
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.laws import FitResult
from scalecli.fit.schema.blocks import ApproachCheck

THETA = np.array([1.0, 1e5, 1e5, 0.5, 0.5])  # E, A, B, alpha, beta
C = 6e20
# every bootstrap draw on THETA, no seed noise: approach 3's interval closes on its L_opt
BOOTS = np.tile(THETA, (50, 1))


def law(n: float, d: float) -> float:
    e, a, b, alpha, beta = THETA
    return float(e + a / n**alpha + b / d**beta)


def null_row(approach: str) -> dict:
    return {"approach": approach, "n_opt": None, "loss": None, "low": None, "high": None,
            "inside": None, "n_ratio": None}


# ------------------------------------------------------- a row that cannot be evaluated


def test_an_approach_that_cannot_be_evaluated_keeps_every_key_of_its_row_as_null():
    """chinchilla fitted on another y (val_bpb) gives no approach 3 on val_loss; an
    envelope fit without k_n and an isoFLOP fit without a_opt give no N_opt. Each still has
    its row in fit.json, every field of the schema's ApproachCheck present and null."""
    header = ["run_id", "model", "params_non_embedding", "params", "tokens", "budget_flops",
              "seed", "val_loss", "status", "role"]
    ladder = [{"run_id": f"l{k}", "model": f"l{k}", "params_non_embedding": repr(n),
               "params": repr(n), "tokens": repr(1e18 / (6 * n)), "budget_flops": "1e18",
               "seed": "0", "val_loss": repr(law(n, 1e18 / (6 * n))), "status": "ok",
               "role": ""} for k, n in enumerate([1e7, 3e7, 1e8])]
    held = [{"run_id": "b0", "model": "big", "params_non_embedding": "1e10", "params": "1e10",
             "tokens": "1e10", "budget_flops": repr(C), "seed": "0", "val_loss": "3.25",
             "status": "ok", "role": "validation"}]
    lad = seeds.ladder(ladder, header, "params_non_embedding", "tokens")
    fits = {"chinchilla": {"converged": True, "x": "params", "y": "val_bpb", "d": "tokens"},
            "envelope": {"converged": True, "params": {"a_opt": {"value": 0.5}},
                         "derived": {}},
            "isoflop": {"converged": True, "params": {}, "derived": {"k_n": 0.1}}}
    draws = {"chinchilla": (FitResult("chinchilla", THETA, True, ""), BOOTS)}
    pred, block, found = validation.build(ladder, lad, held, header, fits, draws, 100, 0,
                                          None, 0.0)
    assert pred is None
    assert block == {
        "x": "params_non_embedding", "y": "val_loss", "runs": [], "best_form": None,
        "ruled_out": [], "misses": 0,
        "compute": [{"flops": C, "best_trained_n": 1e10, "observed_best": 3.25,
                     "runs": [{"run_id": "b0", "model": "big", "n": 1e10, "tokens": 1e10,
                               "observed": 3.25}],
                     "approaches": [null_row("1: envelope"), null_row("2: isoFLOP"),
                                    null_row("3: parametric")]}]}
    assert found == []
    schema_keys = {f.name for f in fields(ApproachCheck)}
    for row in block["compute"][0]["approaches"]:
        assert set(row) == schema_keys


# -------------------------------------------------------- approach 3 at a FLOP budget


def test_approach_3s_interval_is_solved_on_the_compute_columns_flops_per_token():
    """flops per token 1.2 x 6N: C / 7.2 = 1e20 / 1.2 = N D, so N_opt = D_opt = 1e10 /
    sqrt(1.2) and L_opt = 1 + 2 x 1.2^(1/4). Every draw on THETA: the interval is that
    point, not the 6 N D optimum's 3. The best run, 3.1, lies above it: a miss."""
    k = 1.2
    fpt = FlopsPerToken(np.log([1e6, 1e12]), np.log([k, k]), (1e17, 1e18))
    runs = [{"run_id": "b0", "model": "big", "x": 1e10, "n": 1e10, "tokens": 1e10,
             "budget_flops": C, "observed": 3.1}]
    fits = {"chinchilla": {"converged": True}}
    (budget,) = validation.compute_block(runs, fits, (THETA, BOOTS), 0.0,
                                         np.random.default_rng(0), fpt)
    n_opt = 1e10 / math.sqrt(k)
    l_opt = 1.0 + 2.0 * k**0.25
    (three,) = budget["approaches"]
    # N_opt to the golden search's resolution in ln N; L is flat there, so exact to 1e-12
    assert three == {"approach": "3: parametric", "n_opt": pytest.approx(n_opt, rel=1e-6),
                     "loss": pytest.approx(l_opt, rel=1e-12),
                     "low": pytest.approx(l_opt, rel=1e-12),
                     "high": pytest.approx(l_opt, rel=1e-12), "inside": False,
                     "n_ratio": pytest.approx(n_opt / 1e10, rel=1e-6)}
    (warning,) = validation.findings({"runs": [], "compute": [budget]})
    assert warning.message == (
        "The chinchilla form's 95% prediction interval missed a validation run: at 6e+20 "
        "FLOPs its compute-optimal loss 3.093 [3.093, 3.093] against the best run there, "
        f"3.1 ({3.1 - l_opt:.3g} nats outside). Do not extrapolate with this form alone.")
    assert f"{3.1 - l_opt:.3g}" == "0.00673"


def test_a_best_run_on_the_edge_of_approach_3s_interval_is_inside_it():
    """At C = 6e20 (C = 6 N D) every draw gives L_opt = 3 exactly: the interval is [3, 3],
    and the best run, at N = D = 1e10 on the law, is the optimum itself. An interval
    holds its edges, as a run's score does (`score`)."""
    runs = [{"run_id": "b0", "model": "opt", "x": 1e10, "n": 1e10, "tokens": 1e10,
             "budget_flops": C, "observed": law(1e10, 1e10)},
            {"run_id": "b1", "model": "small", "x": 1e9, "n": 1e9, "tokens": 1e11,
             "budget_flops": C, "observed": law(1e9, 1e11)}]
    assert runs[0]["observed"] == 3.0
    (budget,) = validation.compute_block(runs, {"chinchilla": {"converged": True}},
                                         (THETA, BOOTS), 0.0, np.random.default_rng(0))
    assert budget["best_trained_n"] == 1e10 and budget["observed_best"] == 3.0
    assert budget["approaches"] == [{"approach": "3: parametric", "n_opt": 1e10, "loss": 3.0,
                                     "low": 3.0, "high": 3.0, "inside": True,
                                     "n_ratio": 1.0}]
    assert validation.findings({"runs": [], "compute": [budget]}) == []


def test_a_budget_miss_says_how_far_outside_the_edge_it_passed():
    """Two budgets, approach 3's interval [2.9, 3.1] at each: the best run 3.3 is 0.2 above
    its high edge, 2.5 is 0.4 below its low one. An approach without an interval (inside
    null) is no miss."""
    def entry(flops: float, best: float) -> dict:
        return {"flops": flops, "observed_best": best, "approaches": [
            {**null_row("2: isoFLOP"), "n_opt": 1e9},
            {"approach": "3: parametric", "n_opt": 1e9, "loss": 3.0, "low": 2.9, "high": 3.1,
             "inside": False, "n_ratio": 1.0}]}

    (d,) = validation.findings({"runs": [], "compute": [entry(1e21, 3.3), entry(3e21, 2.5)]})
    assert (d.code, d.severity) == ("prediction_miss", "warning")
    assert d.message == (
        "The chinchilla form's 95% prediction interval missed a validation run: at 1e+21 FLOPs "
        "its compute-optimal loss 3 [2.9, 3.1] against the best run there, 3.3 (0.2 nats "
        "outside); at 3e+21 FLOPs its compute-optimal loss 3 [2.9, 3.1] against the best run "
        "there, 2.5 (0.4 nats outside). Do not extrapolate with this form alone.")


# ------------------------------------------------------------------------ noise_sd_log


def sd_rows(values: list[tuple[str, str, float]]) -> tuple[seeds.Ladder, list[dict[str, str]]]:
    rows = [{"run_id": f"{m}-{s}", "model": m, "params_non_embedding": m[1:], "tokens": "1e9",
             "seed": s, "lr": "0.003", "val_bpb": repr(y)} for m, s, y in values]
    return seeds.ladder(rows, list(rows[0]), "params_non_embedding", "tokens", True), rows


def test_noise_sd_log_takes_the_log_of_a_y_below_one():
    """val_bpb is often below 1 nat: ln y at n1 is -1.0, -1.2 (ss 0.02), at n2 0 (y = 1)
    and 0.4 (ss 0.08): sd = sqrt(0.10 / 2)."""
    lad, rows = sd_rows([("n1", "0", math.exp(-1.0)), ("n1", "1", math.exp(-1.2)),
                         ("n2", "0", 1.0), ("n2", "1", math.exp(0.4))])
    assert validation.noise_sd_log(lad, rows, "val_bpb") == pytest.approx(math.sqrt(0.05),
                                                                          rel=1e-12)


def test_noise_sd_log_is_zero_when_the_seeds_measure_no_noise():
    # two seeds that agree: a pooled sd of 0
    lad, rows = sd_rows([("n1", "0", 0.9), ("n1", "1", 0.9), ("n2", "0", 0.8)])
    assert validation.noise_sd_log(lad, rows, "val_bpb") == 0.0
    # two seeds, one with no log: no configuration keeps two, so no sd at all
    lad, rows = sd_rows([("n1", "0", 0.9), ("n1", "1", 0.0), ("n2", "0", 0.8)])
    assert validation.noise_sd_log(lad, rows, "val_bpb") == 0.0
