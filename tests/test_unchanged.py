"""The refactor guard: every number that fit.json, the report and results.csv carried before
a change that should not move them, they still carry after it.

tests/golden/ holds two real sweeps' results.csv (the default ladder with a validation size,
and an isoFLOP design) with the fit.json, report.md and terminal report that the code wrote
for them, and two tiny training sweeps' rows. tests/golden/make.sh regenerated them; run it
only from a commit whose numbers are the ones to keep.

fit.json and the report are compared as the sets of numbers they print, so that a change of
layout or schema passes and a changed number does not: every golden number must still be
there, and a new number must be named in NEW_NUMBERS with why. Fit numbers compare at 10
significant digits (numpy and LAPACK may differ in the last bits between CPUs); training
numbers at a relative 1e-5 (fp32 matmuls sum in a CPU-dependent order).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Lines that change from run to run by design: the clock, and how long a step took.
VOLATILE = re.compile(r"generated|^wrote |\(\d+(\.\d+)? s\)")

# Numbers a change added on purpose, per golden file, each with its reason.
NEW_NUMBERS: dict[str, set[str]] = {}


def canonical(token: str) -> str:
    """One spelling per number: 1,234 and 1234.0 agree; 10 significant digits."""
    try:
        return f"{float(token.replace(',', '')):.10g}"
    except ValueError:
        return token


def json_numbers(value: object) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(json_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(json_numbers(v) for v in value)) if value else set()
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, (int, float)):
        return {canonical(repr(value))}
    return text_numbers(str(value))


def text_numbers(text: str) -> set[str]:
    lines = [line for line in text.splitlines() if not VOLATILE.search(line)]
    return {canonical(m) for m in NUMBER.findall("\n".join(lines))}


def scalecli(*args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    done = subprocess.run([sys.executable, "-m", "scalecli", *args], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def assert_same_numbers(name: str, golden: set[str], now: set[str]) -> None:
    missing = sorted(golden - now)
    extra = sorted(now - golden - NEW_NUMBERS.get(name, set()))
    assert not missing, f"{name}: numbers gone or changed: {missing[:20]}"
    assert not extra, f"{name}: new numbers (name them in NEW_NUMBERS): {extra[:20]}"


@pytest.fixture(scope="module")
def refit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two golden sweeps fitted and reported by the code under test."""
    root = tmp_path_factory.mktemp("unchanged")
    for case in ("default", "isoflop"):
        (root / case).mkdir()
        shutil.copy(GOLDEN / case / "results.csv", root / case / "results.csv")
    scalecli("fit", str(root / "default"), "--form", "all")
    (root / "terminal.txt").write_text(
        scalecli("report", str(root / "default"), "--terminal"), encoding="utf-8")
    scalecli("fit", str(root / "isoflop"), "--form", "compute", "--bootstrap", "40")
    scalecli("report", str(root / "isoflop"))
    return root


@pytest.mark.parametrize("case", ["default", "isoflop"])
def test_fit_json_numbers_unchanged(refit: Path, case: str) -> None:
    golden = json.loads((GOLDEN / case / "fit.json").read_text(encoding="utf-8"))
    now = json.loads((refit / case / "fit.json").read_text(encoding="utf-8"))
    for doc in (golden, now):
        doc.pop("source", None)  # the path of the results.csv, which is a temporary folder
    assert_same_numbers(f"{case}/fit.json", json_numbers(golden), json_numbers(now))


@pytest.mark.parametrize("case", ["default", "isoflop"])
def test_report_numbers_unchanged(refit: Path, case: str) -> None:
    golden = (GOLDEN / case / "report.md").read_text(encoding="utf-8")
    now = (refit / case / "report" / "report.md").read_text(encoding="utf-8")
    golden = re.sub(r"/tmp/\S+?/" + case, "OUT", golden)
    now = now.replace(str(refit / case), "OUT")
    assert_same_numbers(f"{case}/report.md", text_numbers(golden), text_numbers(now))


def test_terminal_report_numbers_unchanged(refit: Path) -> None:
    golden = re.sub(r"/tmp/\S+?/default", "OUT",
                    (GOLDEN / "default" / "terminal.txt").read_text(encoding="utf-8"))
    now = (refit / "terminal.txt").read_text(encoding="utf-8").replace(
        str(refit / "default"), "OUT")
    assert_same_numbers("default/terminal.txt", text_numbers(golden), text_numbers(now))


EXACT = ("run_id", "model", "role", "status", "params", "params_non_embedding", "tokens",
         "steps", "seed", "lr", "schedule", "parent_run_id", "flops", "batch_tokens")
CLOSE = ("train_loss", "val_loss", "val_ppl", "val_bpb")


@pytest.mark.parametrize("case", ["tiny_cosine", "tiny_wsd"])
def test_training_rows_unchanged(tmp_path: Path, case: str) -> None:
    # The lr search, noise seeds, a validation size, and WSD's stable phase and branches.
    scalecli("sweep", str(GOLDEN / f"{case}.yaml"), "--out", str(tmp_path))
    rows = {}
    for path in (GOLDEN / "train" / f"{case}.csv", tmp_path / case / "results.csv"):
        with open(path, encoding="utf-8", newline="") as handle:
            rows[path] = {r["run_id"]: r for r in csv.DictReader(handle)}
    golden, now = rows.values()
    assert sorted(now) == sorted(golden)
    for run_id, want in golden.items():
        got = now[run_id]
        for column in EXACT:
            assert got.get(column) == want.get(column), (run_id, column)
        for column in CLOSE:
            assert float(got[column]) == pytest.approx(float(want[column]), rel=1e-5), (
                run_id, column)
