"""What a finished run leaves behind: its results.csv row, its curve.csv, its summary lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scalecli import __version__
from scalecli.finite import finite
from scalecli.results import atomic_write_text, read_rows, role_of
from scalecli.sweep.model import DEFAULT_ACTIVATION, ParamCounts
from scalecli.sweep.spec import EvalRun, RunSpec
from scalecli.sweep.units import si


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint measured on the sweep's held-out data (`checkpoints.evaluate`)."""

    result: Any  # rolling.RollingResult
    counts: ParamCounts  # measured on the loaded model
    tokenizer: str  # the sweep's tokenizer setting on its own stream, else `tokenizer_label`
    vocab_size: int
    wall_s: float
    device: str


def evaluation_row(run: EvalRun, run_id: str, data: Any, evaluation: Evaluation | None,
                   counts: ParamCounts) -> dict[str, Any]:
    """An evaluation-only run's row: what it measured, and blanks where nothing trained
    (lr, batch, steps, seed, schedule); tokens and FLOPs only when tokens_trained is known."""
    tokens = run.tokens_trained
    if evaluation is not None:
        counts = evaluation.counts
    row: dict[str, Any] = {
        "run_id": run_id, "sweep": run.sweep, "model": run.model.name,
        "n_layer": run.model.n_layer, "n_embd": run.model.n_embd, "n_head": run.model.n_head,
        "n_ctx": run.context, "params": counts.params,
        "params_non_embedding": counts.params_non_embedding,
        "params_matmul": counts.params_matmul, "tokens": tokens,
        "flops_per_token": counts.flops_per_token,
        "flops": None if tokens is None else counts.flops_per_token * tokens,
        "flops_6nd": None if tokens is None else 6 * counts.params * tokens,
        "role": run.role, "data_fingerprint": data.fingerprint,
        "scalecli_version": __version__,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if evaluation is None:
        return row
    result = evaluation.result
    row.update({
        "vocab_size": evaluation.vocab_size, "tokenizer": evaluation.tokenizer,
        "val_loss": result.val_loss, "val_ppl": result.val_ppl, "val_bpb": result.val_bpb,
        "wall_s": round(evaluation.wall_s, 2), "status": "ok", "device": evaluation.device,
        "dtype": result.dtype,
    })
    return row


def evaluation_line(run: EvalRun, evaluation: Evaluation) -> str:
    r = evaluation.result
    return (f"{escape(run.model.name)}: val_loss {r.val_loss:.4f}  val_bpb {r.val_bpb:.4f}  "
            f"{r.tokens:,} tokens, {r.bytes:,} bytes, windows of {r.context} every "
            f"{r.stride}  {evaluation.wall_s:.1f}s  {r.dtype}")


def row(run: RunSpec | EvalRun, run_id: str, data: Any, result: Any, counts: Any
        ) -> dict[str, Any]:
    if isinstance(run, EvalRun):
        return evaluation_row(run, run_id, data, result, counts)
    val = result.val if result is not None else None
    row: dict[str, Any] = {
        "run_id": run_id, "sweep": run.sweep, "model": run.model.name,
        "n_layer": run.model.n_layer, "n_embd": run.model.n_embd, "n_head": run.model.n_head,
        "n_ctx": run.data.context, "vocab_size": data.vocab_size,
        "activation_function": dict(run.model.extra).get("activation_function",
                                                         DEFAULT_ACTIVATION),
        "params": counts.params, "params_non_embedding": counts.params_non_embedding,
        "params_matmul": counts.params_matmul, "tokens": run.tokens,
        "budget_flops": run.budget_flops, "flops_per_token": counts.flops_per_token,
        "flops": counts.flops_per_token * run.tokens, "flops_6nd": 6 * counts.params * run.tokens,
        "lr": run.lr, "batch_tokens": run.train.batch_tokens, "steps": run.steps,
        "seed": run.seed, "role": run.role, "schedule": run.train.schedule,
        # A WSD branch: its family's stable phase, and the step where it branched off it.
        "parent_run_id": run.parent_run_id(data.fingerprint),
        "branch_step": run.branch_step if run.kind == "branch" else None,
        "data_fingerprint": data.fingerprint, "tokenizer": run.data.tokenizer,
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


def write_curve(run_dir: Path, curve: list[dict[str, Any]]) -> None:
    header = ["step", "tokens", "flops", "lr", "train_loss", "val_loss", "elapsed_s"]
    if any(point.get("phase") for point in curve):  # a WSD branch: stable, then cooldown
        header.append("phase")
    lines = [",".join(header)]
    for point in curve:
        lines.append(",".join("" if point.get(k) is None else repr(point[k]) if isinstance(
            point[k], float) else str(point[k]) for k in header))
    atomic_write_text(run_dir / "curve.csv", "\n".join(lines) + "\n")


def run_line(run: RunSpec, result: Any) -> str:
    if result.status != "ok":
        return f"[red]{escape(run.model.name)}: {result.status}: {escape(result.error)}[/]"
    return (f"{escape(run.model.name)}: val_loss {result.val.loss:.4f}  "
            f"{result.tokens_per_s:,.0f} tok/s  MFU {result.mfu:.1%}  "
            f"non-compute {result.non_compute_frac:.1%}  {result.wall_s:.1f}s  {result.dtype}")


def summary(console: Console, csv_path: Path, ids: list[str]) -> int:
    rows = {r["run_id"]: r for r in read_rows(csv_path)}
    # The role column only when the sweep has validation runs (past the ladder, not fitted).
    roles = any(role_of(rows[rid]) != "ladder" for rid in ids if rid in rows)
    table = Table(title=f"results: {csv_path}")
    for column in ("model", *(("role",) if roles else ()), "N", "tokens", "lr", "seed",
                   "val_loss", "val_ppl", "val_bpb", "tok/s", "MFU", "non-compute", "time",
                   "status"):
        table.add_column(column, justify="left" if column in ("model", "status") else "right")
    tally = {"ok": 0, "diverged": 0, "failed": 0}
    for rid in ids:
        r = rows.get(rid)
        if r is None:
            continue
        tally[r["status"]] = tally.get(r["status"], 0) + 1

        def num(key: str, fmt: str, r: dict[str, str] = r) -> str:
            value = finite(r.get(key))
            return "-" if value is None else format(value, fmt)

        style = {"ok": "green", "diverged": "yellow"}.get(r["status"], "red")
        table.add_row(r["model"], *((role_of(r),) if roles else ()),
                      si(float(r["params_non_embedding"])),
                      # an evaluation-only run without tokens_trained has none
                      "-" if finite(r.get("tokens")) is None else si(float(r["tokens"])),
                      num("lr", ".3g"), r["seed"],
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
