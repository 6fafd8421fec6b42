"""One run on several processes: data-parallel training with PyTorch's DDP.

With `runtime.workers_per_run: k`, k processes train one run together, as nanoGPT does
under torchrun: every rank builds the same seeded model (and loads the same checkpoint),
reads its own slice of every global batch (`Batches` gives the same batch to every rank,
since a batch depends only on (seed, step)), and DistributedDataParallel averages the
gradients, so the update is the 1-worker update. Rank 0 alone evaluates (with no
collective inside) and writes checkpoints, curve points and the final weights.

The ranks must take every decision together or the next collective waits forever: the
training loss (the divergence test) is all-reduced, and so is the Ctrl-C flag, once per step.

Locally, `launch` starts the k processes with `torch.multiprocessing` (one per GPU on
cuda; on cpu the threads split between them) and rendezvous through a file, so two sweeps
on one machine never race for a port. On Ray, Ray Train starts them
(scalecli/sweep/ray_executor.py) and `train_run` finds the process group already set up.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import signal
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from scalecli.errors import Interrupted, ScaleError, describe

if TYPE_CHECKING:
    from scalecli.sweep.data import TokenData
    from scalecli.sweep.hardware import Runtime
    from scalecli.sweep.spec import RunSpec, RuntimeSpec

# train.py imports this module; so this one names train's types (RunOptions, RunResult,
# train_run) as Any, and is handed train_run by its caller, with no import cycle.


@dataclass(frozen=True)
class Ranks:
    """Which process of a run's group this is: rank 0 of 1 when training alone."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that evaluates and writes the run's files."""
        return self.rank == 0

    @classmethod
    def current(cls) -> Ranks:
        """This process's place in the process group (torchrun's, Ray Train's or ours)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()


class WorkerFailed(RuntimeError):
    """One rank of a data-parallel run raised or died; the run is recorded as failed."""


def backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def wrap(forward: Any, device: torch.device) -> Any:
    """The model as DDP trains it. Buffers are constants here (no dropout, no batch norm),
    so they are not broadcast before every forward pass."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        return DistributedDataParallel(forward, device_ids=ids, forward_sync_buffers=False)
    return DistributedDataParallel(forward, device_ids=ids, broadcast_buffers=False)


def no_sync(ddp: Any, last: bool) -> Any:
    """Gradient accumulation: all-reduce only on the last micro-step."""
    return nullcontext() if ddp is None or last else ddp.no_sync()


def mean_over_ranks(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a scalar over the ranks (every rank gets the same number back)."""
    if ranks.world == 1:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value / ranks.world


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when it is True on any (Ctrl-C seen by one is seen by all)."""
    if ranks.world == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def every_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when it is True on all of them."""
    return not any_rank(not flag, ranks, device)


def check_same_step(step: int, ranks: Ranks, device: torch.device) -> None:
    """Every rank must start from the same step (the same checkpoint, or none)."""
    if ranks.world == 1:
        return
    value = torch.tensor([float(step), -float(step)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    high, low = value[0].item(), -value[1].item()
    if high != low:
        raise ScaleError(f"the ranks of a data-parallel run start from different steps "
                         f"({low:g} and {high:g}): each rank must see the run's folder")


def rank_runtime(rt: Runtime, rank: int, world: int) -> Runtime:
    """A local rank's share of the machine: its own GPU, or its share of the CPU threads."""
    if rt.device.type == "cuda":
        return dataclasses.replace(rt, device=torch.device("cuda", rank))
    return dataclasses.replace(rt, threads=max(1, rt.threads // world))


def check_devices(runtime: RuntimeSpec) -> str | None:
    """Whether this machine has the devices that workers_per_run asks for: a ScaleError
    when CUDA has fewer GPUs; a warning (returned) when CPU workers outnumber the cores."""
    from scalecli.sweep.hardware import physical_cores, resolve_device

    k = runtime.workers_per_run
    if k == 1:
        return None
    device = resolve_device(runtime.device)
    if device.type == "cuda":
        have = torch.cuda.device_count()
        if k > have:
            raise ScaleError(f"runtime.workers_per_run={k} needs {k} GPUs and this machine "
                             f"has {have}; lower workers_per_run, or use executor: ray on a "
                             "cluster")
        return None
    cores = physical_cores()
    if k > cores:
        return (f"runtime.workers_per_run={k}: {k} CPU workers share this machine's {cores} "
                "cores, so they take turns and the run is slower than with one worker")
    return None


# --- the local launcher ----------------------------------------------------------------

def launch(train_run: Any, run: RunSpec, data: TokenData, run_dir: Path, rt: Runtime,
           options: Any) -> dict[str, Any]:
    """Train `run` with `train_run` (train.train_run) on options.workers processes of this
    machine, and return rank 0's RunResult as a dict of its fields (`val` a dict too).

    The processes are started with torch.multiprocessing (spawn) and rendezvous through a
    file in a temporary folder, which also carries the token streams (as .npy, read
    memory-mapped) and each rank's outcome (JSON). Ctrl-C (options.should_stop) reaches the
    ranks through an Event; a rank that raises or dies ends the others and raises
    WorkerFailed with its one line. Rank 0's progress moves options.on_step here.
    """
    import torch.multiprocessing as mp

    k = options.workers
    context = mp.get_context("spawn")
    stop, progress = context.Event(), context.Array("d", [0.0, math.nan, math.nan])
    child = dataclasses.replace(options, should_stop=_never, on_step=None, workers=k)
    with tempfile.TemporaryDirectory(prefix="scalecli-ddp-") as name:
        folder = Path(name)
        _write_data(folder, data)
        procs = mp.start_processes(
            _rank_main,
            args=(train_run, k, str(folder), run, str(run_dir), rt, child, stop, progress),
            nprocs=k, join=False, start_method="spawn")
        seen = 0.0
        try:
            while not procs.join(timeout=0.2):
                if options.should_stop():
                    stop.set()
                step, loss, lr = progress[:]
                if options.on_step is not None and step > seen:
                    seen = step
                    options.on_step(int(step), loss, lr)
        except mp.ProcessExitedException as error:
            raise _failure(folder, k, error) from None
        finally:
            for process in procs.processes:  # after Ctrl-C twice, or an error here
                if process.is_alive():
                    process.kill()
                    process.join()
        return _outcome(folder)


def _never() -> bool:
    return False


def _write_data(folder: Path, data: TokenData) -> None:
    """The token streams as .npy (no pickle), the rest of TokenData as JSON."""
    np.save(folder / "train.npy", np.asarray(data.train))
    np.save(folder / "val.npy", np.asarray(data.val))
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)
              if f.name not in ("train", "val")}
    (folder / "data.json").write_text(json.dumps(fields), encoding="utf-8")


def _read_data(folder: Path) -> TokenData:
    from scalecli.sweep.data import TokenData

    fields = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    # Memory-mapped: k ranks share the page cache instead of holding k copies.
    # Copy-on-write, so torch sees a writable array (it never writes to it).
    return TokenData(train=np.load(folder / "train.npy", mmap_mode="c"),
                     val=np.load(folder / "val.npy"), **fields)


def _rank_main(rank: int, train_run: Any, world: int, folder_name: str, run: RunSpec,
               run_dir: str, rt: Runtime, options: Any, stop: Any, progress: Any) -> None:
    """One rank of `launch`: join the group, train, leave rank<N>.json for the launcher."""
    from scalecli.sweep.hardware import apply_runtime

    parent = os.getppid()
    # Ctrl-C in a terminal reaches every process of the group; the launcher alone decides
    # (through `stop`), so that all ranks stop at the same step. torch.multiprocessing
    # sends SIGINT when the launcher dies (PR_SET_PDEATHSIG): then leave at once.
    signal.signal(signal.SIGINT, lambda *_: os._exit(1) if os.getppid() != parent else None)
    folder = Path(folder_name)
    outcome: dict[str, Any] = {"rank": rank}
    try:
        rt = rank_runtime(rt, rank, world)
        if rt.device.type == "cuda":
            torch.cuda.set_device(rt.device)
        apply_runtime(rt)
        dist.init_process_group(backend(rt.device), init_method=f"file://{folder}/rendezvous",
                                rank=rank, world_size=world)
        on_step = _progress_writer(progress) if rank == 0 else None
        options = dataclasses.replace(options, should_stop=stop.is_set, on_step=on_step)
        result = train_run(run, _read_data(folder), Path(run_dir), rt, options)
        outcome.update(kind="ok", result=dataclasses.asdict(result))
    except Interrupted as error:
        outcome.update(kind="interrupted", error=str(error))
    except ScaleError as error:
        outcome.update(kind="scale_error", error=str(error), at=time.time())
    except Exception as error:
        outcome.update(kind="error", error=describe(error), at=time.time())
    (folder / f".rank{rank}.json").write_text(json.dumps(outcome), encoding="utf-8")
    os.replace(folder / f".rank{rank}.json", folder / f"rank{rank}.json")
    done = outcome["kind"] in ("ok", "interrupted")
    if dist.is_initialized() and done:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: the outcome is on disk, and teardown can
    # abort in gloo's C++ destructors ("terminate called without an active exception",
    # SIGABRT), which the launcher would read as a dead rank, ending the others mid-run.
    # On a failure, an exit code rather than an exception: the launcher then ends the
    # other ranks, which may be waiting in a collective for this one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if done else 1)


def _progress_writer(progress: Any) -> Any:
    def on_step(step: int, loss: float, lr: float) -> None:
        progress[:] = [float(step), loss, lr]

    return on_step


def _outcome(folder: Path) -> dict[str, Any]:
    """Rank 0's result, or the Interrupted / ScaleError that a rank stopped with."""
    outcomes = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("rank*.json")]
    for outcome in outcomes:
        if outcome["kind"] == "interrupted":
            raise Interrupted(outcome["error"])
    main = next((o for o in outcomes if o["rank"] == 0 and o["kind"] == "ok"), None)
    if main is None:
        raise WorkerFailed("rank 0 of a data-parallel run left no result")
    return main["result"]


def _failure(folder: Path, world: int, error: Any) -> Exception:
    """The one line of a failed data-parallel run: the first rank to fail, and why."""
    failed = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("rank*.json")]
    failed = sorted((o for o in failed if o["kind"] in ("error", "scale_error")),
                    key=lambda o: o["at"])
    if failed:
        first = failed[0]
        if first["kind"] == "scale_error":
            return ScaleError(first["error"])
        return WorkerFailed(f"rank {first['rank']} of {world}: {first['error']}")
    # Killed without a word (the OOM killer, a signal): torch says which and how.
    return WorkerFailed(f"rank {error.error_index} of {world} died: {error}")
