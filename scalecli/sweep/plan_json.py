"""`scalecli sweep --dry-run --json`: the planned runs as one JSON object on stdout.

The same runs, counts and time estimate as the dry run's table, for scripts: a scheduler
that sizes a job, a notebook that plots the design before any compute is spent. Notes for
a person (the lr search, the design's warnings, the timing probe) go to stderr, so stdout
holds the JSON alone.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from scalecli.errors import ScaleError
from scalecli.sweep import beyond
from scalecli.sweep.plan import (
    _estimated_rate,
    _planned_runs,
    _start_lrs,
    _workers,
    run_seconds,
)
from scalecli.sweep.spec import RunSpec, SweepSpec, design


def run_record(run: RunSpec, vocab: int, seconds: float | None) -> dict[str, Any]:
    """One planned run: its shape, counts, budget and cost, named as in results.csv."""
    c = run.counts(vocab)
    return {
        "model": run.model.name, "role": run.role,
        "n_layer": run.model.n_layer, "n_embd": run.model.n_embd, "n_head": run.model.n_head,
        "params": c.params, "params_non_embedding": c.params_non_embedding,
        "budget_flops": run.budget_flops, "tokens": run.tokens, "steps": run.steps,
        "batch_tokens": run.train.batch_tokens, "lr": run.lr, "seed": run.seed,
        "flops_per_token": c.flops_per_token, "flops": c.flops_per_token * run.tokens,
        "flops_6nd": 6 * c.params * run.tokens, "est_seconds": seconds,
    }


def plan(spec: SweepSpec, notes: Console, trust_remote_code: bool) -> dict[str, Any]:
    """The dry run's content as a dict: the runs, their totals and how time was estimated."""
    from scalecli.sweep.data import vocab_size_of
    from scalecli.sweep.hardware import resolve_runtime

    evaluations: dict[str, Any] = {}
    if spec.checkpoints:  # measured, not trained: their own list
        from scalecli.sweep.checkpoints import plan as checkpoint_plan

        records, how = checkpoint_plan(spec, trust_remote_code)
        evaluations = {"evaluations": records, "evaluation_estimate": how}
        if not spec.models:
            return {"sweep": spec.name, "context": spec.data.context, "runs": [],
                    "total": {"runs": 0, "flops": 0.0, "est_seconds": 0.0}, "notes": [],
                    **evaluations}
    vocab = vocab_size_of(spec.data, trust_remote_code)
    runs = _planned_runs(spec, vocab, notes)
    # Validation runs after the ladder: sizes now; a FLOP budget's sizes are a guess until
    # the ladder is fitted (`beyond.planned`), marked so in `chosen_after_fit`.
    valid, _ = beyond.model_runs(spec, vocab, _start_lrs(spec))
    guessed = [r for c in spec.validate.flops for r in beyond.planned(spec, vocab, c)[1]]
    try:
        rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
        where = rt.device.type
    except ScaleError:
        rt, where = None, spec.runtime.device  # a GPU plan on a machine without one
    rate_of, how = (_estimated_rate(runs + valid + guessed, vocab, rt, notes) if rt
                    else (None, None))
    # Data-parallel workers: the same devices check and time scaling as the table's.
    rate_of, how = _workers(spec, rt, rate_of, how, notes)
    records = [run_record(run, vocab, run_seconds(run, run.counts(vocab).flops_per_token,
                                                  rate_of) if rate_of else None)
               | {"chosen_after_fit": run in guessed}
               for run in runs + valid + guessed]
    return {
        "sweep": spec.name, "vocab_size": vocab, "context": spec.data.context,
        "device": where, "workers_per_run": spec.runtime.workers_per_run,
        "estimate": how, "runs": records,
        "total": {"runs": len(records), "flops": sum(r["flops"] for r in records),
                  "est_seconds": (sum(r["est_seconds"] for r in records) if rate_of
                                  else None)},
        "notes": design(spec, vocab)[1],
        **evaluations,
    }


def dry_run_json(spec: SweepSpec, trust_remote_code: bool) -> int:
    notes = Console(stderr=True, highlight=False)
    print(json.dumps(plan(spec, notes, trust_remote_code), indent=2), file=sys.stdout)
    return 0
