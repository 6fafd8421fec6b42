"""The report's prediction check: fit.json's `prediction` and `validation` blocks shown above
the figures, validation runs drawn apart from the ladder (never as fitted points), the 10x
line never without its interval, and the Chinchilla contours at the N the law was fitted on.

fit.json is written by hand here, to the contract the fit side writes (`fit/prediction.py`).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import schema
from scalecli.report.data import fit_rows, read_results
from scalecli.report.document import fit_summary
from scalecli.report.driver import ReportOptions, run_report
from scalecli.report.prediction import INSIDE, OUTSIDE, validation_checks
from tests.report.test_report import n_params, parse, write_fit, write_results

N_VAL = n_params(3, 96)  # a size past the ladder's largest (d64)
OBSERVED = 1.7 + 60 * N_VAL**-0.35 + 200 * 1e5**-0.4


def add_validation_row(folder: Path, rows: list[dict]) -> dict:
    """results.csv with a `role` column: the ladder blank (an older sweep's rows), plus one
    finished validation run past the largest size."""
    val = {**rows[-1], "run_id": "d96-val", "model": "d96", "n_layer": 3, "n_embd": 96,
           "params": N_VAL + 300 * 96, "params_non_embedding": N_VAL, "val_loss": OBSERVED,
           "val_ppl": math.exp(OBSERVED), "role": "validation"}
    columns = [*rows[0].keys(), "role"]
    with open(folder / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{**r, "role": ""} for r in rows] + [val])
    return val


def prediction_block(x: float, source: str) -> dict:
    return {"x": "params_non_embedding", "y": "val_loss", "seed_sd": 0.012, "level": 0.95,
            "points": [{"x": x, "label": "d96" if source == "validation" else None,
                        "source": source,
                        "forms": {"power": {"y": 3.613, "low": 3.530, "high": 3.712},
                                  "saturating": {"y": 3.691, "low": 3.620, "high": 3.850}},
                        "combined": {"y": 3.65, "low": 3.55, "high": 3.82,
                                     "forms": ["power", "saturating"],
                                     "method": "equal-weight mixture of the forms' draws",
                                     "reason": "neither form has been checked past the ladder",
                                     "disagree": False}}]}


def validation_block() -> dict:
    def score(form, predicted, low, high):
        return {"form": form, "predicted": predicted, "low": low, "high": high,
                "rel_error": predicted / OBSERVED - 1, "inside": low <= OBSERVED <= high}

    # power misses high, saturating and the combined one hold the observed loss
    scores = [score("power", OBSERVED - 0.30, OBSERVED - 0.40, OBSERVED - 0.20),
              score("saturating", OBSERVED - 0.02, OBSERVED - 0.10, OBSERVED + 0.08),
              score("combined", OBSERVED - 0.15, OBSERVED - 0.38, OBSERVED + 0.06)]
    return {"x": "params_non_embedding", "y": "val_loss",
            "runs": [{"run_id": "d96-val", "model": "d96", "x": N_VAL, "tokens": 1e5,
                      "flops": 6 * N_VAL * 1e5, "observed": OBSERVED, "n_seeds": 1,
                      "scores": scores, "best_form": "saturating"}],
            "best_form": "saturating", "ruled_out": ["power"], "misses": 1}


def hand_made(folder: Path, validation: bool = True, prediction: bool = True) -> dict:
    rows = write_results(folder)
    fit = write_fit(folder, rows)  # on the ladder alone
    if validation:
        add_validation_row(folder, rows)
        fit["validation"] = validation_block()
        fit["rows_excluded"] = {"validation runs (scored, not fitted)": 1}
    if prediction:
        fit["prediction"] = prediction_block(N_VAL if validation else 10 * 149952,
                                             "validation" if validation else "default")
    if prediction and validation:  # the scores are these predictions, scored
        point = fit["prediction"]["points"][0]
        for s in fit["validation"]["runs"][0]["scores"]:
            into = point["combined"] if s["form"] == "combined" else point["forms"][s["form"]]
            into.update(y=s["predicted"], low=s["low"], high=s["high"])
    (folder / "fit.json").write_text(schema.to_json(schema.build(fit)))
    return fit


def spy(monkeypatch, method: str) -> list[dict]:
    """Record every Axes.<method>(x, y, **kwargs) call while the report draws."""
    calls: list[dict] = []
    original = getattr(Axes, method)

    def record(self, x, y, *args, **kwargs):
        calls.append({"x": [float(v) for v in x], "y": [float(v) for v in y], **kwargs})
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, method, record)
    return calls


def report(folder: Path) -> tuple[str, str]:
    run_report(ReportOptions(out_dir=folder, command="t"))
    return ((folder / "report" / "report.html").read_text(encoding="utf-8"),
            (folder / "report" / "report.md").read_text(encoding="utf-8"))


# The section ------------------------------------------------------------------------------
def test_validation_runs_are_scored_above_the_first_figure(tmp_path):
    hand_made(tmp_path)
    html, md = report(tmp_path)
    sections = parse(tmp_path / "report" / "report.html").sections
    assert sections.index("prediction") < sections.index("figures")
    assert html.index('id="prediction"') < html.index("<figure")
    assert md.index("## Prediction check") < md.index("![")
    for page in (html, md):
        assert "Best form: saturating" in page and "Ruled out: power" in page
        assert OUTSIDE in page and INSIDE in page
        assert "saturating (best)" in page
        assert f"{OBSERVED:.4f}" in page
        assert "Beside them" in page  # the ladder-alone prediction too
        assert f"[{OBSERVED - 0.1:.4f}, {OBSERVED + 0.08:.4f}]" in page
        assert "combined (power + saturating)" in page
    section = md[md.index("## Prediction check"):md.index("## Provenance")]
    # one row per form: power outside, saturating and combined inside
    rows = [line for line in section.splitlines() if line.startswith("| d96 |")]
    assert [r.endswith(f"| {OUTSIDE} |") for r in rows] == [True, False, False]
    assert "1 of them validation runs, never fitted" in html


def test_without_validation_runs_the_prediction_and_how_to_check_it(tmp_path):
    hand_made(tmp_path, validation=False)
    html, md = report(tmp_path)
    section = md[md.index("## Prediction check"):md.index("## Provenance")]
    for text in ("| power | 3.6130 | [3.5300, 3.7120] |",
                 "| saturating | 3.6910 | [3.6200, 3.8500] |",
                 "| combined (power + saturating) | 3.6500 | [3.5500, 3.8200] |",
                 "The combined prediction is the equal-weight mixture of the forms' draws. "
                 "Why `fit` stands behind it: neither form has been checked past the ladder.",
                 "pooled seed sd 0.012", "`validate: {models: [...]}`"):
        assert text in section, text
    assert "Best form" not in html
    assert html.index('id="prediction"') < html.index("<figure")


def test_an_older_fit_json_renders_without_the_section_and_says_why(tmp_path):
    rows = write_results(tmp_path)
    write_fit(tmp_path, rows)
    add_validation_row(tmp_path, rows)  # validation run finished after this fit
    html, md = report(tmp_path)
    assert 'id="prediction"' not in html and "## Prediction check" not in md
    assert "fit.json has no prediction block" in html
    assert "1 finished validation run(s) and fit.json scores 0" in html


def test_terminal_shows_the_check(tmp_path):
    hand_made(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--terminal"])
    assert result.exit_code == 0, result.output
    assert "Prediction check" in result.output and "Ruled out: power" in result.output


# The figures ------------------------------------------------------------------------------
def test_validation_run_is_drawn_apart_with_each_forms_interval(tmp_path, monkeypatch):
    hand_made(tmp_path)
    scatters, bars = spy(monkeypatch, "scatter"), spy(monkeypatch, "errorbar")
    report(tmp_path)
    ladder = next(c for c in scatters if c.get("label") == "runs (colour = size)")
    assert N_VAL not in ladder["x"] and len(ladder["x"]) == 4
    star = next(c for c in scatters if c.get("label") == "validation run (not fitted)")
    assert star["x"] == [N_VAL]
    assert star["y"] == pytest.approx([math.exp(OBSERVED)])  # the figure is in perplexity
    assert star["marker"] == "*"
    by_form = {c["label"]: c for c in bars}
    assert set(by_form) == {f"{f}: 95% prediction interval"
                            for f in ("power", "saturating", "combined")}
    power = by_form["power: 95% prediction interval"]
    assert power["y"] == pytest.approx([math.exp(OBSERVED - 0.30)])
    low, high = power["yerr"]
    assert low[0] == pytest.approx(math.exp(OBSERVED - 0.30) - math.exp(OBSERVED - 0.40))
    assert high[0] == pytest.approx(math.exp(OBSERVED - 0.20) - math.exp(OBSERVED - 0.30))
    residuals = next(c for c in scatters if c.get("label") == "power (val_ppl)")
    assert N_VAL not in residuals["x"] and len(residuals["x"]) == 4


def test_role_column_blank_or_missing_means_ladder(tmp_path):
    rows = write_results(tmp_path)
    assert set(read_results(tmp_path / "results.csv")["role"]) == {"ladder"}
    add_validation_row(tmp_path, rows)
    table = read_results(tmp_path / "results.csv")
    assert list(table["role"]) == ["ladder"] * 4 + ["validation"]
    used = fit_rows(table, schema.FitDoc(filter=["status=ok"]))
    assert "d96" not in set(used["model"]) and len(used) == 4


def test_validation_checks_in_loss_and_none_in_another_column():
    fit = schema.build({"validation": validation_block()})
    table = pd.DataFrame({"run_id": ["d96-val"], "params": [N_VAL + 28800.0]})
    (check,), note = validation_checks(fit, "params_non_embedding", "val_loss", table)
    assert note is None and check.observed == OBSERVED
    assert [i.form for i in check.intervals] == ["power", "saturating", "combined"]
    assert [i.inside for i in check.intervals] == [False, True, True]
    (other,), _ = validation_checks(fit, "params", "val_loss", table)  # x from results.csv
    assert other.x == N_VAL + 28800.0
    checks, note = validation_checks(fit, "params_non_embedding", "val_bpb", table)
    assert checks == [] and "scored in val_loss" in note


# 10x ---------------------------------------------------------------------------------------
def test_ten_x_line_carries_bs_interval_and_the_combined_prediction():
    b = -0.1
    fit = {"form": "power", "x": "params_non_embedding", "y": "val_ppl",
           "params": {"a": {"value": 100.0},
                      "b": {"value": b, "se": 0.01, "ci_low": -0.12, "ci_high": -0.08}},
           "derived": {"ten_x_factor": 10**b, "ten_x_text": "10x params -> 20.6% lower "
                                                            "perplexity"}}
    def summary(fit: dict, prediction: dict | None = None) -> list:
        doc = schema.build({"fits": {"power": fit},
                            **({"prediction": prediction} if prediction else {})})
        return fit_summary(doc.fits["power"], doc.prediction)

    pairs = dict(next(x for x in summary(fit) if x.kind == "kv").rows)
    line = pairs["10x buys"]
    assert line.startswith("10x params -> 20.6% lower perplexity (95% CI: 10^b in [")
    assert f"[{10**-0.12:.3f}, {10**-0.08:.3f}]" in line
    assert f"{100 * (1 - 10**-0.08):.1f}% to {100 * (1 - 10**-0.12):.1f}% lower perplexity" \
        in line
    with_prediction = dict(next(x for x in summary(fit, prediction_block(1e6, "default"))
                                if x.kind == "kv").rows)["10x buys"]
    assert "combined prediction (power + saturating) at N = 1M: val_loss 3.650 " \
           "[3.550, 3.820]" in with_prediction
    assert f"perplexity {math.exp(3.65):.2f}" in with_prediction
    fit["params"]["b"] = {"value": b, "se": None, "ci_low": None, "ci_high": None}
    alone = dict(next(x for x in summary(fit) if x.kind == "kv").rows)["10x buys"]
    assert "no interval" in alone
    # a fit.json whose text states the interval already: said once, not twice
    fit["derived"]["ten_x_text"] = "10x params -> 20.6% lower perplexity (95% CI 16.8-24.1%)"
    once = dict(next(x for x in summary(fit) if x.kind == "kv").rows)["10x buys"]
    assert once.count("95% CI") == 1 and once.endswith("from the power form alone")


# Chinchilla contours ---------------------------------------------------------------------
def test_chinchilla_contours_draw_runs_at_the_n_the_law_was_fitted_on(tmp_path, monkeypatch):
    rows = write_results(tmp_path, budgets=(5e4, 1e5))
    fit = write_fit(tmp_path, rows, chinchilla=True)
    fit["fits"]["chinchilla"]["x"] = "params"  # the default: every parameter
    (tmp_path / "fit.json").write_text(schema.to_json(schema.build(fit)))
    scatters = spy(monkeypatch, "scatter")
    report(tmp_path)
    (runs,) = [c for c in scatters if c.get("label") == "runs"]
    params = sorted({float(r["params"]) for r in rows})
    assert sorted(set(runs["y"])) == pytest.approx(params)  # not params_non_embedding
    assert runs["x"] == pytest.approx([6 * float(r["params"]) * float(r["tokens"])
                                       for r in rows])


def test_validation_budgets_are_scored_per_run_and_per_approach():
    from scalecli.report.prediction import HOW_TO_VALIDATE, prediction_section

    compute = [{"flops": 8e12, "best_trained_n": 2.1e5, "observed_best": 3.80,
                "runs": [{"run_id": "r1", "model": "s5", "n": 2.1e5, "tokens": 6e6,
                          "observed": 3.80, "predicted": 3.70, "low": 3.60, "high": 3.75,
                          "inside": False}],
                "approaches": [{"approach": "3: parametric", "n_opt": 2.0e5, "loss": 3.78,
                                "low": 3.70, "high": 3.86, "inside": True, "n_ratio": 0.95},
                               {"approach": "2: isoFLOP", "n_opt": 3.0e5, "loss": None,
                                "low": None, "high": None, "inside": None,
                                "n_ratio": 1.43}]}]
    fit = {"prediction": prediction_block(1e6, "default"),
           "validation": {"x": "params_non_embedding", "y": "val_loss", "runs": [],
                          "best_form": None, "ruled_out": [], "misses": 0,
                          "compute": compute}}
    section = prediction_section(schema.build(fit))
    text = " ".join(b.text for b in section.blocks)
    assert HOW_TO_VALIDATE not in text and "Best form" not in text
    run_table, approach_table = [b for b in section.blocks if b.kind == "table"][1:]
    assert run_table.rows == [["8e+12", "s5", "210,000", "6M", "3.8000", "3.7000",
                               "[3.6000, 3.7500]", OUTSIDE]]
    assert approach_table.rows[0][-1] == INSIDE and approach_table.rows[1][-1] == "-"
    assert approach_table.rows[1][4] == "1.43"
