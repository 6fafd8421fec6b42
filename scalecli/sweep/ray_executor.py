"""Scale-out on Ray: every run of a sweep is one Ray task; the driver keeps the books.

The driver (`scalecli sweep` with `runtime.executor: ray`) prepares the data once, puts
it in Ray's object store, and submits one task per missing run with the CPUs and GPUs
the sweep asks for. Workers train with the same `train_run` as a local sweep, so a run
gives the same numbers wherever it lands. Only the driver writes results.csv, holding
the folder lock, as each task finishes.

Where a worker sees the driver's output folder (the same machine, or a shared
filesystem), it trains in the run's own folder: mid-run checkpoints land there and a
rerun resumes from them. Where it does not, it trains in a temporary folder and sends
the final files (weights in safetensors, config, tokenizer) back with its result; a run
stopped half-way then starts again from scratch. The check is a random token that the
driver writes into the output folder and the worker reads back.

WSD families (scalecli/sweep/branches.py) are two kinds of task. The family's stable phase
is one task, which saves a branch point at each branch's cooldown start; each branch is a
task of its own, which Ray starts once the stable phase has finished (its result is the
branch task's argument) and which trains from its branch point. In a folder the worker
sees, the branch points are written there, as a local sweep writes them, so a rerun
resumes from them. Elsewhere the stable task returns them, model and optimizer in
safetensors, through Ray's object store, and each branch task writes its own into a
temporary folder.

With `runtime.workers_per_run: k` above 1, each of those tasks is a thin driver (`drive`)
that holds no CPU or GPU and starts a Ray Train TorchTrainer of k workers, each running
the task's body as one rank of a DDP group (scalecli/sweep/distributed.py); rank 0's return
value is the task's. A driver that held a GPU would keep it from its own workers, and
drivers without resources could fill a cluster with trainers waiting for workers, so at
most as many drivers run at once as the cluster has room for their workers
(scalecli/sweep/ray_train.py).
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from scalecli.errors import Interrupted, ScaleError, describe, first_line
from scalecli.sweep import branches
from scalecli.sweep.data import TokenData
from scalecli.sweep.distributed import Ranks, every_rank
from scalecli.sweep.ray_train import drive, driver_cap
from scalecli.sweep.spec import RunSpec, RuntimeSpec

if TYPE_CHECKING:
    from scalecli.sweep.sweep_run import SweepRun, Todo

TOKEN_FILE = ".ray-token"


@dataclass(frozen=True)
class Job:
    run: RunSpec
    run_id: str
    run_dir: Path  # absolute: a worker's working folder is not the driver's
    flops: float  # the run's training FLOPs, for `compile: auto`


@dataclass(frozen=True)
class Outcome:
    """What came back for one job: a result, or the one-line error of a task that failed."""

    job: Job
    result: Any = None  # scalecli.sweep.train.RunResult
    error: str = ""


def sweep_on_ray(sweep: SweepRun, todo: list[Todo]) -> None:
    """The Ray executor: every run a Ray task, recorded here as each one finishes."""

    def on_done(outcome: Outcome) -> None:
        job = outcome.job
        if outcome.result is None:  # the worker's device and dtype are unknown here
            sweep.record_failure(job.run, job.run_id, outcome.error)
        else:
            sweep.record(job.run, job.run_id, outcome.result)

    jobs = [Job(run, rid, sweep.start(run, rid), sweep.flops_of(run, rid)) for run, rid in todo]
    if jobs:
        sweep.console.print(f"submitting {len(jobs)} runs to Ray")
        run_on_ray(jobs, sweep.data, sweep.out_dir, sweep.spec.runtime, on_done=on_done,
                   should_stop=sweep.flag,
                   status=lambda m: sweep.console.print(f"[dim]{escape(m)}[/]"))


def resources(runtime: RuntimeSpec) -> dict[str, float]:
    """What Ray reserves for each run."""
    gpus = runtime.gpus_per_run
    if gpus is None:
        gpus = 1.0 if runtime.device.startswith("cuda") else 0.0
    return {"num_cpus": runtime.cpus_per_run, "num_gpus": gpus}


def train_on_worker(job: Job, data: TokenData, token_path: str, token: str
                    ) -> tuple[Any, dict[str, bytes]]:
    """The body of one Ray task: resolve the runtime here, on the worker, and train.

    Returns the run's result and, when the worker cannot see the driver's folder, the
    final files to write there (empty when it trained in place).
    """
    from scalecli.sweep.train import RunOptions, train_run

    rt, compile_model = _runtime(job)
    options = RunOptions(compile_model=compile_model)
    if _sees(token_path, token, rt.device):
        job.run_dir.mkdir(parents=True, exist_ok=True)
        return train_run(job.run, data, job.run_dir, rt, options), {}
    with tempfile.TemporaryDirectory(prefix="scalecli-") as folder:
        result = train_run(job.run, data, Path(folder), rt, options)
        return result, _files(Path(folder))


# A stable phase's outcome as it travels to its branch tasks: its RunResult (None when every
# branch point was already saved) and, from a worker that could not see the driver's
# folder, each branch point's checkpoint files by branch step ({} when written in place).
Stable = tuple[Any, dict[int, dict[str, bytes]]]


def stable_on_worker(jobs: list[Job], data: TokenData, token_path: str, token: str) -> Stable:
    """The body of a stable-phase task: train the family of `jobs` (its unrecorded
    branches) to every branch point they still need."""
    from scalecli.sweep import checkpoint
    from scalecli.sweep.train import RunOptions

    rt, compile_model = _runtime(max(jobs, key=lambda job: job.run.steps))
    options = RunOptions(compile_model=compile_model)
    todo = [(job.run, job.run_id) for job in jobs]
    if _sees(token_path, token, rt.device):
        runs_dir = jobs[0].run_dir.parent
        return branches.train_stable(todo, runs_dir, data, rt, options), {}
    with tempfile.TemporaryDirectory(prefix="scalecli-") as folder:
        result = branches.train_stable(todo, Path(folder), data, rt, options)
        points = {}
        for run, _ in todo:
            files = checkpoint.pack(branches.branch_point(Path(folder), run, data.fingerprint))
            if files is not None:
                points[run.branch_step] = files
    return result, points


def branch_on_worker(job: Job, data: TokenData, token_path: str, token: str,
                     stable: Stable) -> tuple[Any, dict[str, bytes]]:
    """The body of a branch task: cool down from the branch point and evaluate. A stable
    phase that diverged is every branch's result, as in a local sweep."""
    from scalecli.sweep import checkpoint
    from scalecli.sweep.train import RunOptions, train_run

    result, points = stable
    if result is not None and result.status != "ok":
        return result, {}
    rt, compile_model = _runtime(job)
    if _sees(token_path, token, rt.device):
        job.run_dir.mkdir(parents=True, exist_ok=True)
        start = branches.branch_point(job.run_dir.parent, job.run, data.fingerprint)
        options = RunOptions(compile_model=compile_model, start_from=start)
        return train_run(job.run, data, job.run_dir, rt, options), {}
    with tempfile.TemporaryDirectory(prefix="scalecli-") as folder:
        start, run_dir = Path(folder) / "branch-point", Path(folder) / "run"
        run_dir.mkdir()
        if job.run.branch_step in points:
            checkpoint.unpack(start, points[job.run.branch_step])
        options = RunOptions(compile_model=compile_model, start_from=start)
        return train_run(job.run, data, run_dir, rt, options), _files(run_dir)


def _runtime(job: Job) -> tuple[Any, bool]:
    """The worker's device and dtype, and whether to compile a job of this size. A rank of
    a Ray Train group trains on the GPU that Ray Train gave it."""
    import dataclasses

    from scalecli.sweep.hardware import resolve_runtime, should_compile

    runtime = job.run.runtime
    rt = resolve_runtime(runtime.device, runtime.dtype, runtime.threads or runtime.cpus_per_run)
    if Ranks.current().world > 1 and rt.device.type == "cuda":
        import ray.train.torch

        rt = dataclasses.replace(rt, device=ray.train.torch.get_device())
        import torch

        torch.cuda.set_device(rt.device)
    return rt, should_compile(runtime.compile, rt, job.flops)


def families(jobs: list[Job], fingerprint: str) -> tuple[list[Job], dict[str, list[Job]]]:
    """The jobs that train from scratch, and the WSD branches by family."""
    alone: list[Job] = []
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        if job.run.kind == "branch":
            grouped.setdefault(job.run.family_id(fingerprint), []).append(job)
        else:
            alone.append(job)
    return alone, grouped


def _files(folder: Path) -> dict[str, bytes]:
    """A folder's files by name, to send back from a worker that trained away from it."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _sees(token_path: str, token: str, device: Any) -> bool:
    """Whether this worker sees the driver's folder; the ranks of a data-parallel run
    agree (all of them, or they all train away from it), so they resume from the same
    checkpoint or none."""
    try:
        sees = Path(token_path).read_text(encoding="utf-8") == token
    except OSError:
        sees = False
    return every_rank(sees, Ranks.current(), device)


def join_early(runtime: RuntimeSpec, status: Callable[[str], None] = lambda _m: None) -> None:
    """Before the data is prepared: Ray must import, and a named cluster must answer.

    A wrong address then fails in seconds rather than after a long tokenisation. A Ray of
    our own is started later, by `run_on_ray`, and only if some run is left to train.
    """
    _import_ray()
    if runtime.workers_per_run > 1:
        try:
            import ray.train.torch  # noqa: F401
        except ImportError:
            raise ScaleError("runtime.workers_per_run > 1 with executor ray needs Ray Train; "
                             "pip install 'ray[train]', or use executor: local") from None
    if _address(runtime):
        connect(runtime, status)


def _address(runtime: RuntimeSpec) -> str | None:
    return runtime.ray_address or os.environ.get("RAY_ADDRESS")


def connect(runtime: RuntimeSpec, status: Callable[[str], None] = lambda _m: None) -> Any:
    """Join the cluster (or start Ray here) once per process; returns the `ray` module."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    address = _address(runtime)
    status(f"joining Ray at {address}" if address else "starting Ray on this machine")
    unreachable = _unreachable(address) if address else None
    if unreachable:
        # Ray itself would retry for minutes before giving up.
        raise ScaleError(f"cannot reach Ray at {address} ({unreachable}); check "
                         "--ray-address / runtime.ray_address, or run `ray status` there")
    options: dict[str, Any] = {"address": address} if address else {"include_dashboard": False}
    try:
        ray.init(log_to_driver=False, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ScaleError(f"cannot start or join Ray ({first_line(error)}); check "
                         "runtime.ray_address, or run `ray status`") from None
    return ray


def run_on_ray(jobs: list[Job], data: TokenData, out_dir: Path, runtime: RuntimeSpec, *,
               on_done: Callable[[Outcome], None], should_stop: Callable[[], bool],
               status: Callable[[str], None] = lambda _m: None) -> None:
    """Run every job as a Ray task and hand each outcome to `on_done` as it finishes.

    `on_done` runs on the driver, one outcome at a time, so it can write results.csv
    without any locking of its own. Ctrl-C (`should_stop`) cancels the tasks still
    running; every outcome already handed over is kept.
    """
    ray = connect(runtime, status)
    token = secrets.token_hex(16)
    token_path = out_dir / TOKEN_FILE
    token_path.write_text(token, encoding="utf-8")
    submit = _submitter(ray, runtime, ray.put(data))
    where = (str(token_path.resolve()), token)
    alone, grouped = (families(jobs, data.fingerprint)
                      if any(j.run.kind == "branch" for j in jobs) else (jobs, {}))
    # In order: each family's stable phase before its branches, which take its result.
    launches: list[tuple[Callable[..., Any], Any]] = [(train_on_worker, job) for job in alone]
    for kin in grouped.values():
        launches.append((stable_on_worker, kin))
        launches += [(branch_on_worker, job) for job in sorted(kin, key=lambda j: j.run.steps)]
    cap = driver_cap(ray, runtime)
    pending: dict[Any, Job | None] = {}  # in flight; None: a stable phase
    stable_refs: list[Any] = []
    try:
        while pending or launches:
            while launches and (cap is None or len(pending) < cap):
                body, what = launches.pop(0)
                if body is stable_on_worker:
                    stable_refs.append(submit(body, what, *where))
                    pending[stable_refs[-1]] = None
                else:
                    more = (stable_refs[-1],) if body is branch_on_worker else ()
                    pending[submit(body, what, *where, *more)] = what
            if should_stop():
                runs = sum(job is not None for job in pending.values())
                raise Interrupted(f"stopped with {runs} runs in flight; finished runs "
                                  "are recorded. Run the same command again to resume")
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                job = pending.pop(ref)
                if job is None:  # a stable phase: its branches get its result (or error)
                    continue
                try:
                    result, files = ray.get(ref)
                except ray.exceptions.RayError as error:
                    # A RayTaskError wraps the worker's exception: describe that one.
                    on_done(Outcome(job, error=describe(getattr(error, "cause", None) or error)))
                    continue
                job.run_dir.mkdir(parents=True, exist_ok=True)
                for name, blob in files.items():
                    _write_bytes(job.run_dir / name, blob)
                on_done(Outcome(job, result=result))
    finally:
        for ref in [*pending, *stable_refs]:
            ray.cancel(ref, force=True)
        token_path.unlink(missing_ok=True)


def _submitter(ray: Any, runtime: RuntimeSpec, data_ref: Any) -> Callable[..., Any]:
    """submit(body, first, *rest) -> the object reference of a task that runs
    body(first, data, *rest): a task holding the run's resources, or, with
    workers_per_run > 1, a thin driver holding none (`drive`)."""
    if runtime.workers_per_run == 1:
        tasks: dict[Any, Any] = {}

        def submit(body: Callable[..., Any], first: Any, *rest: Any) -> Any:
            if body not in tasks:
                tasks[body] = ray.remote(body).options(**resources(runtime))
            return tasks[body].remote(first, data_ref, *rest)

        return submit
    # No CPU and no GPU: a driver that held its run's GPU would starve its own workers.
    driver = ray.remote(drive).options(num_cpus=0, num_gpus=0)

    def submit_driver(body: Callable[..., Any], first: Any, *rest: Any) -> Any:
        return driver.remote(body, runtime, first, [data_ref], *rest)

    return submit_driver


def _unreachable(address: str, timeout_s: float = 5.0) -> str | None:
    """Why the head at host:port (or ray://host:port) does not answer; None if it does.

    Addresses without a port ("auto", "local") are left to Ray's own lookup, which fails
    fast when nothing is running.
    """
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return None
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a CLI
    try:
        import ray
    except ImportError:
        raise ScaleError("runtime.executor is ray but Ray is not installed; "
                         "pip install 'scalecli[ray]', or use executor: local") from None
    return ray


def _write_bytes(path: Path, blob: bytes) -> None:
    # By rename, like every other file scalecli writes: a kill leaves old or new, not half.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
