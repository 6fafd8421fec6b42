"""The local executor: the sweep's runs one after another in this process, a progress bar each.

WSD branches (scalecli/sweep/branches.py) come family by family: the first branch of a
family that needs it trains the family's stable phase, then each branch starts from its
branch point.
"""

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
    from scalecli.sweep import branches
    from scalecli.sweep.hardware import resolve_runtime, should_compile
    from scalecli.sweep.train import train_run

    rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
    todo = branches.by_family(todo, data.fingerprint)
    stable: dict[str, Any] = {}  # family -> its stable phase's result, once trained here
    for index, (run, rid) in enumerate(todo):
        pause_point("before-run")  # test-only (scalecli/faults.py)
        if flag():  # Ctrl-C during the last run's final evaluation: stop here
            raise Interrupted("stopped between runs; run the same command again to resume")
        run_dir = start(run, rid)
        compile_model = should_compile(spec.runtime.compile, rt,
                                       counts[rid].flops_per_token * run.tokens)
        start_from = None
        if run.is_branch:
            family = run.family_id(data.fingerprint)
            if family not in stable:
                kin = [(r, i) for r, i in todo if r.is_branch
                       and r.family_id(data.fingerprint) == family]
                task = progress.add_task(f"{run.model.name} stable phase", total=None, info="")
                stable[family] = branches.train_stable(
                    kin, run_dir.parent, data, rt, train_run, should_stop=flag,
                    compile_model=compile_model,
                    on_step=lambda step, loss, lr, task=task: progress.update(
                        task, completed=step, info=f"loss {loss:.3f}  lr {lr:.2e}"))
                progress.update(task, visible=False)
            result = stable[family]
            if result is not None and result.status != "ok":  # it diverged: so does each branch
                record(run, rid, result)
                continue
            start_from = branches.branch_point(run_dir.parent, run, data.fingerprint)
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
                               compile_model=compile_model, start_from=start_from)
        except (Interrupted, ScaleError):
            raise
        except Exception as error:  # an OOM or a bug in one run must not end the sweep
            progress.update(task, visible=False)
            record_failure(run, rid, describe(error), str(rt.device), rt.dtype_name)
            continue
        progress.update(task, visible=False)
        record(run, rid, result)
