"""`fit --x tokens` (the data exponent of each size) and `fit --x flops` (L along the
compute frontier) on a synthetic sizes x tokens grid with a known law.

The grid: 5 sizes a factor 3.2 apart, 7 token budgets over 100x, L = E + A/N^alpha +
B/D^beta with Hoffmann et al.'s fit, C = 6 N D, 0.2% noise. At one size L(D) is the
saturating form with exponent beta; along the frontier L*(C) = E + k C^-gamma with
gamma = alpha beta / (alpha + beta) (the compute-optimal allocation put back in the law).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import chinchilla
from scalecli.fit.analysis import analyse
from scalecli.fit.axes import frontier

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta
BETA = 0.28
GAMMA = 0.34 * 0.28 / 0.62
SIZES = np.geomspace(1e7, 1e9, 5)
TOKENS = np.geomspace(1e9, 1e11, 7)


def grid(folder: Path, noise: float = 0.002) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate(SIZES):
        for t in TOKENS:
            loss = float(chinchilla.chinchilla_predict(THETA, n, t)
                         * np.exp(rng.normal(0.0, noise)))
            rows.append({"model": f"s{i + 1}", "params": repr(float(n)),
                         "params_non_embedding": repr(float(0.8 * n)),
                         "tokens": repr(float(t)), "flops": repr(float(6 * n * t)),
                         "val_loss": repr(loss), "val_ppl": repr(float(np.exp(loss))),
                         "status": "ok"})
    path = folder / "results.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def fit(path: Path, *args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["fit", str(path), "--bootstrap", "50", "--holdout", "0",
                                      *args])
    assert result.exit_code == 0, result.output
    return json.loads((path.parent / "fit.json").read_text()), result.output


def test_frontier_keeps_each_run_below_every_cheaper_one():
    c = np.array([4.0, 1.0, 2.0, 3.0, 2.0, 5.0])
    y = np.array([2.5, 5.0, 6.0, 4.0, 4.5, 2.5])
    # C=1 (5.0) starts it; C=2 keeps its lower run (4.5); C=3 (4.0); C=4 (2.5); C=5 ties
    assert frontier(c, y).tolist() == [0, 1, 3, 4]


def test_x_flops_fits_the_compute_frontier(tmp_path: Path):
    path = grid(tmp_path)
    doc, _ = fit(path, "--form", "saturating", "--x", "flops")
    sat = doc["fits"]["saturating"]
    assert sat["x"] == "flops" and 5 < sat["n_points"] < SIZES.size * TOKENS.size
    assert "compute frontier" in sat["method"]
    assert abs(sat["exponent"] + GAMMA) < 0.02
    # The test has teeth: every run, the frontier's and the rest, gives half the exponent.
    with open(path) as f:
        table = list(csv.DictReader(f))
    c = np.array([float(r["flops"]) for r in table])
    loss = np.array([float(r["val_loss"]) for r in table])
    assert abs(analyse("saturating", c, loss, n_boot=0, holdout=0)["exponent"] + GAMMA) > 0.05


def test_a_frontier_too_short_for_the_form_is_one_clear_line(tmp_path: Path):
    lines = ["model,params_non_embedding,tokens,flops,val_loss,status"]
    lines += [f"s{i},{n},1e6,{6e6 * n},{loss},ok" for i, (n, loss) in
              enumerate([(1e5, 4.0), (2e5, 3.9), (4e5, 4.1), (8e5, 4.2), (1.6e6, 4.3)])]
    (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["fit", str(tmp_path), "--x", "flops", "--y", "val_loss",
                                      "--bootstrap", "10"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "compute frontier of 'flops' has 2 of 5 points" in " ".join(result.output.split())


def test_x_tokens_fits_each_size_on_its_own(tmp_path: Path):
    path = grid(tmp_path)
    doc, out = fit(path, "--form", "saturating", "--x", "tokens")
    sat = doc["fits"]["saturating"]
    assert [e["size"] for e in sat["by_size"]] == ["s1", "s2", "s3", "s4", "s5"]
    assert [e["n"] for e in sat["by_size"]] == pytest.approx(0.8 * SIZES)
    for entry in sat["by_size"]:
        assert entry["converged"] and entry["n_points"] == TOKENS.size
        assert abs(entry["exponent"] + BETA) < 0.03, entry["size"]
    assert "pools 5 sizes" in sat["caveat"]
    assert "per size, the exponent along tokens" in out
    # One size through --where is that size's entry, to the last digits, and alone.
    one, _ = fit(path, "--form", "saturating", "--x", "tokens", "--where", "model=s3")
    alone = one["fits"]["saturating"]
    assert "by_size" not in alone
    assert alone["exponent"] == pytest.approx(sat["by_size"][2]["exponent"], rel=1e-9)


def test_x_tokens_by_size_reaches_the_report(tmp_path: Path):
    from scalecli.report.blocks import fmt
    from scalecli.report.data import load
    from scalecli.report.markdown_page import to_markdown

    doc, _ = fit(grid(tmp_path), "--x", "tokens")  # power: ppl = a D^b at each size
    power = doc["fits"]["power"]
    assert len(power["by_size"]) == 5
    md = to_markdown(load(tmp_path, "t"))
    first = power["by_size"][0]
    assert f"| s1 | {fmt(first['n'], 'n')} | 7 | {fmt(first['exponent'])} |" in md
