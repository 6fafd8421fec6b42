"""A sweep in progress: the one object that the driver and the executors share.

`SweepRun` holds what every run of the sweep needs (its spec, data, output folder and
options, the Ctrl-C flag, each run's parameter counts, the progress of the runs being
trained), hands a batch of runs to the sweep's executor, and records each run as it
finishes: its results.csv row and curve.csv, its checkpoints freed. An executor is a
function of (sweep, runs) (driver.EXECUTORS) and runs each run by its `RunSpec.kind`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from scalecli.finite import finite_or_nan
from scalecli.results import read_rows, statuses, upsert_row, write_json
from scalecli.sweep import beyond, branches, checkpoint, records
from scalecli.sweep.interrupt import StopFlag
from scalecli.sweep.model import ParamCounts
from scalecli.sweep.spec import EvalRun, RunSpec, SweepSpec

Todo = tuple[RunSpec | EvalRun, str]  # a run (a training or an evaluation-only one), its run_id
Executor = Callable[["SweepRun", list[Todo]], None]
"""Trains a batch of runs (local_executor.run_here, ray_executor.sweep_on_ray), each by its
kind, and records each through the SweepRun as it finishes."""


@dataclass(frozen=True)
class SweepOptions:
    file: Path | None = None
    out: Path | None = None
    device: str | None = None
    tokens: str | None = None
    seeds: str | None = None
    executor: str | None = None
    ray_address: str | None = None
    dry_run: bool = False
    retry_failed: bool = False
    keep_checkpoints: bool = False
    trust_remote_code: bool = False
    data: str | None = None  # --data: the dataset, and a name for the sweep after it
    sets: tuple[str, ...] = ()  # --set KEY=VALUE, applied last
    as_json: bool = False  # --json with --dry-run: the plan as JSON on stdout
    optimal_params: beyond.OptimalParams | None = None
    """(results.csv, FLOP budgets) -> (N_opt, approach) per budget: the ladder's compute fit,
    for validate.flops. Passed in by cli.py, since sweep/ does not import fit/."""




@dataclass
class Bars:
    """The progress of one batch of runs: a bar of runs, a bar of FLOPs, one per run in
    flight. Without a terminal there are no bars, only a line per finished run."""

    progress: Progress
    runs: TaskID
    flops: TaskID
    console: Console  # where a finished run's line goes (above the bars)

    @classmethod
    def open(cls, console: Console, label: str, runs: int, flops: float) -> Bars:
        quiet = not console.is_terminal
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=console, disable=quiet,
            transient=False)
        return cls(progress, progress.add_task(f"{label} (runs)", total=runs, info=""),
                   progress.add_task(f"{label} (FLOPs)", total=max(1.0, flops), info=""),
                   console if quiet else progress.console)

    def finished(self, line: str, flops: float = 0.0) -> None:
        """A run is recorded: `line` printed, the bars moved on."""
        self.progress.advance(self.flops, flops)
        self.progress.advance(self.runs)
        self.console.print(line)

    def follow(self, description: str, total: int | None,
               run: RunSpec | None = None) -> tuple[TaskID, Callable[[int, float, float], None]]:
        """A bar for one run in flight and the on_step that moves it (with tokens/s when
        `run` is given)."""
        task = self.progress.add_task(description, total=total, info="")
        started = time.perf_counter()

        def on_step(step: int, loss: float, lr: float) -> None:
            rate = "" if run is None else (
                f"{step * run.train.batch_tokens / max(1e-9, time.perf_counter() - started):,.0f}"
                " tok/s  ")
            self.progress.update(task, completed=step, info=f"loss {loss:.3f}  {rate}lr {lr:.2e}")

        return task, on_step

    def hide(self, task: TaskID) -> None:
        self.progress.update(task, visible=False)


@dataclass
class SweepRun:
    """A sweep in progress, from its data being ready to its summary."""

    spec: SweepSpec
    data: Any  # scalecli.sweep.data.TokenData
    out_dir: Path
    options: SweepOptions
    console: Console
    flag: StopFlag  # Ctrl-C: finish the step, checkpoint and stop
    executor: Executor  # runtime.executor's (driver.EXECUTORS)
    counts: dict[str, ParamCounts] = field(default_factory=dict)  # by run_id
    bars: Bars | None = None  # the batch being trained

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "results.csv"

    @property
    def finished(self) -> set[str]:
        """Statuses that are final: a rerun skips these runs (--retry-failed trains failed
        and diverged ones again)."""
        return {"ok"} if self.options.retry_failed else {"ok", "diverged", "failed"}

    def say(self, line: str, style: str = "") -> None:
        self.console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))

    def train(self, runs: list[Todo], label: str, executor: Executor | None = None) -> None:
        """Train the runs not yet recorded on the sweep's executor (or `executor`), one
        progress bar for the batch, recording each run as it finishes."""
        for run, rid in runs:
            if not isinstance(run, EvalRun):  # a checkpoint's counts come from its config
                self.counts[rid] = run.counts(self.data.vocab_size)
        recorded = statuses(self.csv_path)
        todo = [(run, rid) for run, rid in runs if recorded.get(rid) not in self.finished]
        if not todo:
            return
        self.bars = Bars.open(self.console, label, len(todo),
                              sum(self.flops_of(run, rid) for run, rid in todo))
        with self.bars.progress:
            (executor or self.executor)(self, todo)

    def flops_of(self, run: RunSpec | EvalRun, rid: str) -> float:
        """The run's training FLOPs (an evaluation's forward FLOPs): its share of the FLOP
        bar, and what `compile: auto` weighs."""
        if isinstance(run, EvalRun):
            from scalecli.sweep.checkpoints import forward_flops

            return forward_flops(run, self.counts[rid], int(self.data.val.size))
        return self.counts[rid].flops_per_token * run.tokens

    def val_losses(self, ids: list[str]) -> list[float]:
        """The recorded val_loss of each run (NaN for one that is missing or not ok)."""
        rows = {r["run_id"]: r for r in read_rows(self.csv_path)}
        return [finite_or_nan(rows[rid]["val_loss"])
                if rows.get(rid, {}).get("status") == "ok" else float("nan") for rid in ids]

    def start(self, run: RunSpec, rid: str) -> Path:
        """The run's folder (absolute: a Ray worker's working folder is not ours), with
        its run.json."""
        run_dir = (self.out_dir / "runs" / rid).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "run.json",
                   {"run_id": rid, **asdict(run), **asdict(self.counts[rid])})
        return run_dir

    def record(self, run: RunSpec, rid: str, result: Any) -> None:
        """A run that trained (ok or diverged) into results.csv and curve.csv; its
        checkpoints, and a finished family's, are freed unless --keep-checkpoints."""
        run_dir = self.out_dir / "runs" / rid
        records.write_curve(run_dir, result.curve)
        upsert_row(self.csv_path, records.row(run, rid, self.data, result, self.counts[rid]))
        if not self.options.keep_checkpoints:
            checkpoint.remove(run_dir)
            if run.kind == "branch":
                fingerprint = self.data.fingerprint
                recorded = statuses(self.csv_path)
                done = all(s in recorded for s in branches.sibling_ids(run, fingerprint))
                branches.clean_up(self.out_dir / "runs", run, fingerprint, done)
        assert self.bars is not None
        self.bars.finished(records.run_line(run, result), self.flops_of(run, rid))

    def record_evaluation(self, run: EvalRun, rid: str, evaluation: records.Evaluation
                          ) -> None:
        """A measured checkpoint into results.csv, and the measurement's details (tokens
        and bytes scored, windows, how the first token was treated) into evaluation.json."""
        r = evaluation.result
        write_json(self.out_dir / "runs" / rid / "evaluation.json", {
            "reference": run.reference, "nll": r.nll, "tokens": r.tokens, "bytes": r.bytes,
            "context": r.context, "stride": r.stride, "dtype": r.dtype,
            "first_token": r.first_token, "tokenizer": evaluation.tokenizer})
        upsert_row(self.csv_path, records.row(run, rid, self.data, evaluation,
                                              self.counts[rid]))
        assert self.bars is not None
        self.bars.finished(records.evaluation_line(run, evaluation), self.flops_of(run, rid))

    def record_failure(self, run: RunSpec | EvalRun, rid: str, error: str,
                       where: tuple[str, str] | None = None) -> None:
        """A run that raised (an OOM, a lost node): a `failed` row; the sweep goes on.
        `where` is the (device, dtype) it ran on; None means the sweep's settings (a Ray
        worker's own are not known here)."""
        device, dtype = where or (self.spec.runtime.device, self.spec.runtime.dtype)
        row = records.row(run, rid, self.data, None, self.counts[rid])
        row.update({"status": "failed", "error": error, "device": device, "dtype": dtype})
        upsert_row(self.csv_path, row)
        assert self.bars is not None
        self.bars.finished(f"[red]{escape(run.model.name)}: failed: {escape(error)}[/]")
