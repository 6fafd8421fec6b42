"""Crash safety: a sweep killed at any moment, or stopped with Ctrl-C, resumes to the same result.

Real `scalecli sweep` subprocesses are stopped at exact moments with the test-only pause
points of `scalecli/faults.py`: the process writes a marker file and waits there, the test
sends the signal. Every rerun must end with the uninterrupted reference sweep's results:
each run_id once, every row ok, every val_loss equal within 1e-6 (on CPU, one thread).
Reruns go in-process through CliRunner: the subprocess start (importing torch) is the
slow part, and what matters is what the killed process left on disk.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.results import COLUMNS

os.environ["HF_HUB_OFFLINE"] = "1"
runner = CliRunner()
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while",
         "my", "cat", "sat", "on", "our", "old", "mat")

SWEEP = """\
name: tiny
data: {{dataset: {corpus}, tokenizer: "bpe:280", context: 32}}
models:
  - {{name: a, n_layer: 1, n_embd: 16, n_head: 2}}
  - {{name: b, n_layer: 1, n_embd: 32, n_head: 2}}
budget: {{tokens: 6144}}
train: {{batch_tokens: 256, lr: 0.01, noise_seeds: [], checkpoint_every_s: 0.001, eval_points: 2}}
eval: {{tokens: 2000}}
runtime: {{device: cpu, threads: 1, compile: "off", dtype: fp32}}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("resume")
    corpus = write_corpus(root)
    sweep = root / "tiny.yaml"
    sweep.write_text(SWEEP.format(corpus=corpus), encoding="utf-8")
    cache = root / "cache"
    result = sweep_in_process(sweep, root / "reference", cache)
    assert result.exit_code == 0, result.output
    reference = {r["run_id"]: float(r["val_loss"]) for r in read_csv(root / "reference")}
    assert len(reference) == 2
    return {"root": root, "sweep": sweep, "cache": cache, "reference": reference}


def write_corpus(root: Path) -> Path:
    """A small deterministic text corpus (120 paragraphs of random words) in `root`."""
    rng = __import__("random").Random(0)
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(120)]
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return corpus


def sweep_in_process(sweep: Path, out: Path, cache: Path, *extra: str):
    env = {"SCALECLI_CACHE": str(cache), "SCALECLI_TEST_PAUSE": None, "HF_HUB_OFFLINE": "1"}
    return runner.invoke(app, ["sweep", str(sweep), "--out", str(out), *extra], env=env)


def read_csv(out: Path) -> list[dict[str, str]]:
    """results.csv, checked to be whole: the header, full rows, no run twice."""
    path = out / "tiny" / "results.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    assert tuple(table[0]) == COLUMNS
    assert all(len(row) == len(COLUMNS) for row in table[1:]), "a partial row"
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in table[1:]]
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"a duplicate row: {ids}"
    assert all(r["status"] == "ok" for r in rows), rows
    return rows


def start(setup: dict, name: str, point: str, cache: Path | None = None) -> dict:
    """A `scalecli sweep` subprocess that pauses at `point` (see scalecli/faults.py)."""
    out, marker = setup["root"] / name, setup["root"] / f"{name}.paused"
    env = {**os.environ, "SCALECLI_CACHE": str(cache or setup["cache"]),
           "SCALECLI_TEST_PAUSE": point, "SCALECLI_TEST_MARKER": str(marker),
           "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalecli.cli", "sweep", str(setup["sweep"]), "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return {"name": name, "proc": proc, "out": out, "marker": marker,
            "cache": cache or setup["cache"], "point": point}


def wait_paused(case: dict, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not case["marker"].exists():
        if case["proc"].poll() is not None:
            out, err = case["proc"].communicate()
            pytest.fail(f"{case['point']}: exited {case['proc'].returncode} before pausing\n"
                        f"{out}\n{err}")
        assert time.monotonic() < deadline, f"{case['point']}: never paused"
        time.sleep(0.02)


def check_resumes(setup: dict, case: dict, *extra: str):
    """Rerun after the interruption: the missing runs, and only those, give the reference."""
    rows_before = read_csv(case["out"])  # whole, whatever the moment of the kill
    result = sweep_in_process(setup["sweep"], case["out"], case["cache"], *extra)
    assert result.exit_code == 0, f"{case['point']}: {result.output}"
    assert "Traceback" not in result.output
    rows = read_csv(case["out"])
    assert {r["run_id"] for r in rows} == set(setup["reference"]), case["point"]
    for r in rows:
        assert float(r["val_loss"]) == pytest.approx(setup["reference"][r["run_id"]], abs=1e-6)
    for r in rows_before:  # rows written before the kill are kept as they were
        assert r in rows
    assert f"{len(rows_before)} already recorded" in result.stdout
    assert not list(case["out"].rglob("*.tmp*")), "a temporary file left behind"
    return result


def test_sigkill_at_five_moments_then_rerun_matches_reference(setup: dict) -> None:
    # All five start together: most of each one's time is importing torch.
    cases = [
        start(setup, "tokenize", "tokenize", cache=setup["root"] / "fresh-cache"),
        start(setup, "mid-run", "step:10"),
        start(setup, "checkpoint", "checkpoint#5"),  # between the two renames of a swap
        start(setup, "csv", "write:results.csv"),  # the first run's row, before the rename
        start(setup, "between", "before-run#2"),
    ]
    try:
        for case in cases:
            wait_paused(case)
            if case["name"] == "mid-run":
                # A second sweep on the folder is refused, naming the holder's PID.
                second = sweep_in_process(setup["sweep"], case["out"], case["cache"])
                assert second.exit_code == 2
                assert f"PID {case['proc'].pid}" in second.stderr
                assert "Traceback" not in second.output
            case["proc"].send_signal(signal.SIGKILL)
            case["proc"].communicate(timeout=30)
            assert case["proc"].returncode == -signal.SIGKILL
            if case["name"] == "checkpoint":  # killed mid-swap: only .checkpoint.old is whole
                run_dir = next((case["out"] / "tiny" / "runs").iterdir())
                assert (run_dir / ".checkpoint.old" / "state.json").is_file()
                assert not (run_dir / "checkpoint").exists()
    finally:
        for case in cases:
            if case["proc"].poll() is None:
                case["proc"].kill()
                case["proc"].communicate()

    # The mid-run kill (paused before step 10's checkpoint) left one at step 9. The rerun
    # must continue from it, not start again (which would give the same val_loss): its
    # curve keeps the killed process's timings.
    run_a = next((cases[1]["out"] / "tiny" / "runs").iterdir())
    state = json.loads((run_a / "checkpoint" / "state.json").read_text())
    assert state["loop"]["step"] == 9
    killed_curve = [(p["step"], p["elapsed_s"]) for p in state["loop"]["curve"]]

    for case in cases:
        keep = ("--keep-checkpoints",) if case["name"] == "between" else ()
        result = check_resumes(setup, case, *keep)
        assert "taking over a stale lock" in result.stdout
        run_dirs = sorted((case["out"] / "tiny" / "runs").iterdir())
        assert len(run_dirs) == 2
        for run_dir in run_dirs:
            assert (run_dir / "model.safetensors").is_file()  # the final weights stay
            names = {p.name for p in run_dir.iterdir()}
            kept = case["name"] == "between" and run_dir.name.startswith("b-")
            assert ("checkpoint" in names) == kept, (case["point"], names)
            assert not names & {".checkpoint.old", ".checkpoint.tmp"}, names
    with open(run_a / "curve.csv", encoding="utf-8") as handle:
        curve = [(int(r["step"]), float(r["elapsed_s"])) for r in csv.DictReader(handle)]
    assert curve[: len(killed_curve)] == killed_curve


def test_ctrl_c_checkpoints_exits_130_and_resumes(setup: dict) -> None:
    once = start(setup, "sigint", "step:10")
    twice = start(setup, "sigint2", "step:10")
    try:
        wait_paused(once)
        once["proc"].send_signal(signal.SIGINT)
        time.sleep(0.2)
        once["marker"].unlink()  # let it finish the step
        _, err = once["proc"].communicate(timeout=60)
        assert once["proc"].returncode == 130, err
        assert "stopped at step 10" in err and "again to resume" in err
        assert "Traceback" not in err
        run_dir = next((once["out"] / "tiny" / "runs").iterdir())
        assert (run_dir / "checkpoint" / "state.json").is_file()

        wait_paused(twice)  # the second Ctrl-C exits at once, mid-step
        twice["proc"].send_signal(signal.SIGINT)
        time.sleep(0.3)
        twice["proc"].send_signal(signal.SIGINT)
        _, err = twice["proc"].communicate(timeout=30)
        assert twice["proc"].returncode == 130, err
        assert "Traceback" not in err
    finally:
        for case in (once, twice):
            if case["proc"].poll() is None:
                case["proc"].kill()
                case["proc"].communicate()
    check_resumes(setup, once)
    check_resumes(setup, twice)


def files_under(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in folder.rglob("*") if p.is_file()}


def test_full_disk_is_one_clear_line_and_damages_nothing(setup: dict, monkeypatch) -> None:
    out = setup["root"] / "full"
    shutil.copytree(setup["root"] / "reference", out)
    before = files_under(out / "tiny")
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "results.csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    # Two new runs (seed 1); the first one's row cannot be written.
    result = sweep_in_process(setup["sweep"], out, setup["cache"], "--seeds", "0,1")
    monkeypatch.setattr(os, "replace", real_replace)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.stderr.split())
    assert "results.csv" in message and "No space left on device" in message
    after = files_under(out / "tiny")
    for name, value in before.items():
        if name == "data.json":  # rewritten by every sweep, with the same content
            assert after[name][1] == value[1]
        elif name != "sweep.yaml":  # rewritten on purpose: the latest command's sweep
            assert after[name] == value, name
    assert not [n for n in after if ".tmp" in n], after.keys()

    result = sweep_in_process(setup["sweep"], out, setup["cache"], "--seeds", "0,1")
    assert result.exit_code == 0, result.output
    rows = {r["run_id"]: float(r["val_loss"]) for r in read_csv(out)}
    assert len(rows) == 4
    for run_id, loss in setup["reference"].items():
        assert rows[run_id] == pytest.approx(loss, abs=1e-6)


def test_unwritable_out_folder_is_one_clear_line(setup: dict) -> None:
    # A folder under a regular file cannot be created, even by root (who writes into
    # read-only folders, so a chmod would prove nothing on CI).
    blocker = setup["root"] / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    out = blocker / "out"
    result = sweep_in_process(setup["sweep"], out, setup["cache"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.stderr.split())
    assert str(out / "tiny") in message and "--out" in message
    assert len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"
