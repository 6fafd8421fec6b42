"""The local executor: the sweep's runs one after another in this process, a progress bar each."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from scalecli.errors import Interrupted, ScaleError, describe
from scalecli.faults import pause_point
from scalecli.sweep.interrupt import StopFlag
from scalecli.sweep.spec import RunSpec, SweepSpec


def run_here(spec: SweepSpec, data: Any, todo: list[tuple[RunSpec, str]], counts: dict,
              start: Callable[[RunSpec, str], Path], record: Callable[..., None],
              record_failure: Callable[..., None], flag: StopFlag, progress: Progress) -> None:
    """The local executor: one run after another in this process, a progress bar each."""
    from scalecli.sweep.hardware import resolve_runtime, should_compile
    from scalecli.sweep.train import train_run

    rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
    for index, (run, rid) in enumerate(todo):
        pause_point("before-run")  # test-only (scalecli/faults.py)
        if flag():  # Ctrl-C during the last run's final evaluation: stop here
            raise Interrupted("stopped between runs; run the same command again to resume")
        run_dir = start(run, rid)
        compile_model = should_compile(spec.runtime.compile, rt,
                                       counts[rid].flops_per_token * run.tokens)
        task = progress.add_task(f"{run.model.name} ({index + 1}/{len(todo)})",
                                 total=run.steps, info="")
        started = time.perf_counter()

        def on_step(step: int, loss: float, lr: float, task: int = task,
                    started: float = started, run: RunSpec = run) -> None:
            rate = step * run.train.batch_tokens / max(1e-9, time.perf_counter() - started)
            progress.update(task, completed=step,
                            info=f"loss {loss:.3f}  {rate:,.0f} tok/s  lr {lr:.2e}")

        try:
            result = train_run(run, data, run_dir, rt, should_stop=flag, on_step=on_step,
                               compile_model=compile_model)
        except (Interrupted, ScaleError):
            raise
        except Exception as error:  # an OOM or a bug in one run must not end the sweep
            progress.update(task, visible=False)
            record_failure(run, rid, describe(error), str(rt.device), rt.dtype_name)
            continue
        progress.update(task, visible=False)
        record(run, rid, result)
