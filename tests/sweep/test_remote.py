"""Scale-out on Ray: the same numbers as a local sweep, files back to the driver, Ctrl-C.

One real Ray instance on this machine (2 CPUs, a small object store) for the end-to-end
test; the driver's bookkeeping (failures, Ctrl-C) is tested against a stand-in `ray`
module, which needs no cluster and runs in milliseconds.
"""

from __future__ import annotations

import socket
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import safetensors.torch
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import Interrupted, ScaleError
from scalecli.sweep import ray_executor as remote
from scalecli.sweep.data import prepare
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import RuntimeSpec, expand
from tests.sweep.test_sweep_e2e import TINY

SPEC = {**TINY, "runtime": {"device": "cpu", "dtype": "fp32", "threads": 1, "compile": "off"}}


def sweep(tmp_path: Path, out: str, *args: str) -> pd.DataFrame:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / out), *args])
    assert result.exit_code == 0, result.output
    return pd.read_csv(tmp_path / out / "tiny" / "results.csv")


def test_a_ray_sweep_records_the_same_runs_and_losses_as_a_local_one(
        tmp_path: Path, ray_here: Any) -> None:
    here = sweep(tmp_path, "here")
    on_ray = sweep(tmp_path, "ray", "--executor", "ray")
    assert (on_ray["status"] == "ok").all() and len(on_ray) == 2
    both = here.merge(on_ray, on="run_id", suffixes=("_here", "_ray"))
    assert len(both) == 2  # the same run_ids: the executor is not part of a run's identity
    # Same code, same seed, one thread each: the same numbers, to the last bit on CPU.
    assert (both["val_loss_here"] == both["val_loss_ray"]).all()
    folder = tmp_path / "ray" / "tiny"
    for rid in on_ray["run_id"]:
        files = {p.name for p in (folder / "runs" / rid).iterdir()}
        assert {"model.safetensors", "config.json", "tokenizer.json", "curve.csv"} <= files
    assert not (folder / remote.TOKEN_FILE).exists()
    # A rerun finds every run recorded and trains nothing.
    again = sweep(tmp_path, "ray", "--executor", "ray")
    assert list(again["finished_at"]) == list(on_ray["finished_at"])


def _first_job(tmp_path: Path) -> tuple[remote.Job, Any]:
    spec = parse_spec(SPEC)
    data = prepare(spec.data, spec.eval.tokens)
    run = expand(spec, data.vocab_size)[0]
    run_dir = tmp_path / "driver" / "runs" / "r0"
    return remote.Job(run, "r0", run_dir, 1.0), data


def test_a_worker_that_cannot_see_the_output_folder_sends_the_files_back(
        tmp_path: Path) -> None:
    job, data = _first_job(tmp_path)
    (tmp_path / "token").write_text("driver's token")
    result, files = remote.train_on_worker(job, data, str(tmp_path / "token"), "another token")
    assert result.status == "ok" and not job.run_dir.exists()
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(files)
    weights = safetensors.torch.load(files["model.safetensors"])  # safetensors, never pickle
    assert "transformer.wte.weight" in weights
    # Where it can see the folder, it trains there and sends nothing.
    result, files = remote.train_on_worker(job, data, str(tmp_path / "token"), "driver's token")
    assert result.status == "ok" and files == {}
    assert (job.run_dir / "model.safetensors").is_file()


def test_resources_default_to_one_gpu_per_run_only_on_cuda() -> None:
    assert remote.resources(RuntimeSpec(device="cpu")) == {"num_cpus": 1, "num_gpus": 0.0}
    assert remote.resources(RuntimeSpec(device="cuda")) == {"num_cpus": 1, "num_gpus": 1.0}
    assert remote.resources(RuntimeSpec(device="cuda:0", cpus_per_run=4, gpus_per_run=0.5)) \
        == {"num_cpus": 4, "num_gpus": 0.5}


class FakeRay(types.ModuleType):
    """Just enough of `ray` for the driver loop: tasks finish in submission order."""

    class RayError(Exception):
        pass

    def __init__(self, outcomes: list[Any]) -> None:
        super().__init__("ray")
        self.exceptions = types.SimpleNamespace(RayError=FakeRay.RayError)
        self.outcomes, self.cancelled, self.refs = list(outcomes), [], []

    def is_initialized(self) -> bool:
        return True

    def put(self, value: Any) -> str:
        return "data-ref"

    def remote(self, fn: Any) -> Any:
        fake = self

        class Task:
            def options(self, **_resources: Any) -> Task:
                return self

            def remote(self, job: Any, *_args: Any) -> str:
                fake.refs.append(f"ref-{job.run_id}")
                return fake.refs[-1]

        return Task()

    def wait(self, refs: list[str], num_returns: int, timeout: float) -> tuple[list, list]:
        return refs[:1], refs[1:]

    def get(self, ref: str) -> Any:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def cancel(self, ref: str, force: bool) -> None:
        self.cancelled.append(ref)


def _jobs(tmp_path: Path, n: int) -> list[remote.Job]:
    run = expand(parse_spec(SPEC), 300)[0]
    return [remote.Job(run, f"r{i}", tmp_path / "runs" / f"r{i}", 1.0) for i in range(n)]


def test_a_failed_task_is_handed_over_as_a_one_line_error_and_the_rest_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRay([("result-0", {"model.safetensors": b"weights"}),
                    FakeRay.RayError("CUDA out of memory. Tried to allocate 2 GiB\ntraceback..."),
                    ("result-2", {})])
    monkeypatch.setitem(sys.modules, "ray", fake)
    seen: list[remote.Outcome] = []
    remote.run_on_ray(_jobs(tmp_path, 3), None, tmp_path, RuntimeSpec(device="cpu"),
                      on_done=seen.append, should_stop=lambda: False)
    assert [o.job.run_id for o in seen] == ["r0", "r1", "r2"]
    assert seen[0].result == "result-0" and seen[2].result == "result-2"
    assert seen[1].result is None
    assert seen[1].error == "RayError: CUDA out of memory. Tried to allocate 2 GiB"
    assert (tmp_path / "runs" / "r0" / "model.safetensors").read_bytes() == b"weights"
    assert not (tmp_path / remote.TOKEN_FILE).exists() and fake.cancelled == []


def test_ctrl_c_cancels_the_runs_in_flight_and_keeps_the_finished_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRay([("result-0", {}), ("result-1", {}), ("result-2", {})])
    monkeypatch.setitem(sys.modules, "ray", fake)
    seen: list[remote.Outcome] = []
    with pytest.raises(Interrupted, match="2 runs in flight"):
        remote.run_on_ray(_jobs(tmp_path, 3), None, tmp_path, RuntimeSpec(device="cpu"),
                          on_done=seen.append, should_stop=lambda: len(seen) == 1)
    assert [o.job.run_id for o in seen] == ["r0"]
    assert fake.cancelled == ["ref-r1", "ref-r2"]
    assert not (tmp_path / remote.TOKEN_FILE).exists()


def test_without_ray_installed_the_error_says_how_to_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ScaleError, match=r"pip install 'scalecli\[ray\]'"):
        remote.run_on_ray(_jobs(tmp_path, 1), None, tmp_path, RuntimeSpec(),
                          on_done=lambda _o: None, should_stop=lambda: False)


def test_jobs_carry_absolute_run_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker's working folder is not the driver's: a relative out must still land here.
    submitted: list[remote.Job] = []
    monkeypatch.setattr(remote, "connect", lambda *a, **k: None)
    monkeypatch.setattr(remote, "run_on_ray", lambda jobs, *a, **k: submitted.extend(jobs))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**SPEC, "out": "rel"}))
    result = CliRunner().invoke(app, ["sweep", "tiny.yaml", "--executor", "ray"])
    assert len(submitted) == 2, result.output
    runs = (tmp_path / "rel" / "tiny" / "runs").resolve()
    assert all(job.run_dir.is_absolute() and job.run_dir.parent == runs for job in submitted)


def test_an_unreachable_cluster_is_one_clear_error_in_seconds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray would retry for minutes; scalecli checks the head's port first.
    fake = FakeRay([])
    fake.is_initialized = lambda: False  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "ray", fake)
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ScaleError, match=f"cannot reach Ray at 127.0.0.1:{port}"):
        remote.run_on_ray(_jobs(tmp_path, 1), None, tmp_path,
                          RuntimeSpec(executor="ray", ray_address=f"127.0.0.1:{port}"),
                          on_done=lambda _o: None, should_stop=lambda: False)
    assert remote._unreachable("auto") is None  # no port: Ray's own lookup


def test_a_wrong_address_fails_before_the_data_is_prepared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scalecli.sweep.data

    def no_data(*_a: Any, **_k: Any) -> None:
        raise AssertionError("data prepared before Ray was reached")

    monkeypatch.setattr(scalecli.sweep.data, "prepare", no_data)
    fake = FakeRay([])
    fake.is_initialized = lambda: False  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(remote, "_unreachable", lambda address: "Connection refused")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"),
                                      "--executor", "ray", "--ray-address", "head:6379"])
    assert result.exit_code == 2
    assert "cannot reach Ray at head:6379 (Connection refused)" in result.output
