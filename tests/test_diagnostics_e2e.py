"""Diagnostics end to end: a sweep whose budget repeats its data says so at the dry run,
at the start, in fit.json, in `fit --strict`'s exit code, and at the top of the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from scalecli.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def small_corpus(folder: Path) -> Path:
    """About 30K characters of paragraphs: far less than the default's 2M tokens."""
    words = ["river", "stone", "light", "north", "field", "quiet", "number", "garden",
             "letter", "window", "morning", "silver", "road", "winter", "market", "candle"]
    paragraphs = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(45)) + f" {i}."
                  for i in range(100)]
    path = folder / "small.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def test_default_sweep_on_a_small_corpus_says_multi_epoch_at_the_dry_run(tmp_path: Path):
    raw = yaml.safe_load((ROOT / "sweeps" / "default.yaml").read_text(encoding="utf-8"))
    raw["data"]["dataset"] = str(small_corpus(tmp_path))  # only the dataset changes
    sweep = tmp_path / "small.yaml"
    sweep.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = runner.invoke(app, ["sweep", str(sweep), "--dry-run"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    found = re.search(r"(warning|info) multi_epoch: the budget of ([\d,]+) tokens is "
                      r"([\d.]+) epochs of the ([\d,]+) training tokens", text, re.IGNORECASE)
    assert found, text
    tokens = int(found.group(2).replace(",", ""))
    train_tokens = int(found.group(4).replace(",", ""))
    assert abs(tokens - 2_000_000) <= 2048  # 2M rounded to whole batches of 2,048
    assert float(found.group(3)) == round(tokens / train_tokens, 2)
    assert found.group(1) == ("warning" if tokens / train_tokens > 4 else "info")


def test_a_repeated_data_sweep_warns_in_fit_and_at_the_top_of_the_report(tmp_path: Path):
    spec = {
        "name": "small",
        "data": {"dataset": str(small_corpus(tmp_path)), "tokenizer": "bpe:300",
                 "context": 32},
        "models": [{"name": f"d{d}", "n_layer": 1, "n_embd": d, "n_head": 2}
                   for d in (8, 16, 32)],
        "budget": {"tokens": 65_536},
        "train": {"batch_tokens": 1024, "lr": 0.01, "eval_points": 1},
        "eval": {"tokens": 2049},
        "runtime": {"device": "cpu", "dtype": "fp32", "compile": "off"},
    }
    sweep = tmp_path / "small.yaml"
    sweep.write_text(yaml.safe_dump(spec), encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(sweep), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "multi_epoch" in result.output  # said when the sweep starts
    folder = out / "small"
    train_tokens = json.loads((folder / "data.json").read_text())["train_tokens"]
    passes = 65_536 / train_tokens
    assert passes > 4  # the corpus is small enough for the warning

    loose = runner.invoke(app, ["fit", str(folder), "--bootstrap", "50"])
    assert loose.exit_code == 0, loose.output
    assert "multi_epoch" in loose.output
    diagnostics = json.loads((folder / "fit.json").read_text())["diagnostics"]
    multi = [d for d in diagnostics if d["code"] == "multi_epoch"]
    assert len(multi) == 1 and multi[0]["severity"] == "warning"
    assert f"{passes:.2f} epochs" in multi[0]["message"]
    strict = runner.invoke(app, ["fit", str(folder), "--bootstrap", "50", "--strict"])
    assert strict.exit_code == 1, strict.output

    result = runner.invoke(app, ["report", str(folder), "--sample-tokens", "5"])
    assert result.exit_code == 0, result.output
    page = (folder / "report" / "report.html").read_text(encoding="utf-8")
    first_figure = page.index("<img")
    assert page.index('<section id="diagnostics">') < first_figure
    assert page.index("multi_epoch") < first_figure
    assert f"{passes:.2f} epochs" in page[:first_figure]
