"""The local executor: the sweep's runs one after another in this process, a progress bar each.

Each run goes to the function of its kind (`RUN_KINDS`, keyed by `RunSpec.kind`). WSD
branches (scalecli/sweep/branches.py) come family by family: the first branch of a family
that needs it trains the family's stable phase, then each branch starts from its branch
point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalecli.errors import Interrupted, ScaleError, describe
from scalecli.faults import pause_point
from scalecli.sweep import branches
from scalecli.sweep.distributed import check_devices
from scalecli.sweep.hardware import Runtime, resolve_runtime, should_compile
from scalecli.sweep.spec import EvalRun, RunSpec
from scalecli.sweep.sweep_run import SweepRun, Todo
from scalecli.sweep.train import RunOptions, train_run


@dataclass
class Here:
    """The local executor's state over one batch of runs."""

    sweep: SweepRun
    rt: Runtime
    todo: list[Todo]  # family by family (branches.by_family)
    label: str = ""  # the bar of the run in hand: "s2 (3/8)"
    stable: dict[str, Any] = field(default_factory=dict)
    """A family's stable phase's result, once trained here (None: nothing was left to train)."""

    def options(self, run: RunSpec, rid: str, **more: Any) -> RunOptions:
        """Compile by the run's size (`compile: auto`), stop on Ctrl-C."""
        compile_model = should_compile(self.sweep.spec.runtime.compile, self.rt,
                                       self.sweep.flops_of(run, rid))
        return RunOptions(compile_model=compile_model, should_stop=self.sweep.flag,
                          workers=self.sweep.spec.runtime.workers_per_run, **more)


def run_here(sweep: SweepRun, todo: list[Todo]) -> None:
    """Train `todo` here, one run after another, each recorded as it finishes."""
    runtime = sweep.spec.runtime
    rt = resolve_runtime(runtime.device, runtime.dtype, runtime.threads)
    warning = check_devices(runtime)  # data-parallel workers: enough GPUs here?
    if warning:
        sweep.say(warning, "yellow")
    branched = any(run.kind == "branch" for run, _ in todo)
    here = Here(sweep, rt, branches.by_family(todo, sweep.data.fingerprint) if branched
                else list(todo))
    for index, (run, rid) in enumerate(here.todo):
        pause_point("before-run")  # test-only (scalecli/faults.py)
        if sweep.flag():  # Ctrl-C during the last run's final evaluation: stop here
            raise Interrupted("stopped between runs; run the same command again to resume")
        here.label = f"{run.model.name} ({index + 1}/{len(here.todo)})"
        RUN_KINDS[run.kind](here, run, rid, sweep.start(run, rid))


def train_one(here: Here, run: RunSpec, rid: str, run_dir: Path,
              start_from: Path | None = None) -> None:
    """Train one run (from `start_from`, a branch point, if given) and record it. A run
    that raises is recorded as failed and the sweep goes on."""
    sweep, rt = here.sweep, here.rt
    assert sweep.bars is not None
    task, on_step = sweep.bars.follow(here.label, run.steps, run)
    options = here.options(run, rid, on_step=on_step, start_from=start_from)
    try:
        result = train_run(run, sweep.data, run_dir, rt, options)
    except (Interrupted, ScaleError):
        raise
    except Exception as error:  # an OOM or a bug in one run must not end the sweep
        sweep.bars.hide(task)
        sweep.record_failure(run, rid, describe(error), (str(rt.device), rt.dtype_name))
        return
    sweep.bars.hide(task)
    sweep.record(run, rid, result)


def train_branch(here: Here, run: RunSpec, rid: str, run_dir: Path) -> None:
    """A WSD branch: its family's stable phase first (once), then its own cooldown from
    its branch point. A stable phase that diverged is every branch's result."""
    stable = _stable_phase(here, run, rid, run_dir.parent)
    if stable is not None and stable.status != "ok":
        here.sweep.record(run, rid, stable)
        return
    fingerprint = here.sweep.data.fingerprint
    train_one(here, run, rid, run_dir, branches.branch_point(run_dir.parent, run, fingerprint))


def _stable_phase(here: Here, run: RunSpec, rid: str, runs_dir: Path) -> Any:
    """The stable phase of `run`'s family, trained by the first of its branches to come."""
    fingerprint = here.sweep.data.fingerprint
    family = run.family_id(fingerprint)
    if family not in here.stable:
        kin = [(r, i) for r, i in here.todo
               if r.kind == "branch" and r.family_id(fingerprint) == family]
        assert here.sweep.bars is not None
        task, on_step = here.sweep.bars.follow(f"{run.model.name} stable phase", None)
        here.stable[family] = branches.train_stable(
            kin, runs_dir, here.sweep.data, here.rt, here.options(run, rid, on_step=on_step))
        here.sweep.bars.hide(task)
    return here.stable[family]


def evaluate_one(here: Here, run: EvalRun, rid: str, run_dir: Path) -> None:
    """Measure one checkpoint on the sweep's held-out data and record it. One that cannot
    be measured here (too large for the device, broken weights, a tokenizer of another
    model) is a failed row with its one line, and the sweep goes on."""
    from scalecli.sweep.checkpoints import evaluate

    sweep, rt = here.sweep, here.rt
    assert sweep.bars is not None
    task, _ = sweep.bars.follow(f"{here.label}: scoring the held-out text", None)
    try:
        evaluation = evaluate(run, sweep.out_dir, sweep.data, rt.device,
                              sweep.options.trust_remote_code)
    except Interrupted:
        raise
    except Exception as error:  # one checkpoint must not end the sweep
        sweep.bars.hide(task)
        line = str(error) if isinstance(error, ScaleError) else describe(error)
        sweep.record_failure(run, rid, line, (str(rt.device), ""))
        return
    sweep.bars.hide(task)
    sweep.record_evaluation(run, rid, evaluation)


# A run's kind (RunSpec.kind) -> how this executor runs it, given (state, run, run_id, folder).
RUN_KINDS: dict[str, Callable[[Here, Any, str, Path], None]] = {
    "train": train_one,
    "branch": train_branch,
    "evaluate": evaluate_one,
}
