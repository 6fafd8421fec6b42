"""`scalecli sweep`: expand a sweep file into runs, train the missing ones, record each.

Nothing already computed is lost. Rows go into results.csv by atomic rename; a rerun
skips every run whose run_id is recorded as ok and resumes an interrupted run from its
checkpoint. The first Ctrl-C finishes the current step, checkpoints and exits with 130;
a second one exits at once (every file is written by rename, so that is safe too).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from scalecli.console import output_console
from scalecli.errors import Interrupted, ScaleError
from scalecli.locate import mark_last
from scalecli.results import (
    atomic_write_text,
    read_rows,
    statuses,
    upsert_row,
    write_json,
    write_rows,
)
from scalecli.sweep import beyond, branches, checkpoint, records
from scalecli.sweep.interrupt import StopFlag, sigint
from scalecli.sweep.lock import folder_lock
from scalecli.sweep.parse import load_spec
from scalecli.sweep.plan import dry_run, say_epochs
from scalecli.sweep.spec import RunSpec, SweepSpec, design, expand


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


def _out_dir(spec: SweepSpec) -> Path:
    root = Path(spec.out)
    if root.exists() and not root.is_dir():
        raise ScaleError(f"out: {root} is a file, not a folder; pass --out with a folder path")
    folder = root / spec.name
    if folder.exists() and not folder.is_dir():
        raise ScaleError(f"out: {folder} is a file, not a folder; pass --out with a folder path")
    return folder


def run_sweep(options: SweepOptions) -> int:
    console = output_console()  # not a terminal: no bars, plain lines
    spec, raw = load_spec(options.file, out=str(options.out) if options.out else None,
                          device=options.device, tokens=options.tokens, seeds=options.seeds,
                          executor=options.executor, ray_address=options.ray_address,
                          data=options.data, sets=options.sets)
    if options.dry_run and options.as_json:
        from scalecli.sweep.plan_json import dry_run_json

        return dry_run_json(spec, options.trust_remote_code)
    if options.dry_run:
        return dry_run(spec, console, options.trust_remote_code)
    out_dir = _out_dir(spec)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ScaleError(f"cannot create {out_dir}: {error.strerror or error}; "
                         "pass --out with a writable folder") from None
    flag = StopFlag(console, "cancelling the runs in flight; finished runs are kept"
                    if spec.runtime.executor == "ray"
                    else "finishing this step and saving a checkpoint")
    warn = lambda m: console.print(f"[yellow]{escape(m)}[/]")  # noqa: E731
    with folder_lock(out_dir, warn=warn), sigint(flag):
        return _run(spec, raw, out_dir, options, console, flag)


def _run(spec: SweepSpec, raw: dict[str, Any], out_dir: Path, options: SweepOptions,
         console: Console, flag: StopFlag) -> int:
    from scalecli.sweep.data import prepare

    for stale in out_dir.rglob(".*.tmp-*"):  # left by a killed atomic_write_text; we hold the lock
        stale.unlink(missing_ok=True)
    if spec.runtime.executor == "ray":
        from scalecli.sweep.ray_executor import join_early

        join_early(spec.runtime, status=lambda m: console.print(f"[dim]{escape(m)}[/]"))
    with console.status("preparing data", spinner="dots") as status:
        data = prepare(spec.data, spec.eval.tokens, options.trust_remote_code,
                       status=lambda m: status.update(m))
    if flag():
        raise Interrupted("stopped before training; nothing to resume yet")
    console.print(f"[dim]data: {escape(data.reading)}[/]")
    atomic_write_text(out_dir / "sweep.yaml", yaml.safe_dump(raw, sort_keys=False))
    mark_last(out_dir)  # so that a bare `scalecli fit` and `report` read this sweep
    write_json(out_dir / "data.json", data.summary())
    csv_path = out_dir / "results.csv"
    # Statuses already final: a rerun skips these runs (--retry-failed trains failed ones again)
    finished = {"ok"} if options.retry_failed else {"ok", "diverged", "failed"}
    counts: dict[str, Any] = {}

    def train_batch(runs: list[tuple[RunSpec, str]], label: str) -> None:
        """Train the runs not yet recorded, one progress bar for the batch."""
        for run, rid in runs:
            counts[rid] = run.counts(data.vocab_size)
        recorded = statuses(csv_path)
        todo = [(run, rid) for run, rid in runs if recorded.get(rid) not in finished]
        if todo:
            _train(spec, data, todo, counts, out_dir, csv_path, options, console, flag, label)

    auto_lr = None
    if spec.train.lr_auto:
        from scalecli.sweep.lr_search import search

        def losses_of(ids: list[str]) -> list[float]:
            rows = {r["run_id"]: r for r in read_rows(csv_path)}
            return [float(rows[rid]["val_loss"]) if rows.get(rid, {}).get("status") == "ok"
                    else math.nan for rid in ids]

        auto_lr, probes = search(spec, data.vocab_size, data.fingerprint,
                                 lambda runs: train_batch(runs, "lr search"), losses_of,
                                 lambda line: console.print(f"[bold]{escape(line)}[/]"))
        write_json(out_dir / "lr_search.json", {"probes": probes, "chosen": [
            {"budget_index": i, "lr": lr} for i, lr in sorted(auto_lr.items())]})
    runs = expand(spec, data.vocab_size, auto_lr)
    for line in design(spec, data.vocab_size)[1]:
        console.print(f"[yellow]{escape(line)}[/]")
    # Validation runs (`beyond`): checked before the ladder trains, trained after it.
    beyond.check_past(spec, runs, data.vocab_size)
    if spec.validate.flops and options.optimal_params is None:
        raise ScaleError("validate.flops needs the fit stage to choose its sizes; run it "
                         "through `scalecli sweep`")
    valid, notes = beyond.model_runs(spec, data.vocab_size, auto_lr)
    ids = [run.run_id(data.fingerprint) for run in runs]
    valid_ids = [run.run_id(data.fingerprint) for run in valid]
    recorded = statuses(csv_path)
    planned = ids + valid_ids
    skipped = sum(recorded.get(rid) in finished for rid in planned)
    more = f" (with {len(valid)} validation runs)" if valid else ""
    console.print(f"[bold]{escape(spec.name)}[/]: {len(planned)} runs{more}, {skipped} already "
                  f"recorded, {len(planned) - skipped} to train  [dim]data {data.fingerprint}: "
                  f"{data.train.size:,} train / {data.val.size - 1:,} held-out tokens[/]")
    if spec.validate.flops:
        console.print(f"validate.flops: {len(spec.validate.flops)} budget(s) past the ladder; "
                      "their sizes are chosen once the ladder is trained and fitted")
    say_epochs(max(run.tokens for run in runs + valid), int(data.train.size), console)
    train_batch(list(zip(runs, ids, strict=True)), "sweep")
    for line in notes:
        console.print(f"[yellow]{escape(line)}[/]")
    train_batch(list(zip(valid, valid_ids, strict=True)), "validation")
    if spec.validate.flops:
        more_runs = _compute_validation(spec, data, csv_path, ids, auto_lr,
                                        options.optimal_params, console)  # type: ignore[arg-type]
        more_ids = [run.run_id(data.fingerprint) for run in more_runs]
        train_batch(list(zip(more_runs, more_ids, strict=True)), "validation (flops)")
        valid_ids += more_ids
    return records.summary(console, csv_path, ids + list(dict.fromkeys(valid_ids)))


def _compute_validation(spec: SweepSpec, data: Any, csv_path: Path, ladder_ids: list[str],
                        auto_lr: dict[int, float] | None, optimal_params: beyond.OptimalParams,
                        console: Console) -> list[RunSpec]:
    """validate.flops' runs. The compute fit sees this sweep's ladder rows alone (a copy of
    them), so that older rows of results.csv and the validation runs do not move N_opt: a
    rerun then chooses the same sizes, and trains nothing new."""
    wanted = set(ladder_ids)
    rows = [r for r in read_rows(csv_path) if r.get("run_id") in wanted]
    with tempfile.TemporaryDirectory(prefix="scalecli-ladder-") as folder:
        ladder_csv = Path(folder) / "results.csv"
        write_rows(ladder_csv, rows)
        with console.status("fitting the ladder's compute-optimal N for validate.flops"):
            optima = optimal_params(ladder_csv, list(spec.validate.flops))
    runs, lines = beyond.compute_runs(spec, data.vocab_size, optima, auto_lr)
    for line in lines:
        console.print(f"[bold]{escape(line)}[/]")
    return runs


def _train(spec: SweepSpec, data: Any, todo: list[tuple[RunSpec, str]], counts: dict,
           out_dir: Path, csv_path: Path, options: SweepOptions, console: Console,
           flag: StopFlag, label: str) -> None:
    """Train `todo` on the sweep's executor, recording each run as it finishes."""
    quiet = not console.is_terminal
    todo_flops = sum(counts[rid].flops_per_token * run.tokens for run, rid in todo)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"), console=console, disable=quiet, transient=False,
    )
    overall = progress.add_task(f"{label} (runs)", total=len(todo), info="")
    flops_task = progress.add_task(f"{label} (FLOPs)", total=max(1.0, todo_flops), info="")

    def show(line: str) -> None:
        progress.advance(overall)
        (console if quiet else progress.console).print(line)

    def record(run: RunSpec, rid: str, result: Any) -> None:
        """A run that trained (ok or diverged) into results.csv and curve.csv."""
        run_dir = out_dir / "runs" / rid
        records.write_curve(run_dir, result.curve)
        upsert_row(csv_path, records.row(run, rid, data, result, counts[rid]))
        if not options.keep_checkpoints:
            checkpoint.remove(run_dir)
            if run.is_branch:
                recorded = statuses(csv_path)
                done = all(s in recorded for s in branches.sibling_ids(run, data.fingerprint))
                branches.clean_up(out_dir / "runs", run, data.fingerprint, done)
        progress.advance(flops_task, counts[rid].flops_per_token * run.tokens)
        show(records.run_line(run, result))

    def record_failure(run: RunSpec, rid: str, error: str, device: str, dtype: str) -> None:
        """A run that raised (an OOM, a lost node): a `failed` row; the sweep goes on."""
        row = records.row(run, rid, data, None, counts[rid])
        row.update({"status": "failed", "error": error, "device": device, "dtype": dtype})
        upsert_row(csv_path, row)
        show(f"[red]{escape(run.model.name)}: failed: {escape(error)}[/]")

    def start(run: RunSpec, rid: str) -> Path:
        run_dir = (out_dir / "runs" / rid).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "run.json", {"run_id": rid, **asdict(run), **asdict(counts[rid])})
        return run_dir

    on_ray = spec.runtime.executor == "ray"
    with progress:
        if on_ray:
            _run_on_ray(spec, data, [(run, rid, start(run, rid)) for run, rid in todo],
                        counts, out_dir, record, record_failure, flag, console)
        else:
            from scalecli.sweep.local_executor import run_here

            run_here(spec, data, todo, counts, start, record, record_failure, flag, progress)


def _run_on_ray(spec: SweepSpec, data: Any, todo: list[tuple[RunSpec, str, Path]],
                counts: dict, out_dir: Path, record: Callable[..., None],
                record_failure: Callable[..., None], flag: StopFlag, console: Console) -> None:
    """The Ray executor: every run a Ray task, recorded here as each one finishes."""
    from scalecli.sweep.ray_executor import Job, Outcome, run_on_ray

    def on_done(outcome: Outcome) -> None:
        job = outcome.job
        if outcome.result is None:  # the worker's device and dtype are unknown here
            record_failure(job.run, job.run_id, outcome.error, spec.runtime.device,
                           spec.runtime.dtype)
        else:
            record(job.run, job.run_id, outcome.result)

    jobs = [Job(run, rid, run_dir, counts[rid].flops_per_token * run.tokens)
            for run, rid, run_dir in todo]
    if jobs:
        console.print(f"submitting {len(jobs)} runs to Ray")
        run_on_ray(jobs, data, out_dir, spec.runtime, on_done=on_done, should_stop=flag,
                   status=lambda m: console.print(f"[dim]{escape(m)}[/]"))
