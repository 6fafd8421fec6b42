"""The report's compute-optimal tables: fit.json's `approaches` and `conventions` in HTML,
Markdown and the terminal, from a hand-made fit.json and from a real `fit --form isoflop`."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import schema
from scalecli.report.data import load
from scalecli.report.html_page import to_html
from scalecli.report.markdown_page import to_markdown
from scalecli.report.terminal import to_terminal
from tests.fit.test_conventions import drop, rows, write
from tests.report.test_report import write_fit, write_results


def estimate(value: float, lo: float, hi: float) -> dict:
    return {"value": value, "se": (hi - lo) / 4, "ci_low": lo, "ci_high": hi}


def approach(name: str, form: str, a: float, loss: dict | None = None) -> dict:
    return {"approach": name, "form": form, "a_opt": estimate(a, a - 0.05, a + 0.05),
            "b_opt": estimate(1 - a, 0.95 - a, 1.05 - a),
            "tokens_per_param": {"flops": 1e19, **estimate(27.29, 26.23, 37.23)},
            "predictions": [{"flops": 1e21, "n_opt": estimate(2e9, 1.3e9, 2.2e9),
                             "d_opt": estimate(8.4e10, 7.6e10, 1.3e11), "loss": loss}]}


def table(a: float) -> list[dict]:
    return [approach("1: envelope", "envelope", a), approach("2: isoFLOP", "isoflop", a),
            approach("3: parametric", "chinchilla", a - 0.01, estimate(2.33, 2.31, 2.35))]


def fits_of(rows: list[dict]) -> dict:
    """The fits that hold an approaches table's numbers (fit.json stores them there once)."""
    out = {}
    for r in rows:
        derived = {"tokens_per_param": r["tokens_per_param"]}
        if r["form"] == "chinchilla":
            derived.update(intervals={"a_opt": r["a_opt"], "b_opt": r["b_opt"]},
                           compute_optimal=r["predictions"])
            out["chinchilla"] = {"form": "chinchilla", "x": "params", "y": "val_loss",
                                 "d": "tokens", "c": "flops", "converged": True,
                                 "derived": derived}
        else:
            # an approach writes what it was fitted on: its budgets (or envelope points)
            out[r["form"]] = {"form": r["form"], "x": "params", "y": "val_loss", "c": "flops",
                              "converged": True, "budgets": [],
                              "params": {"a_opt": r["a_opt"], "b_opt": r["b_opt"]},
                              "derived": {**derived, "predictions": r["predictions"]}}
    return out


def hand_made(folder: Path) -> None:
    """The hand-made sweep of test_report with a compute fit's tables added to fit.json."""
    fit = write_fit(folder, write_results(folder))
    fit["fits"].update(fits_of(table(0.4531)))
    fit["approaches"] = table(0.4531)
    fit["conventions"] = {"params": table(0.4531), "params_non_embedding": table(0.6048)}
    fit["conventions_skipped"] = {"params_matmul": "results.csv has no column 'params_matmul'"}
    (folder / "fit.json").write_text(schema.to_json(schema.build(fit)))


def test_html_and_markdown_show_the_approaches_and_the_conventions(tmp_path: Path):
    hand_made(tmp_path)
    report = load(tmp_path, "t")
    html, md = to_html(report), to_markdown(report)
    for page in (html, md):
        assert "compute-optimal approaches" in page
        assert "0.4531 [0.4031, 0.5031]" in page and "0.6048 [0.5548, 0.6548]" in page
        assert "27.29 [26.23, 37.23]" in page and "tokens/param at C = 1e+19" in page
        assert "total (params)" in page and "non-embedding (params_non_embedding)" in page
        assert "matmul-only (params_matmul), because results.csv has no column" in page
        assert "assumes C = 6 N D" in page
        assert "2.33 [2.31, 2.35]" in page  # approach 3's loss at --predict-flops 1e21
    assert "<th>N counted as</th>" in html
    assert "| N counted as | approach | a (N_opt ~ C^a), 95% CI |" in md
    # one row per approach and convention, the convention named on its first row only
    assert md.count("| total (params) | 1: envelope |") == 1
    assert md.count("|  | 2: isoFLOP |") == md.count("|  | 3: parametric |") == 2
    console = Console(record=True, width=200)
    to_terminal(report, console)
    assert "non-embedding (params_non_embedding)" in console.export_text()


def test_a_fit_without_the_tables_shows_neither(tmp_path: Path):
    write_fit(tmp_path, write_results(tmp_path))
    html = to_html(load(tmp_path, "t"))
    assert "compute-optimal approaches" not in html and "N counted as" not in html


def test_a_real_isoflop_fit_reaches_the_report(tmp_path: Path):
    path = write(tmp_path, drop(rows(), "params_matmul"))
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "isoflop", "--bootstrap",
                                      "20", "--holdout", "0"])
    assert result.exit_code == 0, result.output
    fit = json.loads((tmp_path / "fit.json").read_text())
    md = to_markdown(load(tmp_path, "t"))
    a = fit["conventions"]["params_non_embedding"][0]["a_opt"]
    assert f"{a['value']:.4g} [{a['ci_low']:.4g}, {a['ci_high']:.4g}]" in md
    assert "| non-embedding (params_non_embedding) | 2: isoFLOP |" in md
    assert "matmul-only (params_matmul), because results.csv has no column" in md
    assert "assumes C = 6 N D" not in md  # no approach 3 in an isoflop fit


def test_the_exponents_table_and_what_the_design_lacks_reach_every_page(tmp_path: Path):
    fit = write_fit(tmp_path, write_results(tmp_path))
    fit["exponents"] = [
        {"scale": "N", "x": "params_non_embedding", "y": "val_ppl", "at": "tokens = 2e+06",
         "exponent": estimate(-0.1204, -0.1408, -0.0944), "n_points": 5, "r2_log": 0.9909},
        {"scale": "D", "x": "tokens", "y": "val_ppl", "at": "fixed N", "exponent": None,
         "reason": "no size was trained on 3 token budgets; give budget.tokens a grid"}]
    (tmp_path / "fit.json").write_text(schema.to_json(schema.build(fit)))
    report = load(tmp_path, "t")
    html, md = to_html(report), to_markdown(report)
    for page in (html, md):
        assert "exponents" in page and "-0.1204 [-0.1408, -0.0944]" in page
        assert "val_ppl vs params_non_embedding" in page and "0.991" in page
        assert "Not measured by this design: D (fixed N): no size was trained" in page
    assert ("| scale | at | what the number is | value (95% CI) | points | R^2 (log) |"
            in md)
    console = Console(record=True, width=200)
    to_terminal(report, console)
    assert "-0.1204 [-0.1408, -0.0944]" in console.export_text()


def test_each_approach_fit_shows_its_predictions_as_numbers(tmp_path: Path):
    # fit.json had two shapes of `derived.predictions` (laws: {x, y}; approaches: {flops,
    # n_opt, d_opt}), and the fit section read the first: "- | -" for isoflop and envelope
    hand_made(tmp_path)
    md = to_markdown(load(tmp_path, "t"))
    for form in ("envelope", "isoflop"):
        section = md.split(f"### {form}\n", 1)[1].split("\n### ", 1)[0]
        row = next(line for line in section.splitlines() if line.startswith("| 1e+21 |"))
        assert "| 2e+09 [1.3e+09, 2.2e+09] | 8.4e+10 [7.6e+10, 1.3e+11] | - |" in row, row
