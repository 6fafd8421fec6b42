"""`scalecli report`: a real tiny sweep, hand-made inputs, and the errors a user can hit."""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import struct
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.fit import schema
from scalecli.report.driver import ReportOptions, run_report
from scalecli.results import COLUMNS

SECTIONS = ("diagnostics", "provenance", "settings", "runs", "fit", "figures", "samples", "notes")

TINY_SWEEP = """\
name: tiny
data: {dataset: "embedded:shakespeare", tokenizer: "bpe:320", context: 32}
models:
  - {name: d16, n_layer: 1, n_embd: 16, n_head: 2}
  - {name: d32, n_layer: 2, n_embd: 32, n_head: 2}
budget: {tokens: 8192}
train: {batch_tokens: 1024, lr: 0.01}
eval: {tokens: 4096}
"""


# Reading the output ---------------------------------------------------------------------
class Page(HTMLParser):
    """Collects what the tests check: section ids, images, sample cards."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict] = []
        self.samples: list[str] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "img":
            self.images.append(a)
        if tag == "div" and a.get("class") == "sample":
            self.samples.append(a.get("data-model"))
        if tag not in ("img", "meta", "br"):
            self.open_tags.append(tag)

    def handle_endtag(self, tag):
        assert self.open_tags and self.open_tags[-1] == tag, f"unbalanced </{tag}>"
        self.open_tags.pop()


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.open_tags == [], f"unclosed tags: {page.open_tags}"
    return page


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_images(page: Page, folder: Path) -> None:
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix), "image is not embedded"
        data = base64.b64decode(img["src"][len(prefix):], validate=True)
        width, height = png_size(data)
        assert (width, height) == (int(img["width"]), int(img["height"]))
        assert width >= 900 and height >= 500  # readable at paper size
    for png in folder.glob("*.png"):
        assert png_size(png.read_bytes())[0] >= 900


# Hand-made inputs -----------------------------------------------------------------------
SIZES = [  # name, n_layer, n_embd
    ("d16", 1, 16), ("d32", 2, 32), ("d48", 2, 48), ("d64", 3, 64),
]


def n_params(n_layer: int, n_embd: int) -> int:
    return 12 * n_layer * n_embd**2 + 13 * n_layer * n_embd


def write_results(folder: Path, budgets=(1e5,), status_last="ok") -> list[dict]:
    rows = []
    for budget in budgets:
        for i, (name, n_layer, n_embd) in enumerate(SIZES):
            n = n_params(n_layer, n_embd)
            loss = 1.7 + 60 * n**-0.35 + 200 * budget**-0.4
            row = {c: "" for c in COLUMNS}
            row.update(
                run_id=f"{name}-{int(budget)}", sweep="hand", model=name, n_layer=n_layer,
                n_embd=n_embd, n_head=2, n_ctx=32, vocab_size=300, params=n + 300 * n_embd,
                params_non_embedding=n, tokens=int(budget), flops_per_token=6 * n,
                flops=6 * n * budget, flops_6nd=6 * n * budget, lr=0.01, batch_tokens=1024,
                steps=int(budget // 1024), seed=0, train_loss=loss + 0.02, val_loss=loss,
                val_ppl=math.exp(loss), val_bpb=loss / math.log(2) / 2.3, status="ok",
                data_fingerprint="abc123", scalecli_version="0.1.0",
            )
            if status_last != "ok" and i == len(SIZES) - 1 and budget == budgets[0]:
                row.update(status=status_last, val_loss="", val_ppl="", error="nan at step 3")
            rows.append(row)
    with open(folder / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def write_fit(folder: Path, rows: list[dict], chinchilla: bool = False) -> dict:
    ok = [r for r in rows if r["status"] == "ok"]
    x = np.array([r["params_non_embedding"] for r in ok], float)
    y = np.array([r["val_ppl"] for r in ok], float)
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    a = math.exp(log_a)
    bx = np.geomspace(x.min(), 10 * x.max(), 40)
    by = a * bx**b
    spread = 0.01 + 0.03 * np.log10(bx / x.min())
    fits = {"power": {
        "form": "power", "x": "params_non_embedding", "y": "val_ppl", "d": None,
        "n_points": len(ok), "converged": True, "message": "ok",
        "params": {"a": {"value": a, "se": 0.1 * a, "ci_low": 0.9 * a, "ci_high": 1.1 * a},
                   "b": {"value": b, "se": 0.01, "ci_low": b - 0.02, "ci_high": b + 0.02}},
        "exponent": b, "r2_log": 0.99, "rmse_log": 0.01,
        "extrapolation": {"held_out": 1, "x": [x.max()], "predicted": [y.min() * 1.03],
                          "observed": [y.min()], "rel_error": [0.03]},
        "extrapolation_note": "fit without the largest model predicts it within 3% <ok>",
        "derived": {"ten_x_factor": 10**b, "ten_x_change_pct": 100 * (10**b - 1),
                    "ten_x_text": f"10x more parameters multiply val_ppl by {10**b:.3f}",
                    "predictions": [{"x": 1e6, "y": a * 1e6**b, "ci_low": None, "ci_high": None}]},
        "band": {"x": bx.tolist(), "y": by.tolist(), "low": (by * (1 - spread)).tolist(),
                 "high": (by * (1 + spread)).tolist()},
        "bootstrap": {"n": 100, "n_ok": 100, "seed": 0}, "method": "least squares in log space",
    }}
    if chinchilla:
        fits["chinchilla"] = {
            "form": "chinchilla", "x": "params_non_embedding", "y": "val_loss", "d": "tokens",
            "n_points": len(ok), "converged": True, "message": "ok",
            "params": {k: {"value": v, "se": None, "ci_low": None, "ci_high": None}
                       for k, v in dict(E=1.7, A=60.0, B=200.0, alpha=0.35, beta=0.4).items()},
            "exponent": None, "r2_log": 0.99, "rmse_log": 0.001, "extrapolation": None,
            "extrapolation_note": "", "band": None, "bootstrap": {"n": 0, "n_ok": 0, "seed": 0},
            "derived": {"a_opt": 0.4 / 0.75, "b_opt": 0.35 / 0.75, "G": 0.5,
                        "optimal": [{"C": 1e15, "N_opt": 1e6, "D_opt": 1.6e8}]},
            "method": "Huber in log space, L-BFGS-B",
        }
    fit = {"scalecli_version": "0.1.0", "source": "results.csv", "filter": ["status=ok"],
           "rows_total": len(rows), "rows_used": len(ok),
           "rows_excluded": {"diverged": len(rows) - len(ok)} if len(rows) > len(ok) else {},
           "fits": fits}
    (folder / "fit.json").write_text(schema.to_json(schema.build(fit)))
    return fit


def write_run_folders(folder: Path, rows: list[dict]) -> None:
    """A tiny real GPT-2 + BPE tokenizer per ok run, and a synthetic curve.csv."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(["To be, or not to be: that is the question."] * 4, trainer)
    for row in rows:
        if row["status"] != "ok":
            continue
        run = folder / "runs" / row["run_id"]
        run.mkdir(parents=True)
        config = GPT2Config(n_layer=row["n_layer"], n_embd=row["n_embd"], n_head=2,
                            vocab_size=tokenizer.get_vocab_size(), n_positions=32)
        GPT2LMHeadModel(config).save_pretrained(run, safe_serialization=True)
        tokenizer.save(str(run / "tokenizer.json"))
        steps = np.arange(0, row["steps"] + 1)
        tokens = steps * 1024
        train = row["val_loss"] + 3.5 * np.exp(-steps / (0.2 * row["steps"]))
        with open(run / "curve.csv", "w") as handle:
            handle.write("step,tokens,flops,lr,train_loss,val_loss,elapsed_s\n")
            for s, t, loss in zip(steps, tokens, train, strict=True):
                val = f"{loss + 0.03:.4f}" if s % 10 == 0 or s == steps[-1] else ""
                handle.write(f"{s},{t},{t * row['flops_per_token']},0.01,{loss:.4f},{val},"
                             f"{s * 0.1}\n")


# Tests ----------------------------------------------------------------------------------
def test_report_on_a_real_tiny_sweep(tmp_path, monkeypatch):
    # Reuse a cache the caller set up (the tokenizer and packed data); else start cold.
    monkeypatch.setenv("SCALECLI_CACHE", os.environ.get("SCALECLI_CACHE") or str(tmp_path / "c"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(TINY_SWEEP)
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(sweep_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "tiny"
    result = runner.invoke(app, ["report", str(out), "--sample-tokens", "20"])
    assert result.exit_code == 0, result.output
    folder = out / "report"
    page = parse(folder / "report.html")
    assert all(s in page.sections for s in SECTIONS)
    check_images(page, folder)
    assert len(page.images) >= 2  # the loss curves, at least
    with open(out / "results.csv") as handle:
        sizes = {r["model"] for r in csv.DictReader(handle) if r["status"] == "ok"}
    assert sorted(page.samples) == sorted(sizes) == ["d16", "d32"]
    assert (folder / "report.md").read_text().count("![") == len(page.images)


def test_report_with_run_folders(tmp_path):
    rows = write_results(tmp_path, budgets=(5e4, 1e5), status_last="diverged")
    write_fit(tmp_path, rows, chinchilla=True)
    write_run_folders(tmp_path, rows)
    (tmp_path / "sweep.yaml").write_text("name: hand\nmodels:\n  - {name: d16, n_layer: 1}\n"
                                         "budget: {tokens: [50000, 100000]}\n")
    (tmp_path / "data.json").write_text(json.dumps({
        "dataset": "embedded:shakespeare", "tokenizer": "bpe:300", "fingerprint": "abc123",
        "train_tokens": 1000, "val_tokens": 100, "vocab_size": 300,
        "prompt": "To be <b>or</b> not"}))
    start = time.perf_counter()
    run_report(ReportOptions(out_dir=tmp_path, prompt=None, terminal=False, sample_tokens=40,
                             command="scalecli report hand"))
    assert time.perf_counter() - start < 30
    folder = tmp_path / "report"
    page = parse(folder / "report.html")
    assert page.sections == list(SECTIONS)
    check_images(page, folder)
    names = {p.stem for p in folder.glob("*.png")}
    assert names == {"scaling", "curves_tokens", "curves_flops", "residuals", "isoflop"}
    assert len(page.images) == 5
    assert page.samples == ["d16", "d32", "d48", "d64"]  # one per size, in size order
    text = (folder / "report.html").read_text()
    assert "To be &lt;b&gt;or&lt;/b&gt; not" in text and "<b>or</b>" not in text
    assert "&lt;ok&gt;" in text  # fit notes are escaped too
    for needle in ("0.1.0", "abc123", "scalecli report hand", "10x more parameters"):
        assert needle in text
    md = (folder / "report.md").read_text()
    assert md.count("![") == 5 and "| d16 |" in md and "abc123" in md


def test_report_from_csv_and_fit_only(tmp_path):
    rows = write_results(tmp_path)
    write_fit(tmp_path, rows)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "report"
    page = parse(folder / "report.html")
    assert page.sections == list(SECTIONS)
    check_images(page, folder)
    assert {p.stem for p in folder.glob("*.png")} == {"scaling", "residuals"}
    assert page.samples == []
    text = (folder / "report.html").read_text()
    assert "No runs/ folder next to results.csv" in text
    assert "one token budget" in text
    md = (folder / "report.md").read_text()
    assert "No runs/ folder next to results.csv" in md and "![" in md


def test_report_without_a_fit(tmp_path):
    write_results(tmp_path)  # no fit.json, and no fit maker passed in
    run_report(ReportOptions(out_dir=tmp_path, prompt=None, terminal=False, sample_tokens=5,
                             command="t"))
    page = parse(tmp_path / "report" / "report.html")
    assert [p.stem for p in (tmp_path / "report").glob("*.png")] == ["scaling"]
    assert len(page.images) == 1


def test_terminal_output(tmp_path):
    rows = write_results(tmp_path)
    write_fit(tmp_path, rows)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--terminal"])
    assert result.exit_code == 0, result.output
    assert "d64" in result.output and "exponent" in result.output
    assert "abc123" in result.output
    # the numbers are fit.json's, to 4 significant digits: b with its interval, a, what
    # 10x buys (10^b) and the prediction at 1M
    power = json.loads((tmp_path / "fit.json").read_text())["fits"]["power"]
    b, a = power["params"]["b"], power["params"]["a"]
    text = " ".join(result.output.split())
    assert f"exponent {b['value']:.4g} (95% CI [{b['ci_low']:.4g}, {b['ci_high']:.4g}]" in text
    assert f"│ b │ {b['value']:.4g} │" in text and f"│ a │ {a['value']:.4g} │" in text
    assert f"multiply val_ppl by {10 ** b['value']:.3f}" in text
    prediction = power["derived"]["predictions"][0]
    assert prediction["y"]["value"] == pytest.approx(a["value"] * 1e6 ** b["value"])
    assert f"│ 1M │ {prediction['y']['value']:.4g} │" in text


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no results.csv"),
        (lambda p: (p / "results.csv").write_text("run_id,model\nx,d16\n"), "lacks the column"),
        (lambda p: (p / "results.csv").write_text(",".join(COLUMNS) + "\n"), "has no runs"),
    ],
)
def test_user_errors(tmp_path, setup, message):
    setup(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_folder(tmp_path):
    with pytest.raises(ScaleError, match="no folder"):
        run_report(ReportOptions(out_dir=tmp_path / "nope", prompt=None, terminal=False,
                                 sample_tokens=5, command="t"))


def test_saturating_exponent_interval_is_the_negated_alpha_interval():
    from scalecli.report.document import fit_summary

    fit = {"form": "saturating", "x": "N", "y": "val_loss", "d": None, "exponent": -0.05,
           "params": {"E": {"value": 2.0}, "A": {"value": 4.0},
                      "alpha": {"value": 0.05, "se": 0.01, "ci_low": 0.03, "ci_high": 0.12}}}
    pairs = dict(next(b for b in fit_summary(schema.build({"fits": {"saturating": fit}})
                                              .fits["saturating"]) if b.kind == "kv").rows)
    assert pairs["exponent"].startswith("-0.05  (95% CI [-0.12, -0.03]")


def test_a_fit_older_than_its_results_or_made_for_the_report_is_said(tmp_path):
    """report never uses a stale fit.json silently, nor writes one without saying so."""
    from scalecli.report.data import load_fit

    rows = write_results(tmp_path)
    write_fit(tmp_path, rows)
    csv_path, fit_path = tmp_path / "results.csv", tmp_path / "fit.json"
    notes: list[str] = []
    fit, line = load_fit(tmp_path, csv_path, notes)
    assert fit is not None and line is None and notes == []
    later = fit_path.stat().st_mtime + 60  # a run finished after the fit
    os.utime(csv_path, (later, later))
    fit, line = load_fit(tmp_path, csv_path, notes)
    assert fit is not None and "older than results.csv" in line and notes == [line]
    result = CliRunner().invoke(app, ["report", str(tmp_path)])  # and on the terminal
    assert result.exit_code == 0 and "older than results.csv" in result.output
    fit_path.unlink()
    notes.clear()
    assert load_fit(tmp_path, csv_path, notes) == (None, None)  # no fit maker: no fit
    assert "run `scalecli fit" in notes[0] and not fit_path.exists()
    result = CliRunner().invoke(app, ["report", str(tmp_path)])  # the CLI fits, and says so
    assert result.exit_code == 0, result.output
    assert "the default fit ran first" in result.output and fit_path.is_file()
    assert json.loads(fit_path.read_text())["schema_version"] == schema.SCHEMA_VERSION


@pytest.mark.parametrize("version", [None, 0, 99])
def test_a_fit_json_of_another_schema_version_is_one_line_with_how_to_refit(tmp_path,
                                                                           version):
    rows = write_results(tmp_path)
    fit = write_fit(tmp_path, rows)  # the layout before schema_version
    if version is not None:
        fit["schema_version"] = version
    (tmp_path / "fit.json").write_text(json.dumps(fit))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"scalecli fit {tmp_path}" in result.output
    assert ("no schema_version" if version is None else f"schema_version {version}") \
        in result.output
    assert not (tmp_path / "report").exists()
