"""What fit.json holds and what `scalecli fit` exits with, by the driver's last steps: the
compute approaches keep the findings and notes said before and beside them, and score a run
past the ladder with approach 3's own fit; `source` is the CSV; the seed noise block is on
val_loss or the form's y, along Kaplan's N or the form's x; the combined prediction is made
at --predict's x only for a choice that fits along x; its interval carries the seed level
of b only where the CSV has seeds and val_ppl; the summary goes to stdout and names
fit.json; --strict fails on a warning, never on an info."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from scalecli.fit import chinchilla
from scalecli.fit.driver import compute_fit, run_fit
from scalecli.fit.request import FitOptions
from scalecli.results import read_json
from tests.fit.test_conventions import write
from tests.fit.test_driver_full_1 import MIXED, THETA, notes_of, run

Z975 = 1.959963984540054  # the standard normal's 97.5% point


def law_loss(n: float, d: float) -> float:
    return float(chinchilla.chinchilla_predict(THETA, np.array(n), np.array(d)))


# ------------------------------------------------------- the compute approaches


def two_budgets_and_a_stray() -> list[dict[str, str]]:
    """Two FLOP budgets of 5 sizes a factor 3 apart about the law's optimum (tokenizers
    mixed, no val_bpb), a third budget of 4 tiny sizes (too few for a parabola, and worse
    than the smaller budgets' best: off the envelope), and one run past the ladder."""
    table = []
    for c in (1e18, 1e19):
        n0 = chinchilla.compute_optimal(THETA, np.array([c]))["N_opt"][0]
        for k in range(-2, 3):
            n = n0 * 3.0**k
            table.append(run(n, c / (6 * n), f"c{c:.0e}{k}", budget_flops=repr(c),
                             tokenizer="gpt2" if k % 2 else "llama", role=""))
    table += [run(n, 1e20 / (6 * n), f"tiny{n:.0e}", budget_flops="1e20", tokenizer="gpt2",
                  role="") for n in (1e5, 2e5, 4e5, 8e5)]
    return [*table, run(3e9, 6e10, "v", budget_flops="", tokenizer="gpt2", role="validation")]


def test_compute_keeps_what_was_said_before_it_and_scores_the_run_past_the_ladder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path, two_budgets_and_a_stray())
    notes = notes_of(FitOptions(path, form="compute", bootstrap=0, holdout=0), monkeypatch)
    # approach 1 skipped with its reason; the convention the CSV lacks, as a note too
    assert notes == [
        "envelope: the envelope has 2 budget(s) and 2 size(s); a law needs 3 budgets and 2 "
        "sizes",
        "N counted as matmul-only (params_matmul) left out of the conventions table: "
        "results.csv has no column 'params_matmul'"]
    doc = read_json(tmp_path / "fit.json")  # what that run wrote
    said = {(d["code"], d["severity"], d["message"]) for d in doc["diagnostics"]}
    # the tokenizers, said before the approaches were fitted, and the approaches' finding
    assert ("mixed_tokenizers", "warning", MIXED) in said
    assert ("isoflop_rejected", "warning",
            "1 isoFLOP budget(s) rejected and left out of a and b (2 accepted): C = 1e+20: "
            "too_few_points (4 sizes, at least 5 are needed). Centre each budget's sizes on "
            "its expected optimum, with at least 2 on each side.") in said
    assert [doc["fits"][f]["converged"] for f in ("envelope", "isoflop", "chinchilla")] == [
        False, True, True]
    # approach 3 recovers the noiseless law, and its fit scores the run at its (N, D)
    (scored,) = doc["validation"]["runs"]
    assert scored["observed"] == pytest.approx(law_loss(3e9, 6e10), rel=1e-12)
    assert [s["form"] for s in scored["scores"]] == ["chinchilla"]
    assert scored["scores"][0]["predicted"] == pytest.approx(law_loss(3e9, 6e10), rel=1e-6)


# ------------------------------------------------------------ source, seed noise


def ppl_seeds(delta: float = 0.5) -> list[dict[str, str]]:
    """3 sizes, 2 seeds each at perplexity p -+ delta, p = 40 (N/1e6)^-0.05; no val_loss."""
    return [{"params_non_embedding": repr(n), "seed": str(seed), "status": "ok",
             "val_ppl": repr(40.0 * (n / 1e6) ** -0.05 + sign * delta)}
            for n in (1e6, 1e7, 1e8) for seed, sign in ((0, 1), (1, -1))]


def test_source_is_the_csv_and_without_val_loss_the_seed_noise_is_the_forms_y(
        tmp_path: Path):
    path = write(tmp_path, ppl_seeds(0.5))
    doc = compute_fit(path, bootstrap=50, holdout=0)
    assert doc["source"] == str(path)
    noise = doc["seed_noise"]
    # two seeds p -+ 0.5: each size's sd is 0.5 sqrt(2), one degree of freedom each
    assert noise["column"] == "val_ppl"
    assert noise["pooled_sd"] == pytest.approx(0.5 * math.sqrt(2), rel=1e-9)
    assert noise["dof"] == 3
    assert [p["x"] for p in noise["points"]] == [1e6, 1e7, 1e8]
    assert [p["mean"] for p in noise["points"]] == pytest.approx(
        [40.0 * k**-0.05 for k in (1.0, 10.0, 100.0)], rel=1e-12)


def chinchilla_seeds(kaplan: bool) -> list[dict[str, str]]:
    """7 sizes on varied token budgets, 2 seeds each at the law's loss -+ 0.01."""
    table = []
    for k, n in enumerate(np.geomspace(1e7, 1e9, 7)):
        d = 1e9 * 3.0 ** (k % 3)
        for seed, sign in ((0, 1), (1, -1)):
            row = {"params": repr(float(n)), "tokens": repr(d), "seed": str(seed),
                   "val_loss": repr(law_loss(n, d) + sign * 0.01), "status": "ok"}
            if kaplan:
                row["params_non_embedding"] = repr(0.8 * float(n))
            table.append(row)
    return table


@pytest.mark.parametrize(("kaplan", "scale"), [(True, 0.8), (False, 1.0)])
def test_the_seed_noise_is_along_kaplans_n_or_else_the_forms_own_x(tmp_path: Path,
                                                                    kaplan: bool,
                                                                    scale: float):
    # the report's seed bars sit on the scaling plot's axis: Kaplan's N where the CSV has
    # it, whatever the form; without it, the chinchilla form's own x (every parameter)
    doc = compute_fit(write(tmp_path, chinchilla_seeds(kaplan)), form="chinchilla",
                      bootstrap=0, holdout=0)
    noise = doc["seed_noise"]
    assert noise["column"] == "val_loss"
    assert noise["pooled_sd"] == pytest.approx(0.01 * math.sqrt(2), rel=1e-6)
    assert [p["x"] for p in noise["points"]] == pytest.approx(
        scale * np.geomspace(1e7, 1e9, 7), rel=1e-12)


# ------------------------------------------------------------- the prediction


def test_the_prediction_is_made_at_predicts_x_only_for_a_choice_that_fits_along_x(
        tmp_path: Path):
    # one run per size, tokens varied: the ladder the 1-D forms predict past, at 10x the
    # largest Kaplan N (0.8 * 1e9) by default
    path = write(tmp_path, [run(n, 1e9 * 3.0 ** (k % 3))
                            for k, n in enumerate(np.geomspace(1e7, 1e9, 7))])
    power = compute_fit(path, predict=[2e10], bootstrap=50, holdout=0)["prediction"]
    assert [(p["x"], p["source"]) for p in power["points"]] == [(2e10, "predict"),
                                                              (8e9, "default")]
    # chinchilla's --predict-flops are FLOP budgets, not sizes: no point at x = 1e21
    chin = compute_fit(path, form="chinchilla", predict_flops=[1e21], bootstrap=0,
                       holdout=0)["prediction"]
    assert [(p["x"], p["source"]) for p in chin["points"]] == [(8e9, "default")]


S = 0.05  # each run's val_loss is its size's law -+ S


def seeded_ladder(ppl: bool) -> list[dict[str, str]]:
    """3 sizes a decade apart, 2 seeds each at val_loss = ln 40 - 0.05 ln(N/1e6) -+ S (and
    val_ppl = exp(val_loss) when `ppl`): each size's mean is on the law."""
    table = []
    for n in (1e6, 1e7, 1e8):
        loss = math.log(40.0) - 0.05 * math.log(n / 1e6)
        for seed, sign in ((0, 1), (1, -1)):
            row = {"params_non_embedding": repr(n), "seed": str(seed), "status": "ok",
                   "val_loss": repr(loss + sign * S)}
            if ppl:
                row["val_ppl"] = repr(math.exp(loss + sign * S))
            table.append(row)
    return table


def level_q975() -> float:
    """The 97.5% point of the power form's predictive draw at 1e9, in val_loss.

    The means lie on the law, so the refits move only by the seed level: each size's mean
    moves by +-sqrt(2) S with probability 1/4 each, else 0 (2 seeds resampled as residuals
    inflated by sqrt(2)). A line through ln N = 0, 1, 2 decades, read at 3, moves by
    -2/3 e1 + 1/3 e2 + 4/3 e3; one run's seed noise N(0, (sqrt(2) S)^2) comes on top."""
    step = math.sqrt(2) * S
    atoms = [(-2 / 3 * a + 1 / 3 * b + 4 / 3 * c, pa * pb * pc)
             for (a, pa), (b, pb), (c, pc) in itertools.product(
                 ((-step, 0.25), (0.0, 0.5), (step, 0.25)), repeat=3)]
    def cdf(v: float) -> float:
        return sum(w * stats.norm.cdf((v - m) / step) for m, w in atoms)
    return optimize.brentq(lambda v: cdf(v) - 0.975, 0.0, 1.0)


@pytest.mark.parametrize("ppl", [True, False])
def test_the_prediction_interval_carries_the_seed_level_only_with_seeds_and_val_ppl(
        tmp_path: Path, ppl: bool):
    # with val_ppl, the power form's refits carry the seed level of its means (on log ppl,
    # which is val_loss): a half-width of level_q975() = 0.202 at S = 0.05; without val_ppl
    # only one run's seed noise, 1.96 sqrt(2) S = 0.139, 31% narrower. Within 12%: the
    # percentiles of 200 draws.
    doc = compute_fit(write(tmp_path, seeded_ladder(ppl)), y="val_loss", bootstrap=200,
                      seed=0, holdout=0)
    block = doc["prediction"]
    assert block["seed_sd"] == pytest.approx(math.sqrt(2) * S, rel=1e-9)
    (point,) = block["points"]
    assert (point["x"], point["source"]) == (1e9, "default")
    power = point["forms"]["power"]
    assert power["y"] == pytest.approx(math.log(40.0) - 0.05 * math.log(1e3), rel=1e-9)
    half = (power["high"] - power["low"]) / 2
    expected = level_q975() if ppl else Z975 * math.sqrt(2) * S
    assert half == pytest.approx(expected, rel=0.12)


def test_an_unseeded_ladder_on_the_law_predicts_with_no_width(tmp_path: Path):
    # no seeds: no seed level and no seed noise, and the means lie on the law
    table = [{k: v for k, v in r.items() if k != "seed"} for r in seeded_ladder(True)[::2]]
    doc = compute_fit(write(tmp_path, table), bootstrap=200, holdout=0)
    power = doc["prediction"]["points"][0]["forms"]["power"]
    assert doc["prediction"]["seed_sd"] is None
    assert power["low"] == pytest.approx(power["y"], rel=1e-9)
    assert power["high"] == pytest.approx(power["y"], rel=1e-9)


# --------------------------------------------------------------- run_fit's exit


def power_rows(**extra: str) -> list[dict[str, str]]:
    """5 sizes on ppl = 40 (N/1e6)^-0.05 exactly: a fit that warns of nothing."""
    return [{"params_non_embedding": repr(n), "val_ppl": repr(40.0 * (n / 1e6) ** -0.05),
             "status": "ok", **extra} for n in (1e6, 1e6 * 10**0.5, 1e7, 1e7 * 10**0.5, 1e8)]


def test_run_fit_prints_its_summary_to_stdout_and_names_fit_json(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping of the paths
    path = write(tmp_path, power_rows())
    assert run_fit(FitOptions(path, bootstrap=50, holdout=0)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"{path}: 5 of 5 rows used; filter status=ok"
    assert lines[-1] == f"wrote {tmp_path / 'fit.json'}"


def test_strict_fails_on_a_warning_only(tmp_path: Path):
    clean = write(tmp_path, power_rows())
    doc = compute_fit(clean, bootstrap=50, holdout=0)
    assert {d["severity"] for d in doc["diagnostics"]} == {"info"}  # infos only
    assert run_fit(FitOptions(clean, bootstrap=50, holdout=0, strict=True)) == 0
    # two tokenizers and no val_bpb: the mixed_tokenizers warning
    folder = tmp_path / "mixed"
    folder.mkdir()
    mixed = write(folder, [{**r, "tokenizer": t} for r, t in
                           zip(power_rows(), ["gpt2", "llama"] * 3, strict=False)])
    assert run_fit(FitOptions(mixed, bootstrap=50, holdout=0)) == 0
    assert run_fit(FitOptions(mixed, bootstrap=50, holdout=0, strict=True)) == 1
    assert run_fit(FitOptions(mixed, bootstrap=50, holdout=0, strict=True,
                              as_json=True)) == 1
