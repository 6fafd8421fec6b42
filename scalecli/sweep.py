"""`scalecli sweep`: expand a sweep file into runs, train the missing ones, record each.

Nothing already computed is lost. Rows go into results.csv by atomic rename; a rerun
skips every run whose run_id is recorded as ok and resumes an interrupted run from its
checkpoint. The first Ctrl-C finishes the current step, checkpoints and exits with 130;
a second one exits at once (every file is written by rename, so that is safe too).
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from scalecli import __version__, checkpoint
from scalecli.console import output_console
from scalecli.errors import Interrupted, ScaleError, describe
from scalecli.faults import pause_point
from scalecli.lock import folder_lock
from scalecli.model import DEFAULT_ACTIVATION, closed_form_counts
from scalecli.results import atomic_write_text, statuses, upsert_row, write_json
from scalecli.spec import RunSpec, SweepSpec, expand, load_spec


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


class StopFlag:
    """Ctrl-C once: stop after this step. Twice: stop now."""

    def __init__(self, console: Console, first: str) -> None:
        self.count = 0
        self.console = console
        self.first = first  # what the first Ctrl-C does, for the user to read

    def __call__(self) -> bool:
        return self.count > 0

    def handle(self, _signum: int, _frame: Any) -> None:
        self.count += 1
        if self.count >= 2:
            # Every file is written by atomic rename, so leaving now corrupts nothing.
            os.write(2, b"\nsecond Ctrl-C: exiting now; rerun the same command to resume\n")
            os._exit(130)
        self.console.print(f"[yellow]Ctrl-C: {self.first} (press again to exit at once)[/]")


@contextmanager
def _sigint(flag: StopFlag) -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, flag.handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _counts(run: RunSpec, vocab_size: int) -> Any:
    return closed_form_counts(n_layer=run.model.n_layer, n_embd=run.model.n_embd,
                              vocab_size=vocab_size, n_ctx=run.data.context,
                              n_inner=dict(run.model.extra).get("n_inner"))


def _fmt(n: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def _out_dir(spec: SweepSpec) -> Path:
    root = Path(spec.out)
    if root.exists() and not root.is_dir():
        raise ScaleError(f"out: {root} is a file, not a folder; pass --out with a folder path")
    folder = root / spec.name
    if folder.exists() and not folder.is_dir():
        raise ScaleError(f"out: {folder} is a file, not a folder; pass --out with a folder path")
    return folder


def dry_run(spec: SweepSpec, console: Console, trust_remote_code: bool) -> int:
    from scalecli.data import vocab_size_of
    from scalecli.hardware import resolve_runtime

    vocab = vocab_size_of(spec.data, trust_remote_code)
    runs = expand(spec, vocab)
    try:
        rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
        where = rt.device.type
    except ScaleError:
        # Planning a GPU sweep on a machine without one: counts yes, time unknown.
        rt, where = None, f"{spec.runtime.device} (not here: no time estimate)"
    rate_of, how = _estimated_rate(runs, vocab, rt, console) if rt else (None, "")
    table = Table(title=f"{spec.name}: {len(runs)} runs (vocab {vocab}, context "
                        f"{spec.data.context}) on {where}")
    for column in ("model", "L", "d", "heads", "params", "N (non-emb.)", "tokens", "steps",
                   "lr", "seed", "FLOPs", "est. time"):
        table.add_column(column, justify="right" if column != "model" else "left")
    total_flops = total_s = 0.0
    for run in runs:
        c = _counts(run, vocab)
        flops = c.flops_per_token * run.tokens
        seconds = flops / rate_of(c.flops_per_token) if rate_of else None
        total_flops += flops
        total_s += seconds or 0.0
        table.add_row(run.model.name, str(run.model.n_layer), str(run.model.n_embd),
                      str(run.model.n_head), _fmt(c.params), _fmt(c.params_non_embedding),
                      _fmt(run.tokens), str(run.steps), f"{run.lr:.3g}", str(run.seed),
                      _fmt(flops), _duration(seconds) if seconds is not None else "-")
    console.print(table)
    if rate_of:
        console.print(f"total: {_fmt(total_flops)}FLOPs, about {_duration(total_s)} of training "
                      f"({how}; evaluation and data preparation not included)")
    else:
        console.print(f"total: {_fmt(total_flops)}FLOPs")
    return 0


PROBE_MAX_STEP_S = 2.0  # probe a size only if a step is this quick by the peak-based guess


def _estimated_rate(runs: list[RunSpec], vocab: int, rt: Any, console: Console
                    ) -> tuple[Callable[[float], float], str]:
    """FLOP/s as a function of FLOPs per token, for the time column of a dry run.

    Small models use far less of the matmul peak than large ones (on a 2-core CPU, 7% for
    the default s1 and 35% for s5), so a fixed fraction misjudges a ladder. Where a step is
    quick, the smallest and largest shapes train a few steps here, and the time per token
    is taken as affine in FLOPs per token between them (a fixed cost per token plus
    compute): on the default ladder this put every size within 20% of its measured time
    and the whole ladder within 5%.
    Else the estimate is 40% of the measured matmul peak.
    """
    from scalecli.hardware import assumed_rate
    from scalecli.train import probe_tokens_per_s

    guess = assumed_rate(rt)
    by_cost = sorted(runs, key=lambda r: _counts(r, vocab).flops_per_token)
    ends = [by_cost[0], by_cost[-1]] if len(by_cost) > 1 else by_cost[:1]
    step_s = [_counts(r, vocab).flops_per_token * r.train.batch_tokens / guess for r in ends]
    if max(step_s) > PROBE_MAX_STEP_S:
        return (lambda _fpt: guess), (f"at {_fmt(guess)}FLOP/s, 40% of this machine's "
                                       "measured matmul peak")
    points = []
    with console.status("timing a few training steps of the smallest and largest size"):
        for run in dict.fromkeys(ends):  # one probe if the ends are the same run
            fpt = _counts(run, vocab).flops_per_token
            points.append((fpt, 1.0 / probe_tokens_per_s(run, vocab, rt)))  # s per token
    (f0, t0), (f1, t1) = points[0], points[-1]

    def rate(fpt: float) -> float:
        t = t0 if f1 == f0 else t0 + (t1 - t0) * (fpt - f0) / (f1 - f0)
        if t <= 0:  # far outside the probed range, with a negative slope: scale by FLOPs
            t = t1 * fpt / f1
        return fpt / t

    names = " and ".join(dict.fromkeys(r.model.name for r in ends))
    return rate, f"speed measured on {names} here, interpolated between them"


def _row(run: RunSpec, run_id: str, data: Any, result: Any, counts: Any) -> dict[str, Any]:
    val = result.val if result is not None else None
    row: dict[str, Any] = {
        "run_id": run_id, "sweep": run.sweep, "model": run.model.name,
        "n_layer": run.model.n_layer, "n_embd": run.model.n_embd, "n_head": run.model.n_head,
        "n_ctx": run.data.context, "vocab_size": data.vocab_size,
        "activation_function": dict(run.model.extra).get("activation_function",
                                                         DEFAULT_ACTIVATION),
        "params": counts.params, "params_non_embedding": counts.params_non_embedding,
        "tokens": run.tokens, "flops_per_token": counts.flops_per_token,
        "flops": counts.flops_per_token * run.tokens, "flops_6nd": 6 * counts.params * run.tokens,
        "lr": run.lr, "batch_tokens": run.train.batch_tokens, "steps": run.steps,
        "seed": run.seed, "data_fingerprint": data.fingerprint, "tokenizer": run.data.tokenizer,
        "scalecli_version": __version__,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if result is None:
        return row
    row.update({
        "train_loss": result.train_loss, "tokens_per_s": round(result.tokens_per_s, 1),
        "mfu": round(result.mfu, 4), "non_compute_frac": round(result.non_compute_frac, 4),
        "wall_s": round(result.wall_s, 2), "status": result.status, "error": result.error,
        "device": result.device, "dtype": result.dtype, "compiled": result.compiled,
    })
    if val is not None:
        row.update({"val_loss": val.loss, "val_ppl": val.ppl,
                    "val_bpb": val.bpb(data.val_bytes)})
    return row


def _write_curve(run_dir: Path, curve: list[dict[str, Any]]) -> None:
    header = ["step", "tokens", "flops", "lr", "train_loss", "val_loss", "elapsed_s"]
    lines = [",".join(header)]
    for point in curve:
        lines.append(",".join("" if point.get(k) is None else repr(point[k]) if isinstance(
            point[k], float) else str(point[k]) for k in header))
    atomic_write_text(run_dir / "curve.csv", "\n".join(lines) + "\n")


def run_sweep(options: SweepOptions) -> int:
    console = output_console()  # not a terminal: no bars, plain lines
    spec, raw = load_spec(options.file, out=str(options.out) if options.out else None,
                          device=options.device, tokens=options.tokens, seeds=options.seeds,
                          executor=options.executor, ray_address=options.ray_address)
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
    with folder_lock(out_dir, warn=lambda m: console.print(f"[yellow]{m}[/]")), _sigint(flag):
        return _run(spec, raw, out_dir, options, console, flag)


def _run(spec: SweepSpec, raw: dict[str, Any], out_dir: Path, options: SweepOptions,
         console: Console, flag: StopFlag) -> int:
    from scalecli.data import prepare

    for stale in out_dir.rglob(".*.tmp-*"):  # left by a killed atomic_write_text; we hold the lock
        stale.unlink(missing_ok=True)
    quiet = not console.is_terminal
    if spec.runtime.executor == "ray":
        from scalecli.remote import join_early

        join_early(spec.runtime, status=lambda m: console.print(f"[dim]{m}[/]"))
    with console.status("preparing data", spinner="dots") as status:
        data = prepare(spec.data, spec.eval.tokens, options.trust_remote_code,
                       status=lambda m: status.update(m))
    if flag():
        raise Interrupted("stopped before training; nothing to resume yet")
    atomic_write_text(out_dir / "sweep.yaml", yaml.safe_dump(raw, sort_keys=False))
    write_json(out_dir / "data.json", data.summary())
    runs = expand(spec, data.vocab_size)
    csv_path = out_dir / "results.csv"
    recorded = statuses(csv_path)
    ids = [run.run_id(data.fingerprint) for run in runs]
    redo = {"ok"} if options.retry_failed else {"ok", "diverged", "failed"}
    todo = [(run, rid) for run, rid in zip(runs, ids, strict=True) if recorded.get(rid) not in redo]
    skipped = len(runs) - len(todo)
    console.print(f"[bold]{spec.name}[/]: {len(runs)} runs, {skipped} already recorded, "
                  f"{len(todo)} to train  [dim]data {data.fingerprint}: "
                  f"{data.train.size:,} train / {data.val.size - 1:,} held-out tokens[/]")

    counts = {rid: _counts(run, data.vocab_size) for run, rid in zip(runs, ids, strict=True)}
    todo_flops = sum(counts[rid].flops_per_token * run.tokens for run, rid in todo)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"), console=console, disable=quiet, transient=False,
    )
    overall = progress.add_task("sweep (runs)", total=len(todo), info="")
    flops_task = progress.add_task("sweep (FLOPs)", total=max(1.0, todo_flops), info="")

    def show(line: str) -> None:
        progress.advance(overall)
        (console if quiet else progress.console).print(line)

    def record(run: RunSpec, rid: str, result: Any) -> None:
        """A run that trained (ok or diverged) into results.csv and curve.csv."""
        run_dir = out_dir / "runs" / rid
        _write_curve(run_dir, result.curve)
        upsert_row(csv_path, _row(run, rid, data, result, counts[rid]))
        if not options.keep_checkpoints:
            checkpoint.remove(run_dir)
        progress.advance(flops_task, counts[rid].flops_per_token * run.tokens)
        show(_run_line(run, result))

    def record_failure(run: RunSpec, rid: str, error: str, device: str, dtype: str) -> None:
        """A run that raised (an OOM, a lost node): a `failed` row; the sweep goes on."""
        row = _row(run, rid, data, None, counts[rid])
        row.update({"status": "failed", "error": error, "device": device, "dtype": dtype})
        upsert_row(csv_path, row)
        show(f"[red]{run.model.name}: failed: {error}[/]")

    def start(run: RunSpec, rid: str) -> Path:
        run_dir = (out_dir / "runs" / rid).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "run.json", {"run_id": rid, **asdict(run), **asdict(counts[rid])})
        return run_dir

    with progress:
        if spec.runtime.executor == "ray":
            _run_on_ray(spec, data, [(run, rid, start(run, rid)) for run, rid in todo],
                        counts, out_dir, record, record_failure, flag, console)
        else:
            _run_here(spec, data, todo, counts, start, record, record_failure, flag, progress)
    return _summary(console, csv_path, ids)


def _run_here(spec: SweepSpec, data: Any, todo: list[tuple[RunSpec, str]], counts: dict,
              start: Callable[[RunSpec, str], Path], record: Callable[..., None],
              record_failure: Callable[..., None], flag: StopFlag, progress: Progress) -> None:
    """The local executor: one run after another in this process, a progress bar each."""
    from scalecli.hardware import resolve_runtime, should_compile
    from scalecli.train import train_run

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


def _run_on_ray(spec: SweepSpec, data: Any, todo: list[tuple[RunSpec, str, Path]],
                counts: dict, out_dir: Path, record: Callable[..., None],
                record_failure: Callable[..., None], flag: StopFlag, console: Console) -> None:
    """The Ray executor: every run a Ray task, recorded here as each one finishes."""
    from scalecli.remote import Job, Outcome, run_on_ray

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
                   status=lambda m: console.print(f"[dim]{m}[/]"))


def _run_line(run: RunSpec, result: Any) -> str:
    if result.status != "ok":
        return f"[red]{run.model.name}: {result.status}: {result.error}[/]"
    return (f"{run.model.name}: val_loss {result.val.loss:.4f}  "
            f"{result.tokens_per_s:,.0f} tok/s  MFU {result.mfu:.1%}  "
            f"non-compute {result.non_compute_frac:.1%}  {result.wall_s:.1f}s  {result.dtype}")


def _summary(console: Console, csv_path: Path, ids: list[str]) -> int:
    from scalecli.results import read_rows

    rows = {r["run_id"]: r for r in read_rows(csv_path)}
    table = Table(title=f"results: {csv_path}")
    for column in ("model", "N", "tokens", "lr", "seed", "val_loss", "val_ppl", "val_bpb",
                   "tok/s", "MFU", "non-compute", "time", "status"):
        table.add_column(column, justify="left" if column in ("model", "status") else "right")
    tally = {"ok": 0, "diverged": 0, "failed": 0}
    for rid in ids:
        r = rows.get(rid)
        if r is None:
            continue
        tally[r["status"]] = tally.get(r["status"], 0) + 1

        def num(key: str, fmt: str, r: dict[str, str] = r) -> str:
            try:
                value = float(r[key])
            except (KeyError, ValueError):
                return "-"
            return "-" if math.isnan(value) else format(value, fmt)

        style = {"ok": "green", "diverged": "yellow"}.get(r["status"], "red")
        table.add_row(r["model"], _fmt(float(r["params_non_embedding"])),
                      _fmt(float(r["tokens"])), num("lr", ".3g"), r["seed"],
                      num("val_loss", ".4f"), num("val_ppl", ".2f"), num("val_bpb", ".3f"),
                      num("tokens_per_s", ",.0f"), num("mfu", ".1%"),
                      num("non_compute_frac", ".1%"), num("wall_s", ".1f"),
                      f"[{style}]{r['status']}[/]")
    console.print(table)
    missing = len(ids) - sum(tally.values())
    console.print(f"ok {tally['ok']}, diverged {tally['diverged']}, failed {tally['failed']}"
                  + (f", missing {missing}" if missing else ""))
    if tally["diverged"] or tally["failed"]:
        console.print("rerun with --retry-failed to train the runs that did not finish ok")
    return 0 if tally["ok"] == len(ids) else 1
