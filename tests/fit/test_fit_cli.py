"""`scalecli fit` end to end: fit.json, the summary, and one clear line per user error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import chinchilla, laws
from scalecli.fit.driver import compute_fit
from scalecli.fit.forms import registry

runner = CliRunner()

HEADER = "run_id,model,params_non_embedding,tokens,val_loss,val_ppl,status\n"
ROWS = [
    "a,d32,25000,1000000,4.65,104.6,ok",
    "b,d64,100000,1000000,4.30,73.7,ok",
    "c,d96,300000,1000000,4.05,57.4,ok",
    "d,d128,790000,1000000,3.80,44.7,ok",
    "e,d160,1500000,1000000,3.62,37.3,ok",
    "f,d192,2000000,1000000,,,failed",
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return write(tmp_path / "results.csv", HEADER + "\n".join(ROWS) + "\n")


def run(*args: str):
    return runner.invoke(app, ["fit", *args])


def test_fit_writes_fit_json_and_prints_b_with_ci(results: Path):
    result = run(str(results.parent), "--bootstrap", "200", "--predict", "1e7")
    assert result.exit_code == 0, result.output
    doc = json.loads((results.parent / "fit.json").read_text())
    assert set(doc) == {
        "schema_version",
        "scalecli_version",
        "source",
        "filter",
        "rows_total",
        "rows_used",
        "rows_excluded",
        "fits",
        "prediction",
        "diagnostics",
    }
    assert doc["rows_total"] == 6 and doc["rows_used"] == 5
    assert doc["rows_excluded"] == {"failed": 1}
    power = doc["fits"]["power"]
    x = np.array([25e3, 1e5, 3e5, 7.9e5, 1.5e6])
    slope = np.polyfit(np.log(x), np.log([104.6, 73.7, 57.4, 44.7, 37.3]), 1)[0]
    assert power["exponent"] == pytest.approx(slope, rel=1e-9)
    b = power["params"]["b"]
    assert b["ci_low"] < b["value"] < b["ci_high"]
    assert power["derived"]["ten_x_factor"] == pytest.approx(10**slope)
    assert "lower perplexity" in power["derived"]["ten_x_text"]
    assert power["extrapolation"]["x"] == [1.5e6]
    assert power["bootstrap"] == {"n": 200, "n_ok": 200, "seed": 0}  # a line never fails
    assert "b" in result.output and "lower perplexity" in result.output


def test_json_flag_prints_the_file(results: Path):
    result = run(str(results), "--json", "--bootstrap", "20")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads((results.parent / "fit.json").read_text())


def test_any_csv_without_status_column(tmp_path: Path):
    rng = np.random.default_rng(0)
    article = np.logspace(2, 4, 12)
    sentence = 3.0 * article**0.2 * np.exp(rng.normal(0, 0.01, article.size))
    lines = ["article_len,sentence_len"] + [
        f"{a},{s}" for a, s in zip(article, sentence, strict=True)
    ]
    path = write(tmp_path / "lengths.csv", "\n".join(lines) + "\n")
    result = run(str(path), "--x", "article_len", "--y", "sentence_len", "--bootstrap", "50")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "fit.json").read_text())
    assert doc["filter"] == []
    assert abs(doc["fits"]["power"]["exponent"] - 0.2) < 0.02
    assert "sentence_len" in doc["fits"]["power"]["derived"]["ten_x_text"]


def test_all_forms_and_chinchilla_predictions(tmp_path: Path):
    theta = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
    rng = np.random.default_rng(1)
    n = np.repeat(np.logspace(6, 8, 4), 3)
    d = np.tile(np.logspace(8, 10, 3), 4)
    loss = chinchilla.chinchilla_predict(theta, n, d) * np.exp(rng.normal(0, 0.01, n.size))
    lines = ["params,params_non_embedding,tokens,val_loss,val_ppl,status"] + [
        f"{a},{0.8 * a},{b},{c},{np.exp(c)},ok" for a, b, c in zip(n, d, loss, strict=True)
    ]
    path = write(tmp_path / "results.csv", "\n".join(lines) + "\n")
    doc = compute_fit(path, form="all", bootstrap=10, predict=[1e20])
    assert set(doc["fits"]) == {"power", "saturating", "chinchilla"}
    chin = doc["fits"]["chinchilla"]
    # each form its own default N: every parameter for chinchilla, as C counts them
    assert chin["x"] == "params" and doc["fits"]["power"]["x"] == "params_non_embedding"
    assert doc["fits"]["saturating"]["x"] == "params_non_embedding"
    assert chin["d"] == "tokens" and chin["exponent"] is None and chin["band"] is None
    opt = chin["derived"]["optimal"][0]
    assert opt["C"] == 1e20
    assert 6 * opt["N_opt"] * opt["D_opt"] == pytest.approx(1e20)  # no flops column: 6ND
    # and the optimum is the law's: N_opt = G (C/6)^a of the fitted theta, which is the
    # true one within 3 sd of the noise (1% on these 12 points: sd of a_opt 0.030 over
    # seeds 1-5, mean error -0.013)
    truth = chinchilla.compute_optimal(theta, np.array([1e20]))
    fitted = np.array([chin["params"][k]["value"] for k in ("E", "A", "B", "alpha", "beta")])
    assert opt["N_opt"] == pytest.approx(chinchilla.compute_optimal(fitted, np.array([1e20]))
                                         ["N_opt"][0], rel=1e-9)
    assert chin["derived"]["a_opt"] == pytest.approx(truth["a_opt"], abs=3 * 0.030)
    assert doc["fits"]["saturating"]["y"] == "val_loss"
    assert doc["fits"]["power"]["y"] == "val_ppl"
    json.dumps(doc, allow_nan=False)


def test_not_converged_reports_no_numbers(results: Path, monkeypatch):
    def stuck(x, y, d=None):
        return laws.FitResult(
            "saturating", np.array([1.0, 1.0, 1.0]), False, "no start converged"
        )

    monkeypatch.setattr(registry.get("saturating"), "fit", stuck)
    result = run(str(results), "--form", "saturating", "--bootstrap", "20")
    assert result.exit_code == 0
    fit = json.loads((results.parent / "fit.json").read_text())["fits"]["saturating"]
    assert fit["converged"] is False and fit["message"] == "no start converged"
    assert all(p["value"] is None for p in fit["params"].values())
    assert fit["r2_log"] is None and fit["band"] is None
    assert "did not converge" in result.output


def _error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


@pytest.mark.parametrize(
    ("rows", "args", "words"),
    [
        (ROWS, ["--y", "nope"], ["'nope'"]),
        (ROWS, ["--x", "model"], ["'model'", "not numeric"]),
        (ROWS[:2], [], ["needs at least 3"]),
        (ROWS, ["--form", "saturating", "--where", "model=d32"], ["needs at least 4"]),
        ([*ROWS[:4], "e,d160,1500000,1000000,3.62,-1,ok"], [], ["'val_ppl'", "> 0"]),
        ([*ROWS[:4], "e,d160,1500000,1000000,3.62,nan,ok"], [], ["'val_ppl'", "NaN"]),
        (ROWS, ["--x", "tokens"], ["'tokens'", "equal"]),
        (ROWS, ["--where", "model=d999"], ["no row", "model=d999"]),
        (ROWS, ["--where", "nocol=1"], ["'nocol'"]),
        (ROWS, ["--where", "status"], ["COLUMN=VALUE"]),
        (ROWS, ["--form", "chinchilla"], ["no column 'params'", "--x"]),  # its default N
        (ROWS, ["--form", "chinchilla", "--x", "params_non_embedding"], ["needs at least 6"]),
        (
            [*ROWS, "g,d200,2500000,1000000,3.5,33.1,ok"],
            ["--form", "chinchilla", "--x", "params_non_embedding"],
            ["'tokens'", "equal"],
        ),
        (ROWS, ["--form", "cubic"], ["cubic"]),
        (ROWS, ["--predict", "abc"], ["--predict"]),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path: Path, rows, args, words):
    path = write(tmp_path / "results.csv", HEADER + "\n".join(rows) + "\n")
    _error(run(str(path), "--bootstrap", "10", *args), *words)


def test_explicit_where_status_without_status_column(tmp_path: Path):
    path = write(tmp_path / "a.csv", "x,y\n1,2\n2,3\n4,5\n")
    _error(run(str(path), "--x", "x", "--y", "y", "--where", "status=ok"), "'status'")


def test_file_errors(tmp_path: Path):
    _error(run(str(tmp_path / "missing.csv")), "does not exist")
    _error(run(str(tmp_path)), "no results.csv")
    _error(run(str(write(tmp_path / "empty.csv", ""))), "empty")
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    _error(run(str(binary)), "not a CSV")
    _error(run(str(write(tmp_path / "ragged.csv", "a,b\n1,2,3\n"))), "not a well-formed CSV")
    _error(run(str(write(tmp_path / "header.csv", "a,b\n"))), "no data rows")


def test_an_lr_grid_is_fitted_through_the_best_lr_of_each_size(tmp_path: Path):
    # Each size ran at two learning rates; the worse one is 0.1-0.4 nats higher, more so
    # for the larger sizes, which would flatten the law if fitted too.
    best = {25000: 4.65, 100000: 4.30, 300000: 4.05, 790000: 3.80, 1500000: 3.62}
    lines = ["run_id,model,params_non_embedding,tokens,lr,seed,val_loss,val_ppl,status"]
    for i, (n, loss) in enumerate(best.items()):
        worse = loss + 0.1 * (i + 1)
        for lr, value in ((1e-3, worse), (3e-3, loss)) if i % 2 else ((3e-3, loss), (1e-3, worse)):
            lines.append(f"r{i}-{lr},m{i},{n},1000000,{lr},0,{value},{np.exp(value):.4f},ok")
    path = write(tmp_path / "results.csv", "\n".join(lines) + "\n")

    doc = compute_fit(path, bootstrap=50, holdout=0)
    assert doc["rows_used"] == 5 and doc["rows_excluded"] == {"not the best lr of its size": 5}
    x = np.array(list(best))
    expected = laws.fit_power(x, np.exp(np.array(list(best.values())))).theta[1]
    assert doc["fits"]["power"]["params"]["b"]["value"] == pytest.approx(expected, rel=1e-6)

    everything = compute_fit(path, bootstrap=50, holdout=0, all_lrs=True)
    assert everything["rows_used"] == 10 and everything["rows_excluded"] == {}
    assert everything["fits"]["power"]["params"]["b"]["value"] > expected + 0.01  # flatter

    result = run(str(path), "--bootstrap", "20", "--holdout", "0", "--all-lrs")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "fit.json").read_text())["rows_used"] == 10


def test_one_lr_per_size_leaves_every_row(results: Path):
    doc = compute_fit(results, bootstrap=20, holdout=0)
    assert doc["rows_used"] == 5 and "not the best lr of its size" not in doc["rows_excluded"]


def test_holdout_1_holds_out_all_seeds_of_the_largest_size(tmp_path: Path):
    rng = np.random.default_rng(1)
    lines = []
    for i, n in enumerate([25e3, 1e5, 3e5, 7.9e5, 1.5e6]):
        for seed in range(3):
            loss = 1.9 + 30 * n**-0.3 + rng.normal(0, 0.01)
            lines.append(f"r{i}{seed},m{i},{n:g},1000000,{loss},{np.exp(loss)},ok")
    path = write(tmp_path / "results.csv", HEADER + "\n".join(lines) + "\n")
    result = run(str(path), "--bootstrap", "50", "--holdout", "1")
    assert result.exit_code == 0, result.output
    check = json.loads((tmp_path / "fit.json").read_text())["fits"]["power"]["extrapolation"]
    assert check["held_out"] == 1
    assert check["x"] == [1.5e6] * 3


# The default sweep's results.csv as README reports it (bf16 on a 2-core EPYC).
DEFAULT_HEADER = "run_id,model,params,params_non_embedding,tokens,seed,lr,val_loss,val_ppl,status\n"
DEFAULT_ROWS = [("s1", 49368, 21720, 4.2942), ("s2", 134064, 84912, 4.1406),
                ("s3", 215616, 150080, 4.0739), ("s4", 434016, 335712, 3.9927),
                ("s5", 924416, 793344, 3.9067)]


def default_csv(path: Path, raise_s3: bool) -> Path:
    lines = []
    for model, params, n, loss in DEFAULT_ROWS:
        if raise_s3 and model == "s3":
            loss = 4.1406 + 0.05  # above s2
        lines.append(f"{model}-id,{model},{params},{n},2000896,0,0.005,{loss},{np.exp(loss)},ok")
    return write(path, DEFAULT_HEADER + "\n".join(lines) + "\n")


def test_default_results_with_s3_raised_above_s2_are_non_monotone(tmp_path: Path):
    clean = default_csv(tmp_path / "clean.csv", raise_s3=False)
    result = run(str(clean), "--bootstrap", "50")
    assert result.exit_code == 0, result.output
    codes = {d["code"] for d in json.loads((tmp_path / "fit.json").read_text())["diagnostics"]}
    assert "non_monotone" not in codes
    raised = default_csv(tmp_path / "raised.csv", raise_s3=True)
    result = run(str(raised), "--bootstrap", "50")
    assert result.exit_code == 0, result.output  # warnings alone do not fail the command
    found = [d for d in json.loads((tmp_path / "fit.json").read_text())["diagnostics"]
             if d["code"] == "non_monotone"]
    assert len(found) == 1 and found[0]["severity"] == "warning"
    assert "s2" in found[0]["message"] and "s3" in found[0]["message"]
    assert run(str(raised), "--bootstrap", "50", "--strict").exit_code == 1
