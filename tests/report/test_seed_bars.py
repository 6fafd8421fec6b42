"""Seeds in the report: error bars (mean -+ one seed sd) on the scaling plot where a size has
two or more seeds, said in the legend and caption, and the seed noise in the fit section."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit.schema import FitDoc
from scalecli.report.data import seed_bars

HEADER = "run_id,model,params_non_embedding,tokens,lr,seed,val_loss,val_ppl,status"
LOSSES = {"s1": (21720, (4.31, 4.27, 4.29)), "s2": (84912, (4.15, 4.13, 4.14)),
          "s3": (150080, (4.08, 4.06, 4.07)), "s4": (335712, (3.99, 4.00, 3.98))}


def results(folder: Path, n_seeds: int) -> Path:
    lines = [HEADER] + [f"{m}-{s},{m},{n},2000000,0.01,{s},{v},{math.exp(v)!r},ok"
                        for m, (n, vs) in LOSSES.items() for s, v in enumerate(vs[:n_seeds])]
    (folder / "results.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def report(folder: Path, monkeypatch) -> list[dict]:
    """Fit, then report; returns the keyword arguments of every errorbar call."""
    calls: list[dict] = []
    original = Axes.errorbar

    def spy(self, x, y, *args, **kwargs):
        calls.append({"x": list(x), "y": list(y), **kwargs})
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "errorbar", spy)
    runner = CliRunner()
    result = runner.invoke(app, ["fit", str(folder), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    return calls


def test_scaling_plot_has_seed_error_bars(tmp_path: Path, monkeypatch):
    calls = report(results(tmp_path, 3), monkeypatch)
    assert len(calls) == 1
    bar = calls[0]
    assert bar["x"] == [n for n, _ in LOSSES.values()]
    means = [sum(vs) / 3 for _, vs in LOSSES.values()]
    assert bar["y"] == pytest.approx([math.exp(m) for m in means])  # perplexity of the mean
    assert bar["label"] == "mean of 3 seeds ± 1 seed sd"
    low, high = bar["yerr"]
    sd = 0.02  # s1: 4.31, 4.27, 4.29
    assert high[0] == pytest.approx(math.exp(means[0] + sd) - math.exp(means[0]))
    assert low[0] == pytest.approx(math.exp(means[0]) - math.exp(means[0] - sd))
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "plus and minus one seed-to-seed standard deviation" in html
    assert "Seed noise: the seed-to-seed standard deviation of val_loss is" in html
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| s1 | 2M | 0.01 | 3 | 4.2900 | 0.0200 |" in md


def test_one_seed_draws_no_bars(tmp_path: Path, monkeypatch):
    assert report(results(tmp_path, 1), monkeypatch) == []
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "one seed per configuration, so the seed-to-seed sd of val_loss is not" in html
    assert "plus and minus one seed-to-seed" not in html


def test_seed_bars_in_loss_and_perplexity_and_none_for_another_column():
    fit = {"seed_noise": {"column": "val_loss", "points": [
        {"x": 1.0, "mean": 4.0, "sd": 0.1, "n_seeds": 2},
        {"x": 2.0, "mean": 3.9, "sd": None, "n_seeds": 1}]}}
    fit = FitDoc.from_dict(fit)
    (loss,) = seed_bars(fit, "val_loss")
    assert (loss.x, loss.y, loss.low, loss.high, loss.n_seeds) == (1.0, 4.0, 3.9, 4.1, 2)
    (ppl,) = seed_bars(fit, "val_ppl")
    assert (ppl.low, ppl.y, ppl.high) == pytest.approx((math.exp(3.9), math.exp(4.0),
                                                        math.exp(4.1)))
    assert seed_bars(fit, "val_bpb") == [] and seed_bars(None, "val_ppl") == []
