"""The sweep in progress as one object: a batch of runs goes to the executor that
runtime.executor names, each run to the function of its kind; what is recorded is skipped.
No training here: the executors are stand-ins."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from rich.console import Console

from scalecli.results import read_rows, upsert_row
from scalecli.sweep import sweep_run
from scalecli.sweep.driver import EXECUTORS
from scalecli.sweep.interrupt import StopFlag
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.plan import say_branches
from scalecli.sweep.spec import expand, family_key
from scalecli.sweep.sweep_run import SweepOptions, SweepRun
from tests.sweep.test_sweep_e2e import TINY
from tests.sweep.test_wsd import sweep_dict

DATA = types.SimpleNamespace(vocab_size=300, fingerprint="fp")


def a_sweep(tmp_path: Path, raw: dict, **options: object) -> SweepRun:
    console = Console(quiet=True)
    spec = parse_spec(raw)
    return SweepRun(spec, DATA, tmp_path, SweepOptions(**options), console,
                    StopFlag(console, "stop"), EXECUTORS[spec.runtime.executor])


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_batch_goes_to_its_executor_without_the_runs_already_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str) -> None:
    raw = {**TINY, "runtime": {**TINY.get("runtime", {}), "executor": executor}}
    sweep = a_sweep(tmp_path, raw)
    todo = [(run, run.run_id("fp")) for run in expand(sweep.spec, 300)]
    upsert_row(sweep.csv_path, {"run_id": todo[0][1], "status": "ok"})
    handed: list = []
    assert sweep.executor is EXECUTORS[executor]
    sweep.executor = lambda s, runs: handed.append((s, runs))
    sweep.train(todo, "sweep")
    assert handed == [(sweep, todo[1:])]
    assert set(sweep.counts) == {rid for _, rid in todo}  # counted, recorded or not
    handed.clear()
    sweep.train(todo[:1], "sweep")  # nothing left to train: no executor, no bars
    assert handed == []


def test_every_executor_and_every_run_kind_has_its_function() -> None:
    from scalecli.sweep.local_executor import RUN_KINDS

    assert set(EXECUTORS) == {"local", "ray"}  # validate.py's runtime.executor
    cosine = expand(parse_spec(sweep_dict(schedule="cosine")), 280)
    wsd = expand(parse_spec(sweep_dict()), 280)
    assert {r.kind for r in cosine} == {"train"} and {r.kind for r in wsd} == {"branch"}
    assert {r.kind for r in cosine + wsd} | {"evaluate"} == set(RUN_KINDS)  # + checkpoints


def test_a_branch_has_a_parent_and_a_run_in_one_go_has_none() -> None:
    cosine = expand(parse_spec(sweep_dict(schedule="cosine")), 280)[0]
    branch = expand(parse_spec(sweep_dict()), 280)[0]
    assert not cosine.is_wsd and cosine.parent_run_id("fp") is None
    assert branch.is_wsd and branch.parent_run_id("fp") == branch.family_id("fp")


def test_one_family_key_groups_the_runs_as_their_family_ids_do() -> None:
    runs = expand(parse_spec(sweep_dict(seeds=[0, 1], lr=[0.01, 0.02])), 280)
    by_key, by_id = {}, {}
    for run in runs:
        by_key.setdefault(family_key(run), []).append(run.steps)
        by_id.setdefault(run.family_id("fp"), []).append(run.steps)
    assert sorted(by_key.values()) == sorted(by_id.values()) == [[12, 24]] * 4
    assert all(run.family == (12, 24) for run in runs)  # spec's families, by the same key
    console = Console(record=True, width=200)
    say_branches(runs, 280, None, console)
    assert "8 branches of 4 families" in console.export_text()


def test_a_failure_is_a_failed_row_on_the_sweeps_device_when_the_workers_is_unknown(
        tmp_path: Path) -> None:
    sweep = a_sweep(tmp_path, {**TINY, "runtime": {"device": "cpu", "dtype": "fp32"}})
    run = expand(sweep.spec, 300)[0]
    rid = run.run_id("fp")
    sweep.counts[rid] = run.counts(300)
    sweep.bars = sweep_run.Bars.open(sweep.console, "sweep", 2, 1.0)
    sweep.record_failure(run, rid, "RayError: node lost")  # from Ray: where is unknown
    [row] = read_rows(sweep.csv_path)
    assert (row["status"], row["error"], row["device"], row["dtype"]) == (
        "failed", "RayError: node lost", "cpu", "fp32")
    sweep.record_failure(run, rid, "OutOfMemoryError: CUDA", ("cuda:0", "bf16"))  # here
    [row] = read_rows(sweep.csv_path)  # the same run again: its row replaced
    assert (row["error"], row["device"], row["dtype"]) == (
        "OutOfMemoryError: CUDA", "cuda:0", "bf16")
