"""One run on two processes (runtime.workers_per_run: 2, DDP over gloo on CPU).

The bar: a 2-worker sweep writes the 1-worker rows within 1e-5 (fp32, one thread per
rank), through the local launcher and through Ray Train; a 2-worker run killed (or stopped
with Ctrl-C) part-way resumes to the uninterrupted row; a rank that raises makes its run
`failed` with one line while the sweep goes on. Starting processes (importing torch) is
the cost, so the reference sweeps are trained once per module.

The sweep has micro-batches of 2 sequences in a batch of 8: one worker accumulates 4
micro-steps, each of two workers 2 (so no_sync is on the path).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.sweep import distributed
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import RuntimeSpec
from tests.sweep.test_resume import read_csv, write_corpus

os.environ["HF_HUB_OFFLINE"] = "1"
runner = CliRunner()

SWEEP = """\
name: tiny
data: {{dataset: {corpus}, tokenizer: "bpe:280", context: 32}}
models:
  - {{name: a, n_layer: 1, n_embd: 16, n_head: 2}}
budget: {{tokens: {tokens}}}
train: {{batch_tokens: 256, micro_batch_tokens: 64, lr: 0.01, noise_seeds: [],
         checkpoint_every_s: 0.001, eval_points: 2}}
eval: {{tokens: 2000}}
runtime: {{device: cpu, threads: 1, compile: "off", dtype: fp32, workers_per_run: {workers}}}
"""
TOLERANCE = 1e-5  # fp32; measured: val_loss equal to the last bit, train_loss within 3e-7


def write_sweep(root: Path, name: str, workers: int, tokens: str = "6144") -> Path:
    path = root / f"{name}.yaml"
    path.write_text(SWEEP.format(corpus=root / "corpus.txt", tokens=tokens, workers=workers),
                    encoding="utf-8")
    return path


def sweep(path: Path, out: Path, cache: Path, *extra: str, **env: str) -> Any:
    return runner.invoke(app, ["sweep", str(path), "--out", str(out), *extra],
                         env={"SCALECLI_CACHE": str(cache), "HF_HUB_OFFLINE": "1", **env})


def rows_of(out: Path, all_ok: bool = True) -> dict[str, dict[str, str]]:
    if all_ok:
        return {r["run_id"]: r for r in read_csv(out)}
    import csv

    with open(out / "tiny" / "results.csv", encoding="utf-8", newline="") as handle:
        return {r["run_id"]: r for r in csv.DictReader(handle)}


def curve(out: Path, rid: str) -> list[list[str]]:
    lines = (out / "tiny" / "runs" / rid / "curve.csv").read_text().splitlines()
    return [line.split(",") for line in lines[1:]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same sweep on one worker and on two."""
    root = tmp_path_factory.mktemp("ddp")
    write_corpus(root)
    cache = root / "cache"
    found = {"root": root, "cache": cache}
    for workers in (1, 2):
        path = write_sweep(root, f"w{workers}", workers)
        result = sweep(path, root / f"w{workers}", cache)
        assert result.exit_code == 0, result.output
        found[workers] = rows_of(root / f"w{workers}")
        found[f"sweep{workers}"] = path
    assert found[1].keys() == found[2].keys()  # workers are not part of a run's identity
    return found


def test_two_workers_give_the_one_worker_row(trained: dict[str, Any]) -> None:
    (rid, one), = trained[1].items()
    two = trained[2][rid]
    assert two["device"] == "2xcpu" and one["device"] == "cpu"
    for column in ("val_loss", "train_loss", "val_bpb"):
        difference = abs(float(one[column]) - float(two[column]))
        print(f"{column}: 1 worker {one[column]}, 2 workers {two[column]}, |diff| {difference:.3g}")
        assert difference <= TOLERANCE, column
    # The whole curve, mid-run evaluations included (rank 0 evaluates, alone).
    a, b = curve(trained["root"] / "w1", rid), curve(trained["root"] / "w2", rid)
    assert [p[:4] for p in a] == [p[:4] for p in b]  # step, tokens, flops, lr
    for p, q in zip(a, b, strict=True):
        assert float(p[4]) == pytest.approx(float(q[4]), abs=TOLERANCE)
        assert (p[5] == "") == (q[5] == "")
        if p[5]:
            assert float(p[5]) == pytest.approx(float(q[5]), abs=TOLERANCE)
    folder = trained["root"] / "w2" / "tiny" / "runs" / rid
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in
                                                                       folder.iterdir()}
    assert not (folder / "checkpoint").exists()


def test_ray_train_two_workers_give_the_one_worker_row(
        trained: dict[str, Any], ray_here: Any) -> None:
    root = trained["root"]
    result = sweep(trained["sweep2"], root / "ray", trained["cache"], "--executor", "ray")
    assert result.exit_code == 0, result.output
    (rid, one), = trained[1].items()
    two = rows_of(root / "ray")[rid]
    assert two["device"] == "2xcpu"
    difference = abs(float(one["val_loss"]) - float(two["val_loss"]))
    print(f"Ray Train, 2 workers: val_loss |diff| from 1 worker {difference:.3g}")
    assert difference <= TOLERANCE
    assert (root / "ray" / "tiny" / "runs" / rid / "model.safetensors").is_file()


def _start(trained: dict[str, Any], name: str) -> dict[str, Any]:
    """A 2-worker `scalecli sweep` subprocess whose ranks pause at step 10."""
    out, marker = trained["root"] / name, trained["root"] / f"{name}.paused"
    env = {**os.environ, "SCALECLI_CACHE": str(trained["cache"]), "HF_HUB_OFFLINE": "1",
           "SCALECLI_TEST_PAUSE": "step:10", "SCALECLI_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "scalecli.cli", "sweep",
                             str(trained["sweep2"]), "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return {"proc": proc, "out": out, "marker": marker}


def _wait(case: dict[str, Any], timeout: float = 120) -> int:
    """Until a rank pauses; returns that rank's pid."""
    deadline = time.monotonic() + timeout
    while not case["marker"].exists():
        if case["proc"].poll() is not None:
            pytest.fail("exited before pausing:\n" + "\n".join(case["proc"].communicate()))
        assert time.monotonic() < deadline, "never paused"
        time.sleep(0.02)
    time.sleep(0.2)  # the other rank pauses there too
    return int(case["marker"].read_text().split()[0])


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_killed_or_stopped_two_worker_run_resumes_to_the_same_row(
        trained: dict[str, Any]) -> None:
    killed, stopped = _start(trained, "killed"), _start(trained, "stopped")
    rank = _wait(killed)
    killed["proc"].send_signal(signal.SIGKILL)  # the launcher: its ranks must not go on
    killed["proc"].communicate()
    assert _gone(rank), "a rank outlived its launcher"
    _wait(stopped)
    stopped["proc"].send_signal(signal.SIGINT)  # Ctrl-C reaches the launcher alone here
    time.sleep(0.5)
    stopped["marker"].unlink()  # the ranks go on, see the stop together, checkpoint, stop
    out, err = stopped["proc"].communicate(timeout=120)
    assert stopped["proc"].returncode == 130, out + err
    assert "checkpoint saved" in out + err
    (rid, reference), = trained[2].items()
    for case in (killed, stopped):
        run_dir = case["out"] / "tiny" / "runs" / rid
        assert (run_dir / "checkpoint").is_dir()
        result = sweep(trained["sweep2"], case["out"], trained["cache"])
        assert result.exit_code == 0, result.output
        row = rows_of(case["out"])[rid]
        assert float(row["val_loss"]) == pytest.approx(float(reference["val_loss"]), abs=1e-6)
        assert float(row["train_loss"]) == pytest.approx(float(reference["train_loss"]),
                                                         abs=1e-6)


def test_a_rank_that_raises_fails_its_run_with_one_line_and_the_sweep_goes_on(
        trained: dict[str, Any]) -> None:
    # Two budgets: 4 steps (never reaches the fault) and 24 steps (rank 1 raises at step 5).
    root = trained["root"]
    path = write_sweep(root, "faulty", 2, tokens="[1024, 6144]")
    result = sweep(path, root / "faulty", trained["cache"], SCALECLI_TEST_FAIL="rank1:step:5")
    assert result.exit_code == 1, result.output  # not every run ok
    rows = sorted(rows_of(root / "faulty", all_ok=False).values(), key=lambda r: int(r["steps"]))
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert rows[1]["error"] == "WorkerFailed: rank 1 of 2: RuntimeError: test fault at rank1:step:5"
    assert "Traceback" not in result.output


# Imported by every Python the sweep starts (PYTHONPATH): a rank whose interpreter teardown
# aborts, as gloo's C++ destructors sometimes do ("terminate called without an active
# exception", SIGABRT). The launcher and the resource tracker do not import scalecli's
# distributed module, so only ranks abort.
ABORT_AT_TEARDOWN = """\
import atexit, os, sys

def _abort():
    if "scalecli.sweep.distributed" in sys.modules:
        os.abort()

atexit.register(_abort)
"""


def test_a_rank_whose_interpreter_teardown_aborts_still_gives_the_row(
        trained: dict[str, Any]) -> None:
    root = trained["root"]
    hook = root / "teardown_hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(ABORT_AT_TEARDOWN, encoding="utf-8")
    path = write_sweep(root, "teardown", 2)
    result = sweep(path, root / "teardown", trained["cache"],
                   PYTHONPATH=os.pathsep.join(filter(None, [str(hook),
                                                            os.environ.get("PYTHONPATH")])))
    assert result.exit_code == 0, result.output
    (rid, reference), = trained[2].items()
    assert rows_of(root / "teardown")[rid]["val_loss"] == reference["val_loss"]


# --- pieces, without processes -------------------------------------------------------------

def test_gradient_accumulation_syncs_on_the_last_micro_step_only() -> None:
    from scalecli.sweep.train import step

    class Recorder(torch.nn.Module):  # stands in for DDP: the model, plus no_sync
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model, self.skipped, self.calls = model, 0, 0

        def forward(self, **kwargs: Any) -> Any:
            self.calls += 1
            return self.model(**kwargs)

        def no_sync(self) -> Any:
            from contextlib import contextmanager

            @contextmanager
            def skip() -> Any:
                self.skipped += 1
                yield

            return skip()

    from scalecli.sweep.data import random_tokens
    from scalecli.sweep.hardware import resolve_runtime
    from scalecli.sweep.loop_state import LoopState
    from scalecli.sweep.spec import expand
    from scalecli.sweep.train import RunOptions, build, prepare

    spec = parse_spec({"name": "t", "data": {"context": 32}, "models": [
        {"name": "a", "n_layer": 1, "n_embd": 16, "n_head": 2}], "budget": {"tokens": [1024]},
        "train": {"batch_tokens": 256, "micro_batch_tokens": 64, "lr": 0.01},
        "runtime": {"device": "cpu", "dtype": "fp32"}})
    data = random_tokens(300, 4096, 32)
    run = expand(spec, data.vocab_size)[0]
    rt = resolve_runtime("cpu", "fp32", 1)
    model, optimizer = build(run, data, rt.device)
    state = LoopState(model, optimizer)
    setup = prepare(run, data, rt, state, RunOptions())
    recorder = Recorder(model)
    setup = dataclasses.replace(setup, ddp=recorder)
    step(setup, state)
    assert setup.accum == 4 and recorder.calls == 4
    assert recorder.skipped == 3  # every micro-step but the last skips the all-reduce


def test_more_workers_than_gpus_is_one_line_and_more_than_cores_a_warning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from scalecli.sweep import hardware

    monkeypatch.setattr(hardware, "resolve_device", lambda _name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert distributed.check_devices(RuntimeSpec(device="cuda", workers_per_run=4)) is None
    with pytest.raises(ScaleError, match="needs 8 GPUs and this machine has 4"):
        distributed.check_devices(RuntimeSpec(device="cuda", workers_per_run=8))
    monkeypatch.setattr(hardware, "resolve_device", lambda _name: torch.device("cpu"))
    monkeypatch.setattr(hardware, "physical_cores", lambda: 2)
    assert distributed.check_devices(RuntimeSpec(device="cpu", workers_per_run=2)) is None
    warning = distributed.check_devices(RuntimeSpec(device="cpu", workers_per_run=3))
    assert warning is not None and "share this machine's 2 cores" in warning


def test_workers_must_split_the_batch_into_whole_sequences() -> None:
    base = {"name": "t", "data": {"context": 32}, "models": ["s1"], "budget": {"tokens": [4096]},
            "train": {"batch_tokens": 256, "lr": 0.01}}
    assert parse_spec({**base, "runtime": {"workers_per_run": 4}}).runtime.workers_per_run == 4
    with pytest.raises(ScaleError, match="workers_per_run=3 does not divide the 8 sequences"):
        parse_spec({**base, "runtime": {"workers_per_run": 3}})
    with pytest.raises(ScaleError, match="names one GPU"):
        parse_spec({**base, "runtime": {"workers_per_run": 2, "device": "cuda:1"}})


def test_a_failed_ray_train_run_is_one_line_naming_its_rank() -> None:
    from scalecli.sweep.ray_train import failed_rank

    error = SimpleNamespace(worker_failures={1: ValueError("boom\nmore lines"),
                                             3: RuntimeError("gloo: peer closed")})
    assert failed_rank(error, 4) == "rank 1 of 4: ValueError: boom"
