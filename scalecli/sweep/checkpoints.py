"""A sweep's checkpoints: trained models measured on its held-out text, not trained.

A `models:` entry with `checkpoint:` (settings.CheckpointSpec) names a hub model, a
save_pretrained folder or a sweep's run (`pretrained.resolve`). Every one is resolved,
checked to be a causal LM and counted from its config (on the meta device: no weights
read) before anything trains, so that a reference that cannot work is one line and exit 2
rather than a surprise after the ladder. Each becomes one evaluation-only run
(`spec.EvalRun`), which the local executor measures (`evaluate`): a checkpoint that
cannot be loaded there (too large for the device, broken weights) is a `failed` row and
the sweep goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalecli.errors import ScaleError, first_line
from scalecli.results import read_json
from scalecli.sweep.model import ParamCounts
from scalecli.sweep.records import Evaluation
from scalecli.sweep.spec import CheckpointSpec, EvalRun, ModelSpec, SweepSpec


@dataclass(frozen=True)
class Resolved:
    """A checkpoint found, its config read and its parameters counted."""

    spec: CheckpointSpec
    ref: Any  # pretrained.ModelRef
    config: Any  # the transformers config
    counts: ParamCounts
    context: int  # the model's own context: its windows
    name: str
    tokens_trained: int | None


def default_name(reference: str) -> str:
    """`hf:EleutherAI/pythia-70m` -> pythia-70m; a folder -> its name."""
    return Path(reference.removeprefix("hf:").rstrip("/")).name or reference


def resolve_all(spec: SweepSpec, out_dir: Path, trust_remote_code: bool = False
                ) -> list[Resolved]:
    """Every checkpoint of the sweep, or one ScaleError line for the first that cannot
    be a model here: a missing folder, a hub id not cached offline, not a causal LM."""
    from scalecli.sweep.pretrained import (
        config_context,
        counts_from_config,
        load_config,
        load_tokenizer,
        resolve,
    )
    from scalecli.sweep.rolling import prefix_id

    out: list[Resolved] = []
    for c in spec.checkpoints:
        ref = resolve(c.checkpoint, out_dir)
        config = load_config(ref, trust_remote_code)
        try:
            counts = counts_from_config(config, trust_remote_code)
        except Exception as error:  # an architecture transformers cannot build
            raise ScaleError(f"checkpoint '{c.checkpoint}': cannot build the model from its "
                             f"config: {first_line(error)}") from None
        # The tokenizer too (it is small): a missing one, or one that cannot find the text's
        # first bytes (no BOS/EOS prefix and no offsets without a fast version), is said now.
        tokenizer = load_tokenizer(ref, config, trust_remote_code)
        if prefix_id(tokenizer) is None and not getattr(tokenizer, "is_fast", False):
            raise ScaleError(f"checkpoint '{c.checkpoint}': its tokenizer "
                             f"({type(tokenizer).__name__}) has no BOS or EOS token and no fast "
                             "version, so the bytes of the text's first token cannot be found; "
                             "use a model whose tokenizer has a tokenizer.json (a fast one)")
        run = (read_json(ref.path / "run.json") or {}) if ref.kind == "run" else {}
        # A sweep's run knows its size's name and its tokens; anything else is told.
        name = c.name or (run.get("model") or {}).get("name") or default_name(c.checkpoint)
        tokens = c.tokens_trained if c.tokens_trained is not None else run.get("tokens")
        context = config_context(config)
        if c.stride is not None and c.stride > context:
            raise ScaleError(f"checkpoint '{c.checkpoint}': stride {c.stride} is longer than "
                             f"its context ({context}); use at most {context}")
        out.append(Resolved(c, ref, config, counts, context, str(name),
                            None if tokens is None else int(tokens)))
    names = [m.name for m in spec.models] + [r.name for r in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ScaleError(f"models: the name '{twice[0]}' is used twice (checkpoints take a "
                         "run's size name or the reference's last part); give each its own name")
    return out


def evaluation_runs(spec: SweepSpec, resolved: list[Resolved]) -> list[EvalRun]:
    """One evaluation-only run per checkpoint, in the sweep file's order."""
    runs = []
    for r in resolved:
        cfg = r.config
        shape = ModelSpec(name=r.name, n_layer=int(getattr(cfg, "num_hidden_layers", 0) or 0),
                          n_embd=int(getattr(cfg, "hidden_size", 0) or 0),
                          n_head=int(getattr(cfg, "num_attention_heads", 0) or 0))
        reference = (r.ref.label if r.ref.kind == "hub"
                     else str(Path(r.ref.source).resolve()))
        runs.append(EvalRun(
            sweep=spec.name, model=shape, reference=reference, written=r.spec.checkpoint,
            source_kind=r.ref.kind, context=r.context, stride=r.spec.stride,
            tokens_trained=r.tokens_trained, data=spec.data, eval=spec.eval,
            runtime=spec.runtime))
    return runs


def forward_flops(run: EvalRun, counts: ParamCounts, heldout_tokens: int) -> float:
    """What scoring costs: a forward pass is a third of a training token's FLOPs, and
    windows that overlap (stride < context) run each token context / stride times."""
    overlap = run.context / (run.stride or run.context)
    return counts.flops_per_token / 3 * heldout_tokens * overlap


def text_bytes(data: Any) -> int:
    """UTF-8 bytes of the held-out text as a checkpoint with another tokenizer scores it
    (`pretrained.heldout_docs`): the sweep's predicted bytes plus its first token's."""
    from scalecli.sweep.pretrained import heldout_docs

    docs, _ = heldout_docs(data)
    return sum(len(doc.encode("utf-8")) for doc in docs)


def evaluate(run: EvalRun, out_dir: Path, data: Any, device: Any,
             trust_remote_code: bool = False) -> Evaluation:
    """Measure one checkpoint on the sweep's held-out data (`pretrained.evaluate_on_sweep`).

    Raises `pretrained.TooLarge` or a ScaleError for a checkpoint that cannot be measured
    here; the executor records those as failed rows."""
    from scalecli.sweep.pretrained import (
        evaluate_on_sweep,
        on_own_stream,
        resolve,
        tokenizer_label,
    )

    start = time.perf_counter()
    result, loaded = evaluate_on_sweep(run.reference, out_dir, data, device=device,
                                       stride=run.stride, trust_remote_code=trust_remote_code)
    # On the sweep's own stream the tokens are the sweep's: the same tokenizer column, so
    # that fit compares them in loss with the trained sizes.
    own = on_own_stream(resolve(run.reference, out_dir), data, run.stride)
    return Evaluation(result=result, counts=loaded.counts,
                      tokenizer=data.tokenizer if own else tokenizer_label(loaded.tokenizer),
                      vocab_size=int(loaded.model.config.vocab_size),
                      wall_s=time.perf_counter() - start, device=str(device))


def plan(spec: SweepSpec, trust_remote_code: bool = False) -> tuple[list[dict[str, Any]], str]:
    """Each checkpoint as `--dry-run` lists it (and `--dry-run --json`, as `evaluations`):
    its counts, windows, whether it fits this machine's free memory, and the time to score
    eval.tokens held-out tokens; and how that time was estimated."""
    from scalecli.sweep.hardware import assumed_rate, resolve_runtime
    from scalecli.sweep.pretrained import memory_problem
    from scalecli.sweep.units import si

    resolved = resolve_all(spec, Path(spec.out) / spec.name, trust_remote_code)
    try:
        rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
        rate = assumed_rate(rt)
    except ScaleError:  # planning a GPU sweep on a machine without one
        rt, rate = None, 0.0
    records = []
    for run, r in zip(evaluation_runs(spec, resolved), resolved, strict=True):
        flops = forward_flops(run, r.counts, spec.eval.tokens)
        problem = memory_problem(r.counts, r.config, rt.device, r.context) if rt else None
        records.append({
            "model": run.model.name, "checkpoint": run.written,
            "params": r.counts.params, "params_non_embedding": r.counts.params_non_embedding,
            "context": r.context, "stride": run.stride or r.context,
            "tokens_trained": run.tokens_trained, "eval_flops": flops,
            "est_seconds": flops / rate if rate else None,
            "fits_memory": None if rt is None else problem is None,
            "memory": problem or ("fits" if rt else "unknown: the device is not here")})
    how = (f"forward passes at {si(rate)}FLOP/s, 40% of this machine's measured matmul peak"
           if rate else "no time estimate: the device is not here")
    return records, how


def say_plan(spec: SweepSpec, console: Any, trust_remote_code: bool = False) -> None:
    """The checkpoints' part of `--dry-run`: one row each, then the total."""
    from rich.table import Table

    from scalecli.sweep.units import duration, si

    records, how = plan(spec, trust_remote_code)
    table = Table(title=f"{spec.name}: {len(records)} checkpoints, measured on "
                        f"{spec.eval.tokens:,} held-out tokens of {spec.data.tokenizer}")
    for column in ("model", "checkpoint", "params", "N (non-emb.)", "context", "stride",
                   "tokens trained", "memory", "est. time"):
        table.add_column(column, justify="left" if column in ("model", "checkpoint",
                                                              "memory") else "right")
    for r in records:
        table.add_row(r["model"], r["checkpoint"], si(r["params"]),
                      si(r["params_non_embedding"]), str(r["context"]), str(r["stride"]),
                      "-" if r["tokens_trained"] is None else si(r["tokens_trained"]),
                      r["memory"], "-" if r["est_seconds"] is None
                      else duration(r["est_seconds"]))
    console.print(table)
    seconds = [r["est_seconds"] for r in records if r["est_seconds"] is not None]
    console.print(f"checkpoints: {si(sum(r['eval_flops'] for r in records))}FLOPs of forward "
                  "passes" + (f", about {duration(sum(seconds))} ({how}; loading not "
                              "included)" if seconds else f" ({how})"))
