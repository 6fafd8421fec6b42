"""The training loop of one run: a plain PyTorch loop, flat and readable top to bottom.

Each step sets the learning rate (warmup, cosine, floor), runs the gradient-accumulation
micro-steps, clips, steps AdamW and zeroes the gradients. Every so often it evaluates on
the held-out tokens and writes a checkpoint. A plain loop is measurably faster than
`transformers.Trainer` here, and easier to read.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from scalecli.errors import Interrupted
from scalecli.faults import pause_point
from scalecli.sweep import checkpoint, mup
from scalecli.sweep.data import TokenData
from scalecli.sweep.evaluate import EvalResult, evaluate, val_tensors
from scalecli.sweep.hardware import Runtime, apply_runtime, matmul_peak
from scalecli.sweep.model import (
    build_model,
    count_params,
    enable_activation_checkpointing,
    gpt2_config,
)
from scalecli.sweep.schedule import cosine_lr, wsd_lr
from scalecli.sweep.spec import RunSpec

# The cosine schedule under its old name (tests and benches call it as train.lr_at).
lr_at = cosine_lr


def lr_of(run: RunSpec, step: int) -> float:
    """The run's lr at `step`, by its schedule (scalecli/sweep/schedule.py)."""
    t = run.train
    if run.is_branch:
        return wsd_lr(step, run.steps, run.lr, run.warmup, t.cooldown_frac, t.cooldown_shape,
                      t.min_lr_frac)
    return cosine_lr(step, run.steps, run.lr, t.warmup_frac, t.min_lr_frac)


class Batches:
    """The training batches: step s always gets the same sequences for a given seed.

    The stream is cut into blocks of context + 1 tokens with stride context (inputs and
    shifted targets), visited in a seeded random order per epoch. Batches are gathered
    with one index tensor, no Python per-token work; since a batch depends only on
    (seed, step), resuming needs no saved data position.
    """

    def __init__(self, tokens: Any, context: int, batch_seqs: int, seed: int) -> None:
        self.tokens = torch.as_tensor(tokens)
        self.context, self.batch_seqs, self.seed = context, batch_seqs, seed
        self.starts = torch.arange(0, self.tokens.numel() - context, context)
        self.offsets = torch.arange(context + 1)
        self._perm: tuple[int, torch.Tensor] | None = None

    def _order(self, epoch: int) -> torch.Tensor:
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(self.starts.numel(), generator=g))
        return self._perm[1]

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.starts.numel()
        first = step * self.batch_seqs
        index = torch.empty(self.batch_seqs, dtype=torch.long)
        for i in range(self.batch_seqs):  # per sequence, not per token
            epoch, pos = divmod(first + i, n)
            index[i] = self._order(epoch)[pos]
        block = self.tokens[self.starts[index][:, None] + self.offsets].long()  # (B, T+1)
        return block[:, :-1], block[:, 1:]


@dataclass
class RunResult:
    status: str  # ok | diverged
    error: str = ""
    train_loss: float = math.nan
    val: EvalResult | None = None
    steps_done: int = 0
    tokens_per_s: float = math.nan
    mfu: float = math.nan
    non_compute_frac: float = math.nan
    wall_s: float = 0.0
    compiled: bool = False
    dtype: str = "fp32"
    device: str = "cpu"
    curve: list[dict[str, Any]] = field(default_factory=list)


def _optimizer(model: Any, run: RunSpec, device: torch.device) -> torch.optim.Optimizer:
    # Decay matrices only; biases and LayerNorm gains are left alone (as in GPT-2, nanoGPT).
    # Under muP the hidden matrices also get their own lr multiple (scalecli/sweep/mup.py);
    # each group carries it as `lr_scale`, applied to the scheduled lr at every step.
    scales = mup.lr_scales(model)
    groups: dict[tuple[bool, float], list[Any]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault((p.dim() >= 2, scales[name]), []).append(p)
    param_groups = [{"params": ps, "weight_decay": run.train.weight_decay if decay else 0.0,
                     "lr_scale": scale} for (decay, scale), ps in groups.items()]
    # Fused AdamW: one kernel over all parameters. On CPU it is also far faster than the
    # foreach path (L6 d384: 3.5 ms against 75 ms per step, measured in bench/).
    kwargs: dict[str, Any] = {"fused": True}
    return torch.optim.AdamW(param_groups, lr=run.lr, betas=(run.train.beta1, run.train.beta2),
                             **kwargs)


def micro_batch_seqs(run: RunSpec, device: torch.device, model_width: int, vocab: int) -> int:
    """Sequences per forward pass: the whole batch unless memory says otherwise."""
    context = run.data.context
    batch_seqs = run.train.batch_tokens // context
    if run.train.micro_batch_tokens:
        return run.train.micro_batch_tokens // context
    if device.type != "cuda":
        # On CPU a forward of up to 16K tokens keeps the caches warm and costs little memory.
        limit = max(1, 16_384 // context)
    else:
        # Activation memory per token (Korthikanti et al. 2022, ~34 d bytes per layer in
        # half precision) plus fp32 logits; use under 40% of the free memory.
        free = torch.cuda.mem_get_info(device)[0]
        per_token = 34 * model_width * run.model.n_layer + 8 * vocab
        limit = max(1, int(0.4 * free / (per_token * context)))
    seqs = batch_seqs
    while seqs > limit and seqs % 2 == 0:
        seqs //= 2
    return seqs


def _eval_steps(steps: int, points: int) -> set[int]:
    return {round(steps * i / (points + 1)) for i in range(1, points + 1)} - {0, steps}


def train_run(run: RunSpec, data: TokenData, run_dir: Path, rt: Runtime, *,
              should_stop: Callable[[], bool] = lambda: False,
              on_step: Callable[[int, float, float], None] | None = None,
              compile_model: bool = False, start_from: Path | None = None,
              stop_at: int | None = None, snapshots: Mapping[int, Path] | None = None
              ) -> RunResult:
    """Train one run from scratch, or resume it from its checkpoint, and evaluate it.

    WSD branches (scalecli/sweep/branches.py): `start_from` is a branch point, the
    checkpoint to start from when the run has none of its own. A stable phase trains only
    to `stop_at`, saves a checkpoint into each folder of `snapshots` as it passes that
    step, and returns without a final evaluation.
    """
    start_wall = time.perf_counter()
    apply_runtime(rt)
    device, context = rt.device, run.data.context
    config = gpt2_config(n_layer=run.model.n_layer, n_embd=run.model.n_embd,
                         n_head=run.model.n_head, vocab_size=data.vocab_size, n_ctx=context,
                         eos_token_id=data.eos_id, extra=dict(run.model.extra))
    model = build_model(config, run.seed)
    if run.train.parametrization == "mup":
        mup.apply(model, run.train.lr_ref_width)
    model = model.to(device)
    if run.train.gradient_checkpointing:
        enable_activation_checkpointing(model)
    model.train()
    counts = count_params(model)
    optimizer = _optimizer(model, run, device)

    loop: dict[str, Any] = {"step": 0, "min_loss": math.inf, "curve": [], "compute_s": 0.0,
                            "train_s": 0.0, "eval_s": 0.0, "last_loss": math.nan}
    found = checkpoint.find(run_dir)
    if found is None and start_from is not None:
        found = checkpoint.find(start_from)
    if found is not None:
        loop = checkpoint.load(found, model, optimizer)

    forward = torch.compile(model) if compile_model else model
    batch_seqs = run.train.batch_tokens // context
    micro = micro_batch_seqs(run, device, run.model.n_embd, data.vocab_size)
    accum = batch_seqs // micro
    batches = Batches(data.train, context, batch_seqs, run.seed)
    val_x, val_y = val_tensors(data.val, context)
    eval_seqs = max(1, run.eval.batch_tokens // context)
    autocast = rt.autocast_dtype
    evals = _eval_steps(run.steps, run.train.eval_points)
    warmup = run.warmup
    end = run.steps if stop_at is None else stop_at
    # curve.csv's phase under wsd: steps shared with the sibling branches, then this one's own.
    branch_at = run.branch_step if run.is_branch and stop_at is None else end
    log_every = max(1, run.steps // 100)
    last_ckpt = time.perf_counter()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def finish_eval(step: int) -> EvalResult:
        t0 = time.perf_counter()
        result = evaluate(forward, val_x, val_y, batch_seqs=eval_seqs, device=device)
        loop["eval_s"] += time.perf_counter() - t0
        return result

    status, error = "ok", ""
    train_t0 = time.perf_counter() - loop["train_s"]
    window: list[float] = []
    while loop["step"] < end:
        step = loop["step"]
        lr = lr_of(run, step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        x, y = batches.get(step)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        sync()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        for m in range(accum):
            xs, ys = x[m * micro : (m + 1) * micro], y[m * micro : (m + 1) * micro]
            with torch.autocast(device.type, dtype=autocast or torch.float32,
                                enabled=autocast is not None):
                # use_cache=False: no KV cache to build and copy in training (same numbers).
                logits = forward(input_ids=xs, use_cache=False).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), ys.flatten()) / accum
            loss.backward()
            loss_sum += loss.detach()
        if run.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), run.train.grad_clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss_sum.item()  # the one host sync per step
        loop["compute_s"] += time.perf_counter() - t0
        loop["step"] = step = step + 1
        window.append(loss_value)

        if not math.isfinite(loss_value):
            status, error = "diverged", f"non-finite loss {loss_value} at step {step}"
            break
        if step > warmup and loss_value > run.train.diverge_factor * loop["min_loss"]:
            status = "diverged"
            error = (f"loss {loss_value:.4g} at step {step} exceeds {run.train.diverge_factor:g}"
                     f" x its running minimum {loop['min_loss']:.4g}")
            break
        loop["min_loss"] = min(loop["min_loss"], loss_value)
        loop["last_loss"] = loss_value

        val_loss = None
        if step in evals:
            val_loss = finish_eval(step).loss
        if step % log_every == 0 or val_loss is not None or step in (end, branch_at):
            loop["curve"].append({
                "step": step, "tokens": step * run.train.batch_tokens,
                "flops": step * run.train.batch_tokens * counts.flops_per_token, "lr": lr,
                "train_loss": sum(window) / len(window), "val_loss": val_loss,
                "elapsed_s": round(time.perf_counter() - train_t0, 3),
                "phase": None if not run.is_branch else "stable" if step <= branch_at
                else "cooldown",
            })
            window = []
        if on_step is not None:
            on_step(step, loss_value, lr)
        pause_point(f"step:{step}")  # test-only (scalecli/faults.py)
        if snapshots and step in snapshots:  # a WSD branch point, kept until its branch is done
            loop["train_s"] = time.perf_counter() - train_t0
            checkpoint.save(snapshots[step], model, optimizer, loop)
        interval = run.train.checkpoint_every_s
        stop = should_stop()
        if step < end and (stop or (interval and time.perf_counter() - last_ckpt > interval)):
            loop["train_s"] = time.perf_counter() - train_t0
            checkpoint.save(run_dir, model, optimizer, loop)
            last_ckpt = time.perf_counter()
        if stop and step < end:
            raise Interrupted(f"stopped at step {step} of {end}; checkpoint saved. "
                              "Run the same command again to resume")

    # Periodic evaluations are inside this window; the final one is not.
    train_s = time.perf_counter() - train_t0
    eval_s = loop["eval_s"]
    result = RunResult(status=status, error=error, steps_done=loop["step"],
                       dtype=rt.dtype_name, device=str(device), compiled=compile_model)
    result.train_loss = loop["last_loss"]
    if stop_at is not None:  # a stable phase: its branches evaluate, it does not
        result.curve = loop["curve"]
        return result
    if status == "ok":
        final = finish_eval(run.steps)
        result.val = final
        if loop["curve"] and loop["curve"][-1]["step"] == run.steps:
            loop["curve"][-1]["val_loss"] = final.loss
    # Throughput and utilisation of the training steps (evaluation excluded).
    loop_s = max(1e-9, train_s - eval_s)
    tokens_done = loop["step"] * run.train.batch_tokens
    result.tokens_per_s = tokens_done / loop_s
    peak = matmul_peak(device.type, rt.dtype_name, rt.threads)
    result.mfu = result.tokens_per_s * counts.flops_per_token / peak
    # Time outside forward, backward, optimizer and evaluation: data, logging, Python.
    result.non_compute_frac = max(0.0, 1 - (loop["compute_s"] + eval_s) / max(train_s, 1e-9))
    result.curve = loop["curve"]
    if status == "ok":
        save_final(run_dir, model, data)
    result.wall_s = time.perf_counter() - start_wall
    return result


def save_final(run_dir: Path, model: Any, data: TokenData) -> None:
    """Final weights (safetensors), config and tokenizer: enough for `from_pretrained`."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one shard; a bar per run would only be noise
    mup.fold(model)  # a plain GPT-2 with the same logits; a no-op for standard models
    model.save_pretrained(str(run_dir), safe_serialization=True)
    (run_dir / "tokenizer.json").write_text(data.tokenizer_json, encoding="utf-8")


def short_run(run: RunSpec, steps: int, **train_changes: Any) -> RunSpec:
    """The same run cut to `steps` steps, with no mid-run evaluation or checkpoint."""
    import dataclasses

    train = dataclasses.replace(run.train, eval_points=0, checkpoint_every_s=0.0, **train_changes)
    return dataclasses.replace(run, steps=steps, tokens=steps * train.batch_tokens, train=train)


def probe_tokens_per_s(run: RunSpec, vocab_size: int, rt: Runtime, steps: int = 4,
                       min_s: float = 1.0, max_steps: int = 64) -> float:
    """Training tokens/s of this run's shape and batch on this machine, from a few steps.

    The real loop (`train_run`) on random tokens; the median step after the first, which
    pays for allocation and warm-up. A few fast steps are too few to time: on a 2-core
    CPU three steps of an 18K-parameter model take about 0.1 s, and with three steps the
    dry run of sweeps/isoflop.yaml said 76 and 31 min on an idle machine, where the sweep
    took 22; timed for about a second, it said 16.7-20.0 min in five tries. So when
    `steps` take less than `min_s`, the probe runs again for about `min_s` (at most
    `max_steps` steps).
    `sweep --dry-run` uses it to estimate time from measured speed instead of an assumed
    fraction of the matmul peak.
    """
    step_s = _median_step_s(run, vocab_size, rt, steps)
    more = min(max_steps, math.ceil(min_s / max(step_s, 1e-9)) + 1)
    if more > steps:
        step_s = _median_step_s(run, vocab_size, rt, more)
    return run.train.batch_tokens / max(1e-9, step_s)


def _median_step_s(run: RunSpec, vocab_size: int, rt: Runtime, steps: int) -> float:
    import tempfile

    from scalecli.sweep.data import random_tokens

    data = random_tokens(vocab_size, (steps + 1) * run.train.batch_tokens, run.data.context)
    with tempfile.TemporaryDirectory(prefix="scalecli-probe-") as folder:
        result = train_run(short_run(run, steps), data, Path(folder), rt)
    at = sorted((p["step"], p["elapsed_s"]) for p in result.curve if p["step"] >= 1)
    return statistics.median(b - a for (_, a), (_, b) in itertools.pairwise(at))
