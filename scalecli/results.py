"""results.csv: the contract between `sweep` and `fit`, written so that it is always whole.

Every change rewrites the file to a temporary sibling, fsyncs it and renames it over the
old one. A rename is atomic on POSIX, so a kill -9 at any moment leaves either the old
file or the new one, never a partial row. Rows are keyed by `run_id`: writing a run again
(a retry of a failed run) replaces its row instead of duplicating it. A sweep has tens
to thousands of rows, so rewriting the file per finished run costs nothing next to
training.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scalecli.errors import ScaleError
from scalecli.faults import pause_point

COLUMNS: tuple[str, ...] = (
    "run_id",
    "sweep",
    "model",
    "n_layer",
    "n_embd",
    "n_head",
    "n_ctx",
    "vocab_size",
    "activation_function",
    "params",
    "params_non_embedding",
    "params_matmul",
    "tokens",
    "budget_flops",
    "flops_per_token",
    "flops",
    "flops_6nd",
    "lr",
    "batch_tokens",
    "steps",
    "seed",
    "role",
    "schedule",
    "parent_run_id",
    "branch_step",
    "train_loss",
    "val_loss",
    "val_ppl",
    "val_bpb",
    "tokens_per_s",
    "mfu",
    "non_compute_frac",
    "wall_s",
    "status",
    "error",
    "device",
    "dtype",
    "compiled",
    "data_fingerprint",
    "tokenizer",
    "scalecli_version",
    "finished_at",
)

# One line per column: the results.csv reference (docs/reference/results-csv.md is generated
# from it, and tests/test_docs.py fails on a column without one).
COLUMN_DOCS: dict[str, str] = {
    "run_id": "Stable hash of everything that defines the run (shape, budget, lr, seed, "
    "training settings, data fingerprint, tokenizer); a rerun skips rows whose status is ok.",
    "sweep": "The sweep's `name`: the output folder OUT/NAME.",
    "model": "The size's name (`s1`, or the `name` of a model given as GPT2Config fields).",
    "n_layer": "Transformer blocks.",
    "n_embd": "Width: the residual stream's dimension d.",
    "n_head": "Attention heads.",
    "n_ctx": "Context length in tokens (`data.context`).",
    "vocab_size": "Tokenizer vocabulary size V.",
    "activation_function": "The MLP's GPT2Config activation (`gelu`, the exact one, by "
    "default).",
    "params": "All trainable parameters, tied weights counted once.",
    "params_non_embedding": "`params` minus the token and position embeddings: Kaplan et "
    "al.'s N.",
    "params_matmul": "Every weight that enters a matmul, the tied output head included: "
    "`n_layer * (4 d^2 + 2 d n_inner) + V d`, the N of `flops_per_token`.",
    "tokens": "Training tokens: `steps * batch_tokens`; for a checkpoint (evaluated, not "
    "trained) its `tokens_trained`, else blank.",
    "budget_flops": "The nominal FLOP budget of an isoFLOP design (`budget.flops`); blank "
    "for token budgets.",
    "flops_per_token": "Training FLOPs per token: `6 * params_matmul + 12 * n_layer * d * "
    "n_ctx` (attention over the full context; PaLM, App. B). Biases and LayerNorms left out.",
    "flops": "`flops_per_token * tokens`: the C of every compute fit; blank for a checkpoint "
    "without `tokens_trained`.",
    "flops_6nd": "`6 * params * tokens`: the Chinchilla convention, for comparison.",
    "lr": "The peak learning rate the run used (after `lr_rule`); blank for a checkpoint.",
    "batch_tokens": "Tokens per optimizer step; blank for a checkpoint.",
    "steps": "Optimizer steps; blank for a checkpoint.",
    "seed": "The run's seed (initialisation and data order); blank for a checkpoint.",
    "role": "`ladder` (fitted) or `validation` (a `validate:` run past the ladder: scored "
    "against the fit's prediction, fitted by nothing); blank means ladder.",
    "schedule": "`cosine` or `wsd`.",
    "parent_run_id": "A WSD branch's family (its stable phase); blank for cosine runs.",
    "branch_step": "The step at which a WSD branch left its stable phase (its cooldown "
    "start); blank for cosine runs.",
    "train_loss": "Training loss (nats per token) of the run's last optimizer step.",
    "val_loss": "Mean next-token cross-entropy in nats over the sweep's fixed held-out "
    "tokens, evaluated in fp32 whatever precision training used.",
    "val_ppl": "`exp(val_loss)`.",
    "val_bpb": "Bits per byte: the summed cost of every predicted token (end-of-text "
    "included) in bits over the UTF-8 bytes of the predicted text; comparable across "
    "tokenizers.",
    "tokens_per_s": "Training throughput.",
    "mfu": "Model FLOPs utilisation against this machine's measured matmul peak.",
    "non_compute_frac": "Fraction of the training loop's time outside forward, backward, "
    "optimizer and evaluation.",
    "wall_s": "Wall-clock seconds of the run.",
    "status": "`ok`, `diverged` (non-finite loss, or above `diverge_factor` times its running "
    "minimum) or `failed` (the run raised).",
    "error": "Why a run is not ok (one line); blank otherwise.",
    "device": "Where it trained (`cpu`, `cuda`, `cuda:N`; `8xcuda`: data-parallel on 8 GPUs).",
    "dtype": "Training precision: `fp32`, or `bf16` autocast with fp32 master weights.",
    "compiled": "Whether `torch.compile` was used.",
    "data_fingerprint": "Hash of the training text, the held-out text and the tokenizer.",
    "tokenizer": "The tokenizer setting (`bpe:1024`, or an HF name or path); for a checkpoint "
    "scored in its own tokenizer, `TYPE:VOCAB#hash` of it (`fit` compares rows whose "
    "tokenizers differ in bits per byte).",
    "scalecli_version": "The scalecli version that trained the run.",
    "finished_at": "When the row was written (UTC, ISO 8601).",
}

# The lr search's record beside results.csv: the sweep writes it, the fit keeps its choices.
LR_SEARCH_RECORD = "lr_search.json"
STATUSES = ("ok", "diverged", "failed")
# `role`: how a run is used, not what it trained (so not part of its run_id). A ladder run is
# fitted; a validation run (a sweep's `validate:` block, past the ladder) is scored against
# the fit's prediction and fitted by nothing. A blank cell, or a CSV from before the
# column, means ladder.
ROLES = ("ladder", "validation")


def role_of(row: Mapping[str, str]) -> str:
    """A row's role, with a blank cell or a missing column read as `ladder`."""
    return row.get("role") or "ladder"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old or the new content, nothing between."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        pause_point(f"write:{path.name}")  # test-only (scalecli/faults.py)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ScaleError(f"cannot write {path}: {error.strerror or error}; "
                         "check free disk space and write permission") from None
    _fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> None:
    """Valid JSON (no NaN), written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False,
                                       default=str) + "\n")


def read_json(path: Path) -> dict | None:
    """A JSON object from a file, or None when it is missing, unreadable or not an object
    (data.json and fit.json are optional to every reader)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the directory entry is flushed.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a results.csv as strings, in file order; [] if it does not exist."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # repr keeps every digit, so a reread value is bit-identical.
        return repr(value)
    return str(value)


def upsert_row(path: Path, row: Mapping[str, Any]) -> None:
    """Add `row` to the CSV at `path`, replacing any earlier row with the same run_id."""
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not results.csv columns: {sorted(unknown)}")
    rows = [r for r in read_rows(path) if r.get("run_id") != row["run_id"]]
    rows.append({key: _format(row.get(key)) for key in COLUMNS})
    write_rows(path, rows)


def write_rows(path: Path, rows: Iterable[Mapping[str, str]]) -> None:
    """A whole results.csv of `rows` (as read_rows gives them). A row read from an older
    file lacks the newer columns: they are written blank (a blank role is `ladder`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def statuses(path: Path) -> dict[str, str]:
    """run_id -> status for every run recorded in the CSV."""
    return {r["run_id"]: r.get("status", "") for r in read_rows(path) if r.get("run_id")}
