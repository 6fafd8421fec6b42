"""fit.validation's scoring by hand: draws spaced so that their 95% interval is known
exactly (41 values 0.1 apart: the 2.5% and 97.5% points are the 2nd and 40th), each run's
relative error and inside, the best form and the forms ruled out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import validation as vd
from scalecli.fit.prediction import FormDraws

# column j holds 41 values from j to j + 4: its 95% interval is [j + 0.1, j + 3.9]
DRAWS = np.linspace(0.0, 4.0, 41)[:, None] + np.arange(3.0)[None, :]


def test_score_inside_is_inclusive_and_the_error_relative_to_the_observed() -> None:
    assert vd.score("power", 3.3, 3.0, 3.6, 3.0) == {
        "form": "power", "predicted": 3.3, "low": 3.0, "high": 3.6,
        "rel_error": pytest.approx(0.1), "inside": True}
    assert vd.score("power", 3.3, 3.0, 3.6, 3.6)["inside"] is True
    assert vd.score("power", 3.3, 3.0, 3.6, 3.61)["inside"] is False
    assert vd.score("power", 3.3, 3.01, 3.6, 3.0)["inside"] is False
    assert vd.score("power", 2.7, None, 3.6, 3.0) == {
        "form": "power", "predicted": 2.7, "low": None, "high": 3.6,
        "rel_error": pytest.approx(-0.1), "inside": None}


def test_score_runs_reads_each_form_at_the_runs_x_and_chinchilla_at_its_index() -> None:
    power = FormDraws("power", np.array([1.0, 2.0, 3.0]), DRAWS)
    few = FormDraws("saturating", np.array([1.5, 2.5, 3.5]), DRAWS[:5])  # no interval
    chin = FormDraws("chinchilla", np.array([2.2, 9.0]), DRAWS[:, :2])
    runs = [{"x": 20.0, "n": 5.0, "budget_flops": None, "observed": 2.0, "model": "a"},
            {"x": 99.0, "observed": 1.0, "model": "b"}]
    out = vd.score_runs(runs, {10.0: 0, 20.0: 1, 30.0: 2}, [power, few], chin)
    first, second = out
    assert "n" not in first and "budget_flops" not in first and first["model"] == "a"
    assert [s["form"] for s in first["scores"]] == ["power", "saturating", "chinchilla",
                                                    "combined"]
    p, s, c, m = first["scores"]
    assert (p["predicted"], p["low"], p["high"]) == pytest.approx((2.0, 1.1, 4.9))
    assert p["rel_error"] == 0.0 and p["inside"] is True
    assert (s["predicted"], s["low"], s["high"], s["inside"]) == (2.5, None, None, None)
    assert (c["predicted"], c["low"], c["high"]) == pytest.approx((2.2, 0.1, 3.9))
    assert c["rel_error"] == pytest.approx(0.1)
    # the mixture of power's 41 draws alone (saturating has too few): median 3, [1.1, 4.9]
    assert (m["predicted"], m["low"], m["high"]) == pytest.approx((3.0, 1.1, 4.9), abs=0.06)
    assert first["best_form"] == "power"  # the smallest |rel_error| of the forms
    # a run at an x the forms were not drawn at: chinchilla alone, at its own index
    assert [s["form"] for s in second["scores"]] == ["chinchilla"]
    (c2,) = second["scores"]
    assert (c2["predicted"], c2["low"], c2["high"]) == pytest.approx((9.0, 1.1, 4.9))
    assert c2["inside"] is False and second["best_form"] == "chinchilla"
    # chinchilla without an interval is scored without one
    bare = FormDraws("chinchilla", np.array([2.2, 9.0]), DRAWS[:3, :2])
    (scored,) = vd.score_runs(runs[1:], {}, [], bare)
    assert scored["scores"][0]["inside"] is None and scored["scores"][0]["low"] is None
    # the combined prediction mixes the forms asked for only
    (run,) = vd.score_runs(runs[:1], {20.0: 1}, [power, few], None, [few])
    assert [s["form"] for s in run["scores"]] == ["power", "saturating"]


def test_summarise_takes_the_smallest_worst_error_and_every_miss() -> None:
    def s(form: str, err: float | None, inside: bool | None) -> dict:
        return {"form": form, "rel_error": err, "inside": inside}

    scored = [{"scores": [s("power", 0.02, True), s("saturating", -0.01, False),
                          s("combined", 0.0, False)]},
              {"scores": [s("power", -0.03, True), s("saturating", 0.025, False),
                          s("chinchilla", None, None)]}]
    assert vd.summarise(scored) == {"best_form": "saturating",
                                    "ruled_out": ["saturating", "combined"], "misses": 3}
    assert vd.summarise([]) == {"best_form": None, "ruled_out": [], "misses": 0}


def test_budget_runs_are_past_every_ladder_budget() -> None:
    rows = [{"budget_flops": "1e18"}, {"budget_flops": "4e18"}, {"budget_flops": ""}]
    assert vd.ladder_max_budget(rows) == 4e18
    assert vd.ladder_max_budget([{"budget_flops": ""}]) == -math.inf
    assert vd.is_budget_run({"budget_flops": "1e19"}, 4e18)
    assert not vd.is_budget_run({"budget_flops": "4e18"}, 4e18)
    assert not vd.is_budget_run({"budget_flops": ""}, 4e18)
    assert vd.is_budget_run({"budget_flops": "1e10"}, -math.inf)


def test_validation_runs_average_seeds_per_configuration() -> None:
    def row(model: str, n: str, seed: str, loss: str) -> dict[str, str]:
        return {"run_id": f"{model}-{seed}", "model": model, "params": n, "tokens": "1e9",
                "seed": seed, "val_loss": loss}

    rows = [row("v1", "1e8", "0", "3.0"), row("v1", "1e8", "1", "3.2"),
            row("v2", "2e8", "0", "2.9"), row("v3", "4e8", "0", "")]
    header = list(rows[0])  # no params_non_embedding: N is total params
    out = vd.validation_runs(rows, header)
    assert [(r["model"], r["n"], r["n_seeds"]) for r in out] == [("v1", 1e8, 2), ("v2", 2e8, 1)]
    assert out[0]["observed"] == pytest.approx(3.1)
    assert out[0]["x"] is None and out[0]["tokens"] == 1e9 and out[0]["flops"] is None
    assert out[0]["run_id"] == "v1-0"
    assert vd.validation_runs([], header) == []


def test_validation_runs_without_a_model_column_are_told_apart_by_total_params() -> None:
    rows = [{"params": n, "tokens": "1e9", "seed": s, "val_loss": loss}
            for n, s, loss in (("1e8", "0", "3.0"), ("1e8", "1", "3.2"), ("2e8", "0", "2.9"))]
    out = vd.validation_runs(rows, ["params", "tokens", "seed", "val_loss"])
    assert [(r["n"], r["n_seeds"], r["model"], r["run_id"]) for r in out] == [
        (1e8, 2, None, None), (2e8, 1, None, None)]
    assert [r["observed"] for r in out] == pytest.approx([3.1, 2.9])


def test_a_miss_names_the_run_and_how_far_outside_each_edge() -> None:
    def run(label: dict, observed: float) -> dict:
        return {**label, "x": 5e8, "observed": observed, "scores": [
            {"form": "power", "predicted": 3.0, "low": 2.9, "high": 3.1,
             "rel_error": (3.0 - observed) / observed, "inside": False}]}

    block = {"runs": [run({"model": "v1"}, 3.3), run({"run_id": "r2"}, 2.5), run({}, 3.05)]}
    block["runs"][2]["scores"][0]["inside"] = True
    (d,) = vd.findings(block)
    assert (d.code, d.severity) == ("prediction_miss", "warning")
    assert d.message == (
        "The power form's 95% prediction interval missed a validation run: v1: predicted 3 "
        "[2.9, 3.1], observed 3.3 (-9.1%, 0.2 nats outside); r2: predicted 3 [2.9, 3.1], "
        "observed 2.5 (+20.0%, 0.4 nats outside). Do not extrapolate with this form alone.")
    assert vd.findings(None) == [] and vd.findings({"runs": [block["runs"][2]]}) == []
