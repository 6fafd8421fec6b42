"""Runs past the ladder (role=validation): left out of every fit, scored against each
form's 95% prediction interval, and a prediction_miss when one falls outside."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import chinchilla, validation
from scalecli.fit.driver import compute_fit
from scalecli.fit.rows import VALIDATION_REASON

from .test_fit_cli import write

HEADER = "run_id,model,params_non_embedding,params,tokens,seed,lr,val_loss,val_ppl,status,role"
SIZES = np.geomspace(22e3, 793e3, 5).round()


def law(n):
    return 3.71 + 11.6 * n**-0.3


def ladder_csv(path: Path, extra_loss: float | None = None, role: bool = True) -> Path:
    """The default ladder (s1 with three seeds) and, when `extra_loss` is given, s8 at
    6x the largest size with val_loss law(s8) + extra_loss as a validation run."""
    rng = np.random.default_rng(0)
    lines = [HEADER if role else HEADER.removesuffix(",role")]
    for i, n in enumerate(SIZES):
        for seed in ([0, 1, 2] if i == 0 else [0]):
            loss = law(n) + rng.normal(0, 0.01)
            row = f"r{i}{seed},s{i + 1},{n:.0f},{n + 6e4:.0f},2000000,{seed},0.003,{loss:.5f}," \
                  f"{np.exp(loss):.4f},ok"
            lines.append(row + ("," if role else ""))
    if extra_loss is not None:
        n = 6 * SIZES[-1]
        loss = law(n) + extra_loss
        lines.append(f"v8,s8,{n:.0f},{n + 6e4:.0f},2000000,0,0.003,{loss:.5f},"
                     f"{np.exp(loss):.4f},ok,validation")
    return write(path / "results.csv", "\n".join(lines) + "\n")


def test_a_validation_run_is_scored_not_fitted(tmp_path: Path):
    with_run = compute_fit(ladder_csv(tmp_path, 0.0), form="all", bootstrap=100)
    (tmp_path / "plain").mkdir()
    plain = compute_fit(ladder_csv(tmp_path / "plain"), form="all", bootstrap=100)
    assert with_run["rows_excluded"] == {VALIDATION_REASON: 1}
    assert with_run["rows_used"] == plain["rows_used"] == 7
    for form in ("power", "saturating"):
        assert with_run["fits"][form]["params"] == plain["fits"][form]["params"]
    block = with_run["validation"]
    assert set(block) >= {"x", "y", "runs", "best_form", "ruled_out", "misses"}
    (run,) = block["runs"]
    assert run["model"] == "s8" and run["x"] == 6 * SIZES[-1] and run["n_seeds"] == 1
    forms = [s["form"] for s in run["scores"]]
    assert forms == ["power", "saturating", "combined"]
    for s in run["scores"]:
        assert s["low"] < s["predicted"] < s["high"]
        assert s["rel_error"] == (s["predicted"] - run["observed"]) / run["observed"]
    # the law is saturating: its form is the best, and the combined interval holds the run
    assert block["best_form"] == "saturating"
    assert run["scores"][2]["inside"] is True
    point = with_run["prediction"]["points"][0]
    assert point["source"] == "validation" and point["label"] == "s8"
    # the combined prediction mixes the forms the ladder does not reject (`rejected_forms`)
    rejected = with_run["prediction"]["rejected"]
    assert point["combined"]["forms"] == [f for f in ("power", "saturating") if f not in rejected]
    assert with_run["prediction"]["seed_sd"] > 0  # s1's three seeds
    assert "validation" not in plain
    assert [p["source"] for p in plain["prediction"]["points"]] == ["default"]
    assert plain["prediction"]["points"][0]["x"] == 10 * SIZES[-1]
    json.dumps(with_run, allow_nan=False)


def test_a_run_outside_every_interval_rules_the_forms_out_and_warns(tmp_path: Path):
    result = CliRunner().invoke(app, ["fit", str(ladder_csv(tmp_path, 0.6)), "--form", "all",
                                      "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "fit.json").read_text())
    block = doc["validation"]
    assert set(block["ruled_out"]) == {"power", "saturating", "combined"}
    assert block["misses"] == 3
    missed = [d for d in doc["diagnostics"] if d["code"] == "prediction_miss"]
    assert {d["severity"] for d in missed} == {"warning"}
    assert len(missed) == 3 and all("s8" in d["message"] for d in missed)
    assert "Prediction check" in result.output and "ruled out" in result.output
    assert "combined" in result.output


def test_an_old_csv_without_role_is_all_ladder(tmp_path: Path):
    doc = compute_fit(ladder_csv(tmp_path, role=False), bootstrap=50, predict=[5e6])
    assert "validation" not in doc and doc["rows_used"] == 7
    sources = [p["source"] for p in doc["prediction"]["points"]]
    assert sources == ["predict", "default"]
    assert doc["prediction"]["points"][0]["combined"]["low"] is not None


def test_predict_prints_the_combined_prediction(tmp_path: Path):
    result = CliRunner().invoke(app, ["fit", str(ladder_csv(tmp_path)), "--bootstrap", "50",
                                      "--predict", "5e6"])
    assert result.exit_code == 0, result.output
    assert "N = 5e+06 (--predict)" in result.output and "combined" in result.output
    assert "95% CI" in result.output  # the 10x factor with its interval


def test_flops_validation_runs_are_scored_against_the_compute_approaches():
    """Approach 3 from a known law and bootstrap draws around it (a chinchilla fit end to
    end takes minutes on a loaded 2-core machine; the driver passes `analyse`'s draws)."""
    theta = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
    rng = np.random.default_rng(1)
    boots = theta * np.exp(rng.normal(0, 0.01, (200, 5)))
    c_val = 1e20
    runs = []
    for k, nv in enumerate([3e8, 1e9, 3e9]):
        dv = c_val / (6 * nv)
        runs.append({"run_id": f"v{k}", "model": f"big{k}", "x": 0.8 * nv, "n": nv,
                     "tokens": dv, "budget_flops": c_val,
                     "observed": float(chinchilla.chinchilla_predict(theta, nv, dv))})
    fits = {"chinchilla": {"converged": True},
            "isoflop": {"converged": True, "params": {"a_opt": {"value": 0.5}},
                        "derived": {"k_n": 0.1}}}
    (budget,) = validation.compute_block(runs, fits, (theta, boots), 0.01, rng)
    assert budget["flops"] == c_val and len(budget["runs"]) == 3
    best = min(runs, key=lambda r: r["observed"])
    assert budget["best_trained_n"] == best["n"]
    names = [a["approach"] for a in budget["approaches"]]
    assert names == ["2: isoFLOP", "3: parametric"]
    iso, three = budget["approaches"]
    assert iso["n_opt"] == 0.1 * c_val**0.5 and iso["loss"] is None
    opt = chinchilla.compute_optimal(theta, np.array([c_val]))
    assert three["n_opt"] == opt["N_opt"][0]
    assert three["n_ratio"] == three["n_opt"] / best["n"]
    assert three["low"] < three["loss"] < three["high"]
    assert three["inside"] is True  # the best trained run lies on the law, near its optimum
    assert all(r["low"] < r["predicted"] < r["high"] and r["inside"] for r in budget["runs"])
    json.dumps(budget, allow_nan=False)
    assert validation.findings({"runs": [], "compute": [budget]}) == []
    # a budget whose best run beats the law by far: approach 3's miss is a warning
    lucky = [{**r, "observed": r["observed"] - 0.2} for r in runs]
    (missed,) = validation.compute_block(lucky, fits, (theta, boots), 0.01, rng)
    assert missed["approaches"][1]["inside"] is False
    (warning,) = validation.findings({"runs": [], "compute": [missed]})
    assert warning.code == "prediction_miss" and warning.severity == "warning"
    assert "chinchilla" in warning.message and "1e+20 FLOPs" in warning.message


def test_budget_runs_beyond_the_ladder_are_not_scored_along_n(tmp_path: Path):
    path = ladder_csv(tmp_path, 0.0)
    text = path.read_text().replace("role", "role,budget_flops", 1)
    lines = text.splitlines()
    lines = [lines[0]] + [line + ("," if k < len(lines) - 2 else ",1e16")
                          for k, line in enumerate(lines[1:])]
    write(path, "\n".join(lines) + "\n")
    doc = compute_fit(path, bootstrap=50)
    block = doc["validation"]
    assert block["runs"] == [] and block["compute"][0]["flops"] == 1e16
    assert block["compute"][0]["approaches"] == []  # no compute approach was fitted
