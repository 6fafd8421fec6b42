"""The training loop as a state: a LoopState saved and loaded whole by checkpoint.py, and the
start state of each kind of run (fresh, resumed, a WSD branch, a speed probe).

Tiny shapes on CPU in fp32, one thread: each test takes a second or two.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from scalecli.sweep import checkpoint
from scalecli.sweep import train as train_module
from scalecli.sweep.data import prepare
from scalecli.sweep.hardware import Runtime
from scalecli.sweep.loop_state import COUNTERS, LoopState
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import DataSpec, expand
from scalecli.sweep.train import RunOptions, build, start_state, step
from tests.sweep.test_sweep_e2e import TINY

CPU = torch.device("cpu")
RT = Runtime(CPU, None, 1)


@pytest.fixture(scope="module")
def data():
    return prepare(DataSpec(**TINY["data"]), TINY["eval"]["tokens"])


def tiny_run(**train: object):
    raw = {**TINY, "models": [TINY["models"][0]], "budget": {"tokens": 6 * 512},
           "train": {**TINY["train"], **train}}
    return expand(parse_spec(raw), 300)[0]


def stepped(run, data, steps: int) -> tuple[train_module.Setup, LoopState]:
    """A fresh run advanced `steps` optimizer steps by `step` alone."""
    model, optimizer = build(run, data, CPU)
    state = LoopState(model, optimizer)
    setup = train_module.prepare(run, data, RT, state, RunOptions())
    for _ in range(steps):
        step(setup, state)
    return setup, state


def assert_same_state(a: LoopState, b: LoopState, clocks: bool = True) -> None:
    skip = set() if clocks else {"compute_s"}  # a step's own duration differs, of course
    assert ({k: v for k, v in a.counters().items() if k not in skip}
            == {k: v for k, v in b.counters().items() if k not in skip})
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for index, moments in sa["state"].items():
        for key, value in moments.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb["state"][index][key]))


def test_a_loop_state_round_trips_through_a_checkpoint_exactly(tmp_path: Path, data) -> None:
    run = tiny_run()
    _, state = stepped(run, data, 3)
    state.curve.append({"step": 3, "tokens": 1536, "flops": 1.5e9, "lr": 1e-3,
                        "train_loss": 5.25, "val_loss": None, "elapsed_s": 0.125,
                        "phase": None})
    state.compute_s, state.train_s, state.eval_s = 0.1 + 0.2, 1 / 3, 2 / 7  # every bit
    checkpoint.save(tmp_path, state)
    model, optimizer = build(run, data, CPU)  # a new process: fresh weights, empty moments
    loaded = checkpoint.load(checkpoint.find(tmp_path), model, optimizer)
    assert loaded.model is model and loaded.optimizer is optimizer
    assert loaded.step == 3 and math.isfinite(loaded.min_loss)
    assert_same_state(state, loaded)
    # The state is the whole story: one more step from either gives the same numbers.
    setup = train_module.prepare(run, data, RT, state, RunOptions())
    again = train_module.prepare(run, data, RT, loaded, RunOptions())
    assert step(setup, state) == step(again, loaded)
    assert_same_state(state, loaded, clocks=False)


def test_a_fresh_state_round_trips_too(tmp_path: Path, data) -> None:
    # Step 0: min_loss is inf and last_loss NaN, which JSON must carry both ways.
    run = tiny_run()
    state = LoopState(*build(run, data, CPU))
    checkpoint.save(tmp_path, state)
    loaded = checkpoint.load(checkpoint.find(tmp_path), *build(run, data, CPU))
    assert loaded.step == 0 and loaded.min_loss == math.inf and math.isnan(loaded.last_loss)
    assert checkpoint.step_of(checkpoint.find(tmp_path)) == 0


def test_state_json_keeps_the_layout_older_checkpoints_have(tmp_path: Path, data) -> None:
    # A checkpoint written before LoopState existed resumes, and the other way round:
    # state.json is still {"param_groups", "loop": {the seven counters}}.
    run = tiny_run()
    _, state = stepped(run, data, 2)
    checkpoint.save(tmp_path, state)
    saved = json.loads((tmp_path / "checkpoint" / "state.json").read_text(encoding="utf-8"))
    assert set(saved) == {"param_groups", "loop"}
    assert set(saved["loop"]) == set(COUNTERS) == {
        "step", "min_loss", "curve", "compute_s", "train_s", "eval_s", "last_loss"}
    assert saved["loop"]["step"] == 2
    assert {f.name for f in dataclasses.fields(LoopState)} == {"model", "optimizer", *COUNTERS}


def saved_at(folder: Path, run, data, steps: int) -> LoopState:
    _, state = stepped(run, data, steps)
    checkpoint.save(folder, state)
    return state


@pytest.mark.parametrize("own, branch_point, expected", [
    (None, None, 0),  # a fresh run, and a speed probe (a new temporary folder)
    (5, None, 5),  # a resumed run: its own checkpoint
    (None, 3, 3),  # a WSD branch's first start: its branch point
    (5, 3, 5),  # a branch resumed: its own checkpoint, past the branch point
])
def test_each_kind_of_run_starts_from_its_own_state(tmp_path: Path, data, own, branch_point,
                                                    expected) -> None:
    run = tiny_run()
    run_dir, point = tmp_path / "run", tmp_path / "branch-0000003"
    run_dir.mkdir()
    saved = {}
    if own is not None:
        saved[own] = saved_at(run_dir, run, data, own)
    if branch_point is not None:
        saved[branch_point] = saved_at(point, run, data, branch_point)
    model, optimizer = build(run, data, CPU)
    state = start_state(model, optimizer, run_dir, point if branch_point else None)
    assert state.step == expected
    if expected == 0:
        fresh = LoopState(*build(run, data, CPU))  # the seeded initialisation, nothing loaded
        assert_same_state(state, fresh)
    else:
        assert_same_state(state, saved[expected])


def test_a_speed_probe_is_a_short_fresh_run_that_leaves_no_checkpoint(tmp_path: Path,
                                                                       data) -> None:
    run = train_module.short_run(tiny_run(checkpoint_every_s=0.001, eval_points=2), 4)
    result = train_module.train_run(run, data, tmp_path, RT)
    assert [p["step"] for p in result.curve] == [1, 2, 3, 4]  # from step 0, every step timed
    assert all(p["val_loss"] is None for p in result.curve[:-1])  # no mid-run evaluation
    assert checkpoint.find(tmp_path) is None


def test_a_stable_phase_stops_early_and_saves_its_branch_points(tmp_path: Path,
                                                                data) -> None:
    run = tiny_run(schedule="wsd", cooldown_frac=0.5)
    points = {2: tmp_path / "branch-2", 4: tmp_path / "branch-4"}
    options = RunOptions(stop_at=4, snapshots=points)
    result = train_module.train_run(run, data, tmp_path / "stable", RT, options)
    assert result.status == "ok" and result.val is None and result.steps_done == 4
    assert [checkpoint.step_of(checkpoint.find(p)) for p in points.values()] == [2, 4]
    assert {p["phase"] for p in result.curve} == {"stable"}


def test_only_checkpoint_py_reads_or_writes_checkpoint_files() -> None:
    # model.safetensors is also a finished run's weights (save_final), so it is not checked.
    own = {"state.json", "optimizer.safetensors"}
    sweep = Path(checkpoint.__file__).parent
    for path in sweep.glob("*.py"):
        if path.name == "checkpoint.py":
            continue
        strings = {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not strings & own, path.name
        assert "checkpoint.NAME" not in path.read_text(encoding="utf-8"), path.name
