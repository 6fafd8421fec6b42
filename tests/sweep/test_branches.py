"""WSD branch bookkeeping (scalecli/sweep/branches.py): which branch points the stable phase
must still reach, where it restarts when one is missing, what is cleaned up, and in which
order the branches train.

The family is tests/sweep/test_wsd.py's: branches of 12 and 24 steps, branch points at
steps 9 and 18, the stable phase trained to 18.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from scalecli.sweep import branches, checkpoint
from scalecli.sweep import train as train_module
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import RunSpec, expand
from scalecli.sweep.train import RunOptions
from tests.sweep.test_resume import write_corpus
from tests.sweep.test_wsd import sweep_dict

FP = "fp"


def family(**train: object) -> list[tuple[RunSpec, str]]:
    runs = expand(parse_spec(sweep_dict(**train)), vocab_size=280)
    return [(run, run.run_id(FP)) for run in runs]


def fake_checkpoint(folder: Path, step: int) -> Path:
    """A checkpoint folder that `checkpoint.find` accepts, saved at `step`."""
    target = folder / checkpoint.NAME
    target.mkdir(parents=True)
    for name in checkpoint.FILES:
        (target / name).write_text("{}", encoding="utf-8")
    (target / "state.json").write_text(json.dumps({"loop": {"step": step}}), encoding="utf-8")
    return target


class FakeData:
    fingerprint = FP


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """train_run replaced: records what the stable phase was asked to do, trains nothing."""
    calls: list[dict[str, Any]] = []

    def fake(run: RunSpec, data: Any, run_dir: Path, rt: Any, options: RunOptions) -> str:
        found = checkpoint.find(run_dir)
        calls.append({"run": run, "dir": run_dir, "stop_at": options.stop_at,
                      "snapshots": dict(options.snapshots),
                      "resumed_from": None if found is None else checkpoint.step_of(found)})
        return "result"

    monkeypatch.setattr(train_module, "train_run", fake)
    return calls


def test_the_stable_phase_is_the_longest_branch() -> None:
    (short, _), (long, _) = family()
    for run in (short, long):
        stable = branches.stable_run(run)
        assert (stable.steps, stable.tokens) == (24, 24 * 256)
        assert stable.family_id(FP) == run.family_id(FP)
    point = branches.branch_point(Path("runs"), short, FP)
    assert point == Path("runs") / short.family_id(FP) / "branch-0000009"


def test_needed_points_skip_branches_with_a_checkpoint_or_a_saved_point(
        tmp_path: Path) -> None:
    todo = family()
    (_, short_id), (long, _) = todo
    assert branches.needed_points(tmp_path, todo, FP) == {9, 18}
    fake_checkpoint(tmp_path / short_id, 11)  # branch one resumes from its own checkpoint
    assert branches.needed_points(tmp_path, todo, FP) == {18}
    fake_checkpoint(branches.branch_point(tmp_path, long, FP), 18)
    assert branches.needed_points(tmp_path, todo, FP) == set()


def test_nothing_to_train_when_every_point_is_there(tmp_path: Path, spy: list) -> None:
    todo = family()
    for run, _ in todo:
        fake_checkpoint(branches.branch_point(tmp_path, run, FP), run.branch_step)
    assert branches.train_stable(todo, tmp_path, FakeData(), None, RunOptions()) is None
    assert spy == []


def test_the_stable_phase_trains_to_the_last_missing_point_saving_each(
        tmp_path: Path, spy: list) -> None:
    todo = family()
    folder = tmp_path / todo[0][0].family_id(FP)
    fake_checkpoint(folder, 5)  # killed at step 5, before every branch point: resume
    assert branches.train_stable(todo, tmp_path, FakeData(), None, RunOptions()) == "result"
    (call,) = spy
    assert call["dir"] == folder and call["run"].steps == 24 and call["stop_at"] == 18
    assert call["snapshots"] == {run.branch_step: branches.branch_point(tmp_path, run, FP)
                                 for run, _ in todo}
    assert call["resumed_from"] == 5
    assert json.loads((folder / "family.json").read_text()) == {
        "parent_run_id": folder.name, "warmup_steps": 2, "branch_steps": [9, 18], "steps": 24}


@pytest.mark.parametrize(("saved_at", "resumes"), [(8, True), (9, False), (12, False)])
def test_a_stable_checkpoint_past_a_missing_point_restarts_from_step_0(
        tmp_path: Path, spy: list, saved_at: int, resumes: bool) -> None:
    # Branch one's point (step 9) is missing, branch two's (18) too. A branch point is
    # written after its step is taken, so a stable phase resumed at step 9 or later would
    # never write it: only a fresh start has it. At step 8 it can resume.
    todo = family()
    folder = tmp_path / todo[0][0].family_id(FP)
    fake_checkpoint(folder, saved_at)
    branches.train_stable(todo, tmp_path, FakeData(), None, RunOptions())
    assert spy[0]["resumed_from"] == (saved_at if resumes else None)
    assert 9 in spy[0]["snapshots"] and spy[0]["stop_at"] == 18


def test_only_the_missing_point_is_trained_for(tmp_path: Path, spy: list) -> None:
    # Branch two's point is saved, branch one's is not: the stable phase goes to 9 only.
    todo = family()
    fake_checkpoint(branches.branch_point(tmp_path, todo[1][0], FP), 18)
    folder = tmp_path / todo[0][0].family_id(FP)
    fake_checkpoint(folder, 17)
    branches.train_stable(todo, tmp_path, FakeData(), None, RunOptions())
    (call,) = spy
    assert call["stop_at"] == 9 and set(call["snapshots"]) == {9}
    assert call["resumed_from"] is None  # 17 is past 9: a fresh start
    assert json.loads((folder / "family.json").read_text())["branch_steps"] == [9]


def test_one_branch_left_trains_the_whole_stable_phase(tmp_path: Path, spy: list) -> None:
    # Branch one recorded and cleaned up; branch two alone is left, and its point (18) is
    # the family's longest branch's: the stable phase is still the 24-step run to 18.
    (_, _), long = family()
    branches.train_stable([long], tmp_path, FakeData(), None, RunOptions())
    (call,) = spy
    assert call["run"].steps == 24 and call["stop_at"] == 18 and set(call["snapshots"]) == {18}


def test_clean_up_keeps_the_stable_phase_until_the_family_is_done(tmp_path: Path) -> None:
    (short, _), (long, _) = family()
    folder = tmp_path / short.family_id(FP)
    fake_checkpoint(folder, 17)
    (folder / "family.json").write_text("{}")
    for run in (short, long):
        fake_checkpoint(branches.branch_point(tmp_path, run, FP), run.branch_step)
    branches.clean_up(tmp_path, short, FP, family_done=False)
    assert not branches.branch_point(tmp_path, short, FP).exists()
    assert checkpoint.find(folder) is not None
    assert checkpoint.find(branches.branch_point(tmp_path, long, FP)) is not None
    branches.clean_up(tmp_path, short, FP, family_done=True)  # a leftover point goes too
    assert {p.name for p in folder.iterdir()} == {"family.json"}


def test_sibling_ids_are_the_family_run_ids() -> None:
    todo = family(seeds=[0, 1])
    for run, _ in todo:
        kin = {rid for other, rid in todo if other.seed == run.seed}
        assert set(branches.sibling_ids(run, FP)) == kin
        assert len(branches.sibling_ids(run, FP)) == 2


def test_by_family_groups_each_family_shortest_first() -> None:
    todo = family(seeds=[0, 1])  # 12/s0, 12/s1, 24/s0, 24/s1
    mixed = [todo[2], todo[1], todo[0], todo[3]]
    order = branches.by_family(mixed, FP)
    assert [(r.seed, r.steps) for r, _ in order] == [(0, 12), (0, 24), (1, 12), (1, 24)]
    # Cosine runs keep their place.
    cosine = family(schedule="cosine")
    assert branches.by_family(cosine[::-1], FP) == cosine[::-1]


# --- the same, with real training ----------------------------------------------------

def test_a_deleted_branch_point_is_trained_again_the_same(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from scalecli.sweep.data import prepare
    from scalecli.sweep.hardware import resolve_runtime

    spec = parse_spec(sweep_dict(str(write_corpus(tmp_path))))
    data = prepare(spec.data, spec.eval.tokens)
    todo = [(run, run.run_id(data.fingerprint)) for run in expand(spec, data.vocab_size)]
    rt = resolve_runtime("cpu", "fp32", 1)
    runs_dir = tmp_path / "runs"
    result = branches.train_stable(todo, runs_dir, data, rt, RunOptions())
    assert result.status == "ok" and result.steps_done == 18
    points = [branches.branch_point(runs_dir, run, data.fingerprint) for run, _ in todo]
    first = load_file(points[0] / checkpoint.NAME / "model.safetensors")
    # A kill right after step 9 leaves the stable phase's checkpoint at step 9; then the
    # branch point of step 9 is deleted by hand.
    folder = runs_dir / todo[0][0].family_id(data.fingerprint)
    checkpoint.remove(folder)
    shutil.copytree(points[0] / checkpoint.NAME, folder / checkpoint.NAME)
    shutil.rmtree(points[0])
    again = branches.train_stable(todo, runs_dir, data, rt, RunOptions())
    assert again is not None and again.status == "ok" and again.steps_done == 9
    saved = checkpoint.find(points[0])
    assert saved is not None and checkpoint.step_of(saved) == 9
    redone = load_file(saved / "model.safetensors")
    assert all(torch.allclose(first[k], redone[k], atol=1e-6) for k in first)
    assert branches.needed_points(runs_dir, todo, data.fingerprint) == set()
