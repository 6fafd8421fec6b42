"""`scalecli sweep`: expand a sweep file into runs, train the missing ones, record each.

Nothing already computed is lost. Rows go into results.csv by atomic rename; a rerun
skips every run whose run_id is recorded as ok and resumes an interrupted run from its
checkpoint. The first Ctrl-C finishes the current step, checkpoints and exits with 130;
a second one exits at once (every file is written by rename, so that is safe too).
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from scalecli.console import output_console
from scalecli.errors import Interrupted, ScaleError
from scalecli.locate import mark_last
from scalecli.results import (
    LR_SEARCH_RECORD,
    atomic_write_text,
    read_rows,
    statuses,
    write_json,
    write_rows,
)
from scalecli.sweep import beyond, records
from scalecli.sweep.interrupt import StopFlag, sigint
from scalecli.sweep.lock import folder_lock
from scalecli.sweep.parse import load_spec
from scalecli.sweep.plan import dry_run, say_epochs
from scalecli.sweep.spec import RunSpec, SweepSpec, design, expand
from scalecli.sweep.sweep_run import Executor, SweepOptions, SweepRun, Todo


def _local(sweep: SweepRun, todo: list[Todo]) -> None:
    from scalecli.sweep.local_executor import run_here  # imports torch: only when training

    run_here(sweep, todo)


def _ray(sweep: SweepRun, todo: list[Todo]) -> None:
    from scalecli.sweep.ray_executor import sweep_on_ray

    sweep_on_ray(sweep, todo)


# runtime.executor -> the function that trains a batch of runs; each runs a run by its kind.
EXECUTORS: dict[str, Executor] = {"local": _local, "ray": _ray}


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
    resolved = _checkpoints(spec, out_dir, options, console)
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
        for stale in out_dir.rglob(".*.tmp-*"):  # a killed atomic_write_text's; we hold the lock
            stale.unlink(missing_ok=True)
        if spec.runtime.executor == "ray":
            from scalecli.sweep.ray_executor import join_early

            join_early(spec.runtime, status=lambda m: console.print(f"[dim]{escape(m)}[/]"))
        data = _prepare(spec, options, console, flag)
        sweep = SweepRun(spec, data, out_dir, options, console, flag,
                         EXECUTORS[spec.runtime.executor])
        return _run(sweep, raw, resolved)


def _checkpoints(spec: SweepSpec, out_dir: Path, options: SweepOptions,
                 console: Console) -> list[Any]:
    """The sweep's checkpoints, each found and counted before anything is written or
    trained: one that cannot resolve is one line and exit 2 (`checkpoints.resolve_all`)."""
    if not spec.checkpoints:
        return []
    from scalecli.sweep.checkpoints import resolve_all

    with console.status("reading the checkpoints' configs"):
        return resolve_all(spec, out_dir, options.trust_remote_code)


def _run(sweep: SweepRun, raw: dict[str, Any], resolved: list[Any]) -> int:
    """Write the inputs, train the sizes (if any), measure the checkpoints (if any)."""
    _write_inputs(sweep, raw)
    ids = _train_sizes(sweep) if sweep.spec.models else []
    if resolved:
        ids += _evaluate(sweep, resolved)
    return records.summary(sweep.console, sweep.csv_path, ids)


def _evaluate(sweep: SweepRun, resolved: list[Any]) -> list[str]:
    """The evaluation-only runs, after the sizes (a checkpoint may be one of them). They
    are forward passes of models that the driver has found: they run here, in this
    process, whatever runtime.executor says."""
    from scalecli.sweep.checkpoints import evaluation_runs

    evals = _with_ids(sweep, evaluation_runs(sweep.spec, resolved))
    for (_, rid), checkpoint in zip(evals, resolved, strict=True):
        sweep.counts[rid] = checkpoint.counts
    recorded = statuses(sweep.csv_path)
    done = sum(recorded.get(rid) in sweep.finished for _, rid in evals)
    data = sweep.data
    sweep.console.print(
        f"[bold]{escape(sweep.spec.name)}[/]: {len(evals)} checkpoints, {done} already "
        f"recorded, {len(evals) - done} to measure  [dim]held-out: {data.val.size:,} tokens "
        f"of {escape(data.tokenizer)}, {data.val_bytes:,} bytes[/]")
    sweep.train(evals, "evaluate", executor=EXECUTORS["local"])
    return [rid for _, rid in evals]


def _train_sizes(sweep: SweepRun) -> list[str]:
    """Search the lr, then train the ladder and its validation runs; their run_ids."""
    spec = sweep.spec
    auto_lr = _search_lr(sweep) if spec.train.lr_auto else None
    runs = expand(spec, sweep.data.vocab_size, auto_lr)
    for line in design(spec, sweep.data.vocab_size)[1]:
        sweep.say(line, "yellow")
    # Validation runs (`beyond`): checked before the ladder trains, trained after it.
    beyond.check_past(spec, runs, sweep.data.vocab_size)
    if spec.validate.flops and sweep.options.optimal_params is None:
        raise ScaleError("validate.flops needs the fit stage to choose its sizes; run it "
                         "through `scalecli sweep`")
    valid, notes = beyond.model_runs(spec, sweep.data.vocab_size, auto_lr)
    ladder, validation = _with_ids(sweep, runs), _with_ids(sweep, valid)
    _announce(sweep, ladder, validation)
    sweep.train(ladder, "sweep")
    for line in notes:
        sweep.say(line, "yellow")
    sweep.train(validation, "validation")
    valid_ids = [rid for _, rid in validation]
    if spec.validate.flops:
        more = _with_ids(sweep, _compute_validation(sweep, [rid for _, rid in ladder], auto_lr))
        sweep.train(more, "validation (flops)")
        valid_ids += [rid for _, rid in more]
    return [rid for _, rid in ladder] + list(dict.fromkeys(valid_ids))


def _prepare(spec: SweepSpec, options: SweepOptions, console: Console, flag: StopFlag) -> Any:
    """The sweep's data, tokenised (or read from the cache)."""
    from scalecli.sweep.data import prepare

    with console.status("preparing data", spinner="dots") as status:
        data = prepare(spec.data, spec.eval.tokens, options.trust_remote_code,
                       status=lambda m: status.update(m))
    if flag():
        raise Interrupted("stopped before training; nothing to resume yet")
    console.print(f"[dim]data: {escape(data.reading)}[/]")
    return data


def _write_inputs(sweep: SweepRun, raw: dict[str, Any]) -> None:
    """What the output folder keeps of the inputs: the sweep file and the data's summary."""
    atomic_write_text(sweep.out_dir / "sweep.yaml", yaml.safe_dump(raw, sort_keys=False))
    mark_last(sweep.out_dir)  # so that a bare `scalecli fit` and `report` read this sweep
    summary = sweep.data.summary()
    if sweep.spec.checkpoints:
        from scalecli.sweep.checkpoints import text_bytes

        # A checkpoint with another tokenizer scores the held-out text whole: its first
        # token too, so these bytes (val_bytes are the sweep's own runs' divisor).
        summary["text_bytes"] = text_bytes(sweep.data)
    if not sweep.spec.models:  # nothing trains on this corpus: its training split is unused
        summary.pop("train_tokens")
    write_json(sweep.out_dir / "data.json", summary)


def _search_lr(sweep: SweepRun) -> dict[int, float]:
    """`lr: auto`: the lr per budget, chosen by probes trained as ordinary runs."""
    from scalecli.sweep.lr_search import search

    auto_lr, probes = search(sweep.spec, sweep.data.vocab_size, sweep.data.fingerprint,
                             partial(sweep.train, label="lr search"), sweep.val_losses,
                             partial(sweep.say, style="bold"))
    write_json(sweep.out_dir / LR_SEARCH_RECORD, {"probes": probes, "chosen": [
        {"budget_index": i, "lr": lr} for i, lr in sorted(auto_lr.items())]})
    return auto_lr


def _with_ids(sweep: SweepRun, runs: list[RunSpec]) -> list[Todo]:
    return [(run, run.run_id(sweep.data.fingerprint)) for run in runs]


def _announce(sweep: SweepRun, ladder: list[Todo], validation: list[Todo]) -> None:
    """What the sweep holds, what is recorded already, and how often it repeats data."""
    spec, data = sweep.spec, sweep.data
    recorded = statuses(sweep.csv_path)
    planned = [rid for _, rid in ladder + validation]
    skipped = sum(recorded.get(rid) in sweep.finished for rid in planned)
    more = f" (with {len(validation)} validation runs)" if validation else ""
    sweep.console.print(
        f"[bold]{escape(spec.name)}[/]: {len(planned)} runs{more}, {skipped} already "
        f"recorded, {len(planned) - skipped} to train  [dim]data {data.fingerprint}: "
        f"{data.train.size:,} train / {data.val.size - 1:,} held-out tokens[/]")
    if spec.validate.flops:
        sweep.console.print(f"validate.flops: {len(spec.validate.flops)} budget(s) past the "
                            "ladder; their sizes are chosen once the ladder is trained and "
                            "fitted")
    say_epochs(max(run.tokens for run, _ in ladder + validation), int(data.train.size),
               sweep.console)


def _compute_validation(sweep: SweepRun, ladder_ids: list[str],
                        auto_lr: dict[int, float] | None) -> list[RunSpec]:
    """validate.flops' runs. The compute fit sees this sweep's ladder rows alone (a copy of
    them), so that older rows of results.csv and the validation runs do not move N_opt: a
    rerun then chooses the same sizes, and trains nothing new."""
    spec, optimal_params = sweep.spec, sweep.options.optimal_params
    assert optimal_params is not None  # checked before the ladder trained
    wanted = set(ladder_ids)
    rows = [r for r in read_rows(sweep.csv_path) if r.get("run_id") in wanted]
    with tempfile.TemporaryDirectory(prefix="scalecli-ladder-") as folder:
        ladder_csv = Path(folder) / "results.csv"
        write_rows(ladder_csv, rows)
        with sweep.console.status("fitting the ladder's compute-optimal N for validate.flops"):
            optima = optimal_params(ladder_csv, list(spec.validate.flops))
    runs, lines = beyond.compute_runs(spec, sweep.data.vocab_size, optima, auto_lr)
    for line in lines:
        sweep.say(line, "bold")
    return runs
