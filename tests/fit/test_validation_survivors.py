"""validation.build and noise_sd_log, checked on the numbers fit.json carries: the holdout
interval of an exact ladder, the prediction block's rejected forms, the holdout rejection's
reproducible interval, approach 3's scores of validation runs at (N total, D) and its
N_opt on the compute column's flops per token. Every expected value is worked out from the
law the rows were made on."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalecli.fit import seeds, validation
from scalecli.fit.driver import compute_fit
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.laws import FitResult

HEADER = "run_id,model,params_non_embedding,params,tokens,seed,lr,val_loss,val_ppl,status,role"
SIZES = np.geomspace(2e4, 2e6, 6).round()


def saturating(n: float) -> float:
    return 3.0 + 40.0 * n**-0.35


def ladder_csv(path: Path, noise: float = 0.0, last_off: float = 0.0) -> Path:
    """Six sizes on `saturating` (one seed each), plus `noise` (sd, fixed draws) and
    `last_off` added to the largest size, and one validation run at 6x the largest on the
    law exactly."""
    rng = np.random.default_rng(0)
    lines = [HEADER]
    for i, n in enumerate(SIZES):
        loss = saturating(n) + rng.normal(0, noise) + (last_off if i == len(SIZES) - 1 else 0)
        lines.append(f"r{i},s{i + 1},{n:.0f},{n + 6e4:.0f},2000000,0,0.003,{float(loss)!r},"
                     f"{float(np.exp(loss))!r},ok,")
    n = 6 * SIZES[-1]
    loss = saturating(n)
    lines.append(f"v8,s8,{n:.0f},{n + 6e4:.0f},2000000,0,0.003,{float(loss)!r},"
                 f"{float(np.exp(loss))!r},ok,validation")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------ noise_sd_log


def test_noise_sd_log_is_the_pooled_seed_sd_of_log_y_leaving_out_a_y_at_or_below_zero():
    def row(model: str, seed: str, y: float) -> dict[str, str]:
        return {"run_id": f"{model}-{seed}", "model": model, "params_non_embedding": model[1:],
                "tokens": "1e9", "seed": seed, "lr": "0.003", "val_loss": repr(y)}

    header = list(row("n1", "0", 1.0))
    one_seed = [row("n1", "0", 3.0), row("n2", "0", 2.9), row("n3", "0", 2.8)]
    lad = seeds.ladder(one_seed, header, "params_non_embedding", "tokens")
    # one seed per configuration: no noise measured, so the holdout interval draws none
    assert validation.noise_sd_log(lad, one_seed, "val_loss") == 0.0
    # ln y at n1: 1.0, 1.2 (ss 0.02); at n2: 2.0, 2.4 (ss 0.08); at n3 y = 0 has no log, so
    # n3 keeps one seed and adds nothing: sd = sqrt(0.10 / 2)
    rows = [row("n1", "0", math.exp(1.0)), row("n1", "1", math.exp(1.2)),
            row("n2", "0", math.exp(2.0)), row("n2", "1", math.exp(2.4)),
            row("n3", "0", 0.0), row("n3", "1", math.exp(3.0))]
    lad = seeds.ladder(rows, header, "params_non_embedding", "tokens", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a zero y is skipped, not logged to -inf
        sd = validation.noise_sd_log(lad, rows, "val_loss")
    assert sd == pytest.approx(math.sqrt(0.05), rel=1e-12)


def test_an_exact_unseeded_ladder_has_a_holdout_interval_on_the_law(tmp_path: Path):
    """No seeds, no noise: the refit without the largest size recovers the law, so its 95%
    prediction interval there closes on law(N) (no seed noise is drawn into it)."""
    doc = compute_fit(ladder_csv(tmp_path / "results.csv"), form="saturating", bootstrap=100)
    check = doc["fits"]["saturating"]["extrapolation"]
    truth = saturating(SIZES[-1])
    assert check["x"] == [SIZES[-1]]
    assert check["low"][0] == pytest.approx(truth, rel=1e-6)
    assert check["high"][0] == pytest.approx(truth, rel=1e-6)
    assert check["inside"] == [True]


# ------------------------------------------------------------------ the prediction block


def test_the_combined_prediction_leaves_out_the_power_law_that_the_ladder_bends_away_from(
        tmp_path: Path):
    doc = compute_fit(ladder_csv(tmp_path / "results.csv"), form="saturating", bootstrap=100)
    block = doc["prediction"]
    # an exact saturating law is curved in ln N: the quadratic term rejects the power law
    assert set(block["rejected"]) == {"power"}
    assert block["rejected"]["power"].startswith(
        "the ladder bends away from the power law's straight line")
    validation_point, ten_x = block["points"]
    assert validation_point["label"] == "s8" and ten_x["source"] == "default"
    for point, n in ((validation_point, 6 * SIZES[-1]), (ten_x, 10 * SIZES[-1])):
        combined = point["combined"]
        assert combined["forms"] == ["saturating"]
        assert combined["reason"].startswith("the saturating form alone: power left out")
        # the saturating form alone, fitted on an exact law: median and interval on it
        for key in ("y", "low", "high"):
            assert combined[key] == pytest.approx(saturating(n), rel=1e-6)
    # the validation block scores the same combined prediction
    (run,) = doc["validation"]["runs"]
    scored = next(s for s in run["scores"] if s["form"] == "combined")
    assert scored["predicted"] == validation_point["combined"]["y"]
    assert scored["inside"] is True


def test_a_holdout_rejection_quotes_the_fits_own_holdout_interval_at_its_seed(tmp_path: Path):
    """The largest size 0.15 below the law: the saturating refit without it misses it. The
    ladder's rejection draws the same bootstrap as the fit's holdout check (same seed), so
    it quotes fit.json's interval; another seed draws another interval."""
    path = ladder_csv(tmp_path / "results.csv", noise=0.02, last_off=-0.15)
    texts = {}
    for seed in (3, 4):
        doc = compute_fit(path, form="saturating", bootstrap=100, seed=seed)
        check = doc["fits"]["saturating"]["extrapolation"]
        assert check["inside"] == [False]
        pred, lo, hi, obs = (check[k][0] for k in ("predicted", "low", "high", "observed"))
        texts[seed] = doc["prediction"]["rejected"]["saturating"]
        assert texts[seed] == (f"its refit without the largest size predicted it at "
                               f"{pred:.3f} [{lo:.3f}, {hi:.3f}], observed {obs:.3f} "
                               "(holdout check)")
    assert texts[3] != texts[4]


# --------------------------------------------------------- approach 3 on validation runs

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta (Hoffmann)


def chinchilla_law(n: float, d: float) -> float:
    e, a, b, alpha, beta = THETA
    return float(e + a / n**alpha + b / d**beta)


def build_with_chinchilla(held: list[dict[str, str]], fpt: FlopsPerToken | None):
    """validation.build on an isoFLOP ladder (budgets up to 1e18: no 1-D forms) with a
    converged chinchilla fit on (params, tokens) and bootstrap draws 1% around THETA."""
    header = ["run_id", "model", "params_non_embedding", "params", "tokens", "budget_flops",
              "seed", "val_loss", "status", "role"]
    ladder = [{"run_id": f"l{k}", "model": f"l{k}", "params_non_embedding": repr(n),
               "params": repr(1.2 * n), "tokens": repr(1e18 / (6 * n)), "budget_flops": "1e18",
               "seed": "0", "val_loss": repr(chinchilla_law(n, 1e18 / (6 * n))), "status": "ok",
               "role": ""} for k, n in enumerate([1e7, 3e7, 1e8])]
    held = [{k: row.get(k, "") for k in header} for row in held]
    lad = seeds.ladder(ladder, header, "params_non_embedding", "tokens")
    point = FitResult("chinchilla", THETA, True, "")
    point.extra["fpt"] = fpt
    boots = THETA * np.exp(np.random.default_rng(1).normal(0, 0.01, (200, 5)))
    fits = {"chinchilla": {"converged": True, "x": "params", "y": "val_loss", "d": "tokens"}}
    return validation.build(ladder, lad, held, header, fits, {"chinchilla": (point, boots)},
                            100, 0, None, 0.01)


def test_validation_runs_along_n_are_scored_by_chinchilla_at_their_total_params_and_tokens():
    # total params (the chinchilla fit's x) differ from params_non_embedding by 2x here
    runs = [(4e8, 8e8, 8e9), (1e9, 2e9, 2e10)]
    held = [{"run_id": f"v{k}", "model": f"v{k}", "params_non_embedding": repr(x),
             "params": repr(n), "tokens": repr(d), "seed": "0",
             "val_loss": repr(chinchilla_law(n, d)), "status": "ok", "role": "validation"}
            for k, (x, n, d) in enumerate(runs)]
    pred, block, found = build_with_chinchilla(held, None)
    assert pred is None  # an isoFLOP ladder has no one law along N
    assert [r["model"] for r in block["runs"]] == ["v0", "v1"]
    for run, (x, n, d) in zip(block["runs"], runs, strict=True):
        assert run["x"] == x
        (s,) = run["scores"]
        assert s["form"] == "chinchilla"
        assert s["predicted"] == pytest.approx(chinchilla_law(n, d), rel=1e-12)
        assert s["low"] < s["predicted"] < s["high"] and s["inside"] is True
        assert s["rel_error"] == pytest.approx(0.0, abs=1e-12)
    assert block["best_form"] == "chinchilla" and block["misses"] == 0 and found == []


def test_a_budget_run_is_scored_by_approach_3_solved_on_the_compute_columns_flops_per_token():
    """flops_per_token = 1.2 x 6N at every N: C = 7.2 N D, so N_opt = G (C / 7.2)^a with
    Hoffmann's closed-form G and a (the closed form on C / 1.2), not G (C / 6)^a."""
    c, k = 1e21, 1.2
    fpt = FlopsPerToken(np.log([1e6, 1e10]), np.log([k, k]), (1e17, 1e18))
    n_run = 3e9
    held = [{"run_id": "b0", "model": "big", "params_non_embedding": repr(n_run / 1.2),
             "params": repr(n_run), "tokens": repr(c / (6 * k * n_run)), "budget_flops": "1e21",
             "seed": "0", "val_loss": repr(chinchilla_law(n_run, c / (6 * k * n_run))),
             "status": "ok", "role": "validation"}]
    _, block, _ = build_with_chinchilla(held, fpt)
    assert block["runs"] == []  # past the ladder's budgets: scored per budget, not along N
    (budget,) = block["compute"]
    assert budget["flops"] == c and budget["best_trained_n"] == n_run
    (three,) = budget["approaches"]
    assert three["approach"] == "3: parametric"
    _, a, b, alpha, beta = THETA
    g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
    n_opt = g * (c / (6 * k)) ** (beta / (alpha + beta))
    assert three["n_opt"] == pytest.approx(n_opt, rel=1e-6)
    assert three["loss"] == pytest.approx(chinchilla_law(n_opt, c / (6 * k * n_opt)), rel=1e-9)
    assert three["n_ratio"] == pytest.approx(n_opt / n_run, rel=1e-6)
