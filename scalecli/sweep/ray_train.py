"""A data-parallel run on Ray: a thin driver task that starts a Ray Train TorchTrainer.

With `runtime.workers_per_run: k` above 1, the Ray executor's task for a run (or a WSD
stable phase, or a branch) is `drive`: it holds no CPU and no GPU, starts a TorchTrainer
of k workers (one GPU each on cuda), runs the task's body on each as one rank of the
run's DDP group (Ray Train sets up the process group; scalecli/sweep/distributed.py
does the rest) and returns rank 0's value. A driver that held a GPU would keep it from
its own workers; drivers that hold nothing could fill a cluster with trainers waiting
for workers, so `driver_cap` says how many may be in flight.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from typing import Any

from scalecli.errors import describe
from scalecli.sweep.distributed import WorkerFailed
from scalecli.sweep.spec import RuntimeSpec


def drive(body: Callable[..., Any], runtime: RuntimeSpec, first: Any, data_box: list[Any],
          *rest: Any) -> Any:
    """A thin driver task (workers_per_run > 1): run `body(first, data, *rest)` on
    workers_per_run Ray Train workers, one rank each, and return rank 0's value.

    `data_box` holds the data's object reference, boxed so that Ray does not fetch the
    token streams into this process, which only waits. A rank that fails fails the run,
    with that rank's one line (Ray Train retries nothing: max_failures is 0).
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    k = runtime.workers_per_run
    gpu = uses_gpu(runtime)
    per_worker = {"CPU": float(runtime.cpus_per_run), **({"GPU": 1.0} if gpu else {})}
    with tempfile.TemporaryDirectory(prefix="scalecli-raytrain-") as storage:
        trainer = TorchTrainer(
            _rank_main,
            train_loop_config={"body": body, "first": first, "data": data_box, "rest": rest},
            scaling_config=ray.train.ScalingConfig(num_workers=k, use_gpu=gpu,
                                                   resources_per_worker=per_worker),
            # Ray Train's own records only (no checkpoint is reported to it), on this node.
            run_config=ray.train.RunConfig(name=f"scalecli-{secrets.token_hex(4)}",
                                           storage_path=storage))
        try:
            return trainer.fit().return_value
        except ray.train.TrainingFailedError as error:
            raise WorkerFailed(failed_rank(error, k)) from None


def _rank_main(config: dict[str, Any]) -> Any:
    """One Ray Train worker: the task's body, as one rank of the run's DDP group."""
    import ray

    data = ray.get(config["data"][0])
    return config["body"](config["first"], data, *config["rest"])


def failed_rank(error: Exception, world: int) -> str:
    """The one line of a Ray Train run that failed: the lowest failed rank and why."""
    failures = getattr(error, "worker_failures", None)
    if failures:
        rank = min(failures)
        cause = failures[rank]
        cause = getattr(cause, "cause", None) or cause
        return f"rank {rank} of {world}: {describe(cause)}"
    cause = getattr(error, "controller_failure", None) or error
    return f"Ray Train: {describe(cause)}"


def uses_gpu(runtime: RuntimeSpec) -> bool:
    return runtime.device.startswith("cuda") or bool(runtime.gpus_per_run)


def driver_cap(ray: Any, runtime: RuntimeSpec) -> int | None:
    """How many thin drivers may be in flight: as many runs as the cluster's CPUs (or
    GPUs) can hold workers for at once; None (no cap) for one worker per run, where each
    task holds its own resources."""
    k = runtime.workers_per_run
    if k == 1:
        return None
    total = ray.cluster_resources()
    kind, each = ("GPU", 1.0) if uses_gpu(runtime) else ("CPU", float(runtime.cpus_per_run))
    return max(1, int(total.get(kind, 0.0) // (k * each)))
