"""WSD schedules and their cooldown branches: the schedule at its boundaries, the identity
of branches, a 2-branch sweep through the CLI, the exactness of branching, and resuming
after a SIGKILL in the stable phase and inside a branch.

The sweep: budgets of 12 and 24 steps, warmup 2 steps (0.2 of the shortest), cooldowns
of 3 and 6 steps (0.25), so the stable phase trains to step 18 with branch points at 9
and 18; branch one trains steps 10-12 and branch two steps 19-24.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from scalecli.errors import ScaleError
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.schedule import cooldown_start, cosine_lr, wsd_lr
from scalecli.sweep.spec import expand
from tests.sweep.test_resume import sweep_in_process, write_corpus

os.environ["HF_HUB_OFFLINE"] = "1"


def sweep_dict(corpus: str = "embedded:shakespeare", **train: object) -> dict:
    return {
        "name": "tiny",
        "data": {"dataset": corpus, "tokenizer": "bpe:280", "context": 32},
        "models": [{"name": "a", "n_layer": 1, "n_embd": 16, "n_head": 2}],
        "budget": {"tokens": [3072, 6144]},
        "train": {"batch_tokens": 256, "lr": 0.01, "noise_seeds": [], "eval_points": 2,
                  "checkpoint_every_s": 0.001, "schedule": "wsd", "cooldown_frac": 0.25,
                  **train},
        "eval": {"tokens": 2000},
        "runtime": {"device": "cpu", "threads": 1, "compile": "off", "dtype": "fp32"},
    }


# --- the schedule ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["linear", "sqrt"])
def test_wsd_schedule_at_its_boundaries(shape: str) -> None:
    steps, peak, warmup, frac, floor = 100, 2e-3, 10, 0.2, 0.1
    lrs = [wsd_lr(s, steps, peak, warmup, frac, shape, floor) for s in range(steps)]
    assert lrs[0] == pytest.approx(peak / warmup)
    assert lrs[warmup - 1] == pytest.approx(peak)  # warmup ends at the peak
    start = cooldown_start(steps, warmup, frac)
    assert start == 80
    assert all(lr == peak for lr in lrs[warmup:start])  # stable: exactly the peak
    assert lrs[start] < peak  # the cooldown's first step is already below
    assert lrs[-1] == pytest.approx(floor * peak, rel=1e-12)  # the floor on the last step
    cooldown = lrs[start:]
    assert all(a > b for a, b in itertools.pairwise(cooldown))
    half = lrs[start + 9]  # progress 0.5
    expected = peak - (peak - floor * peak) * (0.5 ** 0.5 if shape == "sqrt" else 0.5)
    assert half == pytest.approx(expected)


def test_wsd_lr_before_the_cooldown_does_not_depend_on_the_length() -> None:
    # What makes branching possible: two lengths, one schedule up to the shorter's cooldown.
    short = [wsd_lr(s, 50, 1.0, 5, 0.2, "linear", 0.1) for s in range(40)]
    long = [wsd_lr(s, 200, 1.0, 5, 0.2, "linear", 0.1) for s in range(40)]
    assert short == long


def test_degenerate_wsd_schedules() -> None:
    # No warmup; and a run so short that rounding leaves no cooldown still gets one step.
    assert wsd_lr(0, 10, 1.0, 0, 0.2, "linear", 0.1) == 1.0
    assert cooldown_start(3, 0, 0.1) == 2
    assert wsd_lr(2, 3, 1.0, 0, 0.1, "sqrt", 0.1) == pytest.approx(0.1)
    # Rounding never puts the cooldown before the warmup's end.
    assert cooldown_start(7, 4, 0.5) == 4
    # A one-step run is all cooldown: it ends at the floor, as a cosine one does.
    assert wsd_lr(0, 1, 1.0, 0, 0.2, "linear", 0.1) == pytest.approx(cosine_lr(0, 1, 1.0, 0.2,
                                                                               0.1))


# --- validation and identity -------------------------------------------------------------

@pytest.mark.parametrize(("train", "words"), [
    ({"cooldown_frac": 1.0}, "train.cooldown_frac must be between 0 and 1"),
    ({"cooldown_frac": 0}, "train.cooldown_frac must be between 0 and 1"),
    ({"cooldown_shape": "cosine"}, "train.cooldown_shape: 'cosine' is not one of linear, sqrt"),
    ({"schedule": "wsdd"}, "train.schedule: 'wsdd' is not one of cosine, wsd"),
    ({"warmup_frac": 0.5, "cooldown_frac": 0.6}, "cooldown would start before its warmup"),
])
def test_bad_wsd_settings_are_one_clear_error(train: dict, words: str) -> None:
    with pytest.raises(ScaleError, match=words):
        parse_spec(sweep_dict(**train))


def test_branch_identity() -> None:
    spec = parse_spec(sweep_dict(seeds=[0, 1]))
    runs = expand(spec, vocab_size=280)
    assert [(r.steps, r.seed) for r in runs] == [(12, 0), (12, 1), (24, 0), (24, 1)]
    assert {r.warmup for r in runs} == {2}  # the shortest branch's 0.2, for every branch
    assert [r.branch_step for r in runs] == [9, 9, 18, 18]
    ids = [r.run_id("fp") for r in runs]
    assert len(set(ids)) == 4
    assert ids == [r.run_id("fp") for r in expand(spec, vocab_size=280)]  # deterministic
    parents = [r.family_id("fp") for r in runs]
    assert parents[0] == parents[2] != parents[1] == parents[3]  # one family per seed
    assert not set(parents) & set(ids)
    # Not the cosine runs of the same lengths, and not with another warmup or shape.
    cosine = expand(parse_spec(sweep_dict(schedule="cosine")), vocab_size=280)
    assert not {r.run_id("fp") for r in cosine} & set(ids)
    sqrt = expand(parse_spec(sweep_dict(seeds=[0, 1], cooldown_shape="sqrt")), vocab_size=280)
    assert not {r.run_id("fp") for r in sqrt} & set(ids)
    # A branch's id does not depend on its siblings, only on its family's warmup.
    longer = parse_spec(sweep_dict(seeds=[0, 1]))
    longer = dataclasses.replace(longer, budget=dataclasses.replace(
        longer.budget, tokens=(3072, 6144, 12288)))
    assert set(ids) <= {r.run_id("fp") for r in expand(longer, vocab_size=280)}


def test_cosine_run_ids_do_not_change_with_the_new_settings() -> None:
    # The schedule's settings are not part of a cosine run's identity: old sweeps resume.
    base = expand(parse_spec(sweep_dict(schedule="cosine")), vocab_size=280)
    other = expand(parse_spec(sweep_dict(schedule="cosine", cooldown_frac=0.5,
                                         cooldown_shape="sqrt")), vocab_size=280)
    assert [r.run_id("fp") for r in base] == [r.run_id("fp") for r in other]
    assert "schedule" not in base[0].identity("fp")["train"]


# --- a sweep through the CLI -------------------------------------------------------------

def read_rows(out: Path) -> list[dict[str, str]]:
    path = out / "tiny" / "results.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len({r["run_id"] for r in rows}) == len(rows)
    return rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("wsd")
    corpus = write_corpus(root)
    sweep = root / "tiny.yaml"
    sweep.write_text(yaml.safe_dump(sweep_dict(str(corpus))), encoding="utf-8")
    cache = root / "cache"
    result = sweep_in_process(sweep, root / "reference", cache)
    assert result.exit_code == 0, result.output
    rows = read_rows(root / "reference")
    return {"root": root, "sweep": sweep, "cache": cache, "rows": rows,
            "reference": {r["run_id"]: float(r["val_loss"]) for r in rows}}


def test_two_branches_are_two_rows_of_one_family(setup: dict) -> None:
    rows = setup["rows"]
    assert [int(r["steps"]) for r in rows] == [12, 24]
    assert all(r["status"] == "ok" and r["schedule"] == "wsd" for r in rows)
    assert rows[0]["parent_run_id"] == rows[1]["parent_run_id"] != ""
    assert [int(r["branch_step"]) for r in rows] == [9, 18]
    assert [float(r["flops"]) for r in rows] == [
        float(r["flops_per_token"]) * int(r["tokens"]) for r in rows]
    runs = setup["root"] / "reference" / "tiny" / "runs"
    # The stable phase: a folder with family.json, its checkpoints removed once all is done.
    parent = runs / rows[0]["parent_run_id"]
    assert {p.name for p in parent.iterdir()} == {"family.json"}
    for r in rows:
        with open(runs / r["run_id"] / "curve.csv", encoding="utf-8") as handle:
            curve = list(csv.DictReader(handle))
        phases = [(int(p["step"]), p["phase"]) for p in curve]
        # The shared points first, up to the branch point, then the branch's own cooldown.
        assert all((step <= int(r["branch_step"])) == (phase == "stable")
                   for step, phase in phases)
        assert phases[-1] == (int(r["steps"]), "cooldown")
        assert float(curve[-1]["val_loss"]) == pytest.approx(float(r["val_loss"]), abs=1e-12)
    again = sweep_in_process(setup["sweep"], setup["root"] / "reference", setup["cache"])
    assert again.exit_code == 0 and "2 already recorded, 0 to train" in again.output


def test_a_branch_equals_the_same_schedule_in_one_go(setup: dict, tmp_path: Path) -> None:
    # Branching is exact: branch two trained from step 0 without a stable phase (its own
    # wsd schedule, the family's warmup) gives the same val_loss.
    from scalecli.sweep.data import prepare
    from scalecli.sweep.hardware import resolve_runtime
    from scalecli.sweep.train import train_run

    os.environ["SCALECLI_CACHE"] = str(setup["cache"])
    spec = parse_spec(yaml.safe_load(setup["sweep"].read_text()))
    data = prepare(spec.data, spec.eval.tokens)
    run = expand(spec, data.vocab_size)[1]
    rt = resolve_runtime("cpu", "fp32", 1)
    result = train_run(run, data, tmp_path, rt)
    assert result.val.loss == pytest.approx(setup["reference"][run.run_id(data.fingerprint)],
                                            abs=1e-6)


# --- resume ------------------------------------------------------------------------------

def start(setup: dict, out: Path, point: str) -> dict:
    marker = out.with_suffix(".paused")
    marker.unlink(missing_ok=True)
    env = {**os.environ, "SCALECLI_CACHE": str(setup["cache"]), "SCALECLI_TEST_PAUSE": point,
           "SCALECLI_TEST_MARKER": str(marker), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalecli.cli", "sweep", str(setup["sweep"]), "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return {"proc": proc, "marker": marker, "point": point, "out": out}


def kill_when_paused(case: dict, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not case["marker"].exists():
        if case["proc"].poll() is not None:
            out, err = case["proc"].communicate()
            pytest.fail(f"{case['point']}: exited before pausing\n{out}\n{err}")
        assert time.monotonic() < deadline, f"{case['point']}: never paused"
        time.sleep(0.02)
    case["proc"].send_signal(signal.SIGKILL)
    case["proc"].communicate(timeout=30)


def test_sigkill_in_the_stable_phase_then_in_a_branch_then_rerun(setup: dict) -> None:
    root = setup["root"]
    # One folder killed in the stable phase, then again in branch two; another killed
    # inside branch one (step 11 is reached first by the stable phase, then by the branch).
    twice, once = root / "twice", root / "once"
    cases = [start(setup, twice, "step:5"), start(setup, once, "step:11#2")]
    for case in cases:
        kill_when_paused(case)
    assert read_rows(twice) == []
    assert len(read_rows(once)) == 0  # branch one was cut short before its row
    branch_one = once / "tiny" / "runs" / setup["rows"][0]["run_id"] / "checkpoint"
    assert branch_one.is_dir()  # killed inside the branch, with a checkpoint of its own
    second = start(setup, twice, "step:20")
    kill_when_paused(second)
    rows_before = read_rows(twice)
    assert [int(r["steps"]) for r in rows_before] == [12]  # branch one done, two cut
    for out in (twice, once):
        result = sweep_in_process(setup["sweep"], out, setup["cache"])
        assert result.exit_code == 0, result.output
        rows = read_rows(out)
        assert {r["run_id"]: float(r["val_loss"]) for r in rows} == pytest.approx(
            setup["reference"], abs=1e-6)
        assert [r["parent_run_id"] for r in rows] == [r["parent_run_id"] for r in setup["rows"]]
        assert not list(out.rglob("checkpoint")), "checkpoints left behind"


def test_the_report_says_what_the_branches_saved(setup: dict) -> None:
    import pandas as pd

    from scalecli.report.document import branch_savings

    ok = pd.read_csv(setup["root"] / "reference" / "tiny" / "results.csv")
    # Steps 12 and 24, branch points 9 and 18: the stable phase's 18 steps once plus
    # cooldowns of 3 and 6 is 27 steps against 36 trained apart.
    line = branch_savings(ok)
    assert line is not None and "2 runs branched off 1 stable phase" in line
    assert "25% of the compute saved" in line
    assert branch_savings(ok.assign(parent_run_id=float("nan"))) is None  # cosine rows


def test_on_ray_the_branches_are_tasks_after_their_stable_phase(setup: dict, ray_here: Any
                                                               ) -> None:
    # One stable-phase task, then one task per branch that Ray starts once it is done.
    out = setup["root"] / "ray"
    result = sweep_in_process(setup["sweep"], out, setup["cache"], "--executor", "ray")
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert {r["run_id"]: float(r["val_loss"]) for r in rows} == pytest.approx(
        setup["reference"], abs=1e-6)
    assert rows[0]["parent_run_id"] == rows[1]["parent_run_id"] != ""
    # The branch points were written beside the driver's folder and then cleaned up.
    parent = out / "tiny" / "runs" / rows[0]["parent_run_id"]
    assert {p.name for p in parent.iterdir()} == {"family.json"}


def test_a_worker_that_cannot_see_the_folder_ships_branch_points_through_ray(
        setup: dict, tmp_path: Path) -> None:
    # The stable task returns the branch points' files; each branch task writes its own
    # into a temporary folder, trains there and sends its files back.
    from scalecli.sweep import ray_executor as remote
    from scalecli.sweep.data import prepare

    spec = parse_spec(yaml.safe_load(setup["sweep"].read_text(encoding="utf-8")))
    os.environ["SCALECLI_CACHE"] = str(setup["cache"])
    data = prepare(spec.data, spec.eval.tokens)
    jobs = [remote.Job(run, run.run_id(data.fingerprint), tmp_path / "driver" / "runs" / "x",
                       1.0) for run in expand(spec, data.vocab_size)]
    (tmp_path / "token").write_text("driver's token")
    where = (str(tmp_path / "token"), "another token")
    stable = remote.stable_on_worker(jobs, data, *where)
    result, points = stable
    assert result.status == "ok" and sorted(points) == [9, 18]
    assert set(points[9]) == {"model.safetensors", "optimizer.safetensors", "state.json"}
    for job in jobs:
        branch, files = remote.branch_on_worker(job, data, *where, stable)
        assert branch.val.loss == pytest.approx(setup["reference"][job.run_id], abs=1e-6)
        assert "model.safetensors" in files
    assert not (tmp_path / "driver").exists()
