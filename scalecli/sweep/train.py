"""The training loop of one run: a plain PyTorch loop, flat and readable top to bottom.

A run is a LoopState (scalecli/sweep/loop_state.py), advanced by `step`: set the lr by the
run's schedule (warmup then cosine, or WSD's warmup, stable phase and cooldown), run the
gradient-accumulation micro-steps, clip, step AdamW, zero the gradients. `train_steps`
adds what happens between steps: the divergence test, the curve, the periodic
evaluations and checkpoints, Ctrl-C. A fresh run, a resumed one, a WSD branch and a
throughput probe differ only in the state they start from (`start_state`). A plain loop
is measurably faster than `transformers.Trainer` here, and easier to read.

With `runtime.workers_per_run` above 1 the same loop runs on every rank of a data-parallel
group (scalecli/sweep/distributed.py): each rank takes its slice of every batch, DDP
averages the gradients, and rank 0 alone evaluates and writes the run's files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from scalecli.errors import Interrupted
from scalecli.faults import fail_point, pause_point
from scalecli.sweep import checkpoint, distributed, mup
from scalecli.sweep.batches import Batches, micro_batch_seqs
from scalecli.sweep.data import TokenData
from scalecli.sweep.distributed import Ranks
from scalecli.sweep.evaluate import EvalResult, evaluate, val_tensors
from scalecli.sweep.hardware import Runtime, apply_runtime, matmul_peak
from scalecli.sweep.loop_state import LoopState
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
    if run.is_wsd:
        return wsd_lr(step, run.steps, run.lr, run.warmup, t.cooldown_frac, t.cooldown_shape,
                      t.min_lr_frac)
    return cosine_lr(step, run.steps, run.lr, t.warmup_frac, t.min_lr_frac)


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


def _eval_steps(steps: int, points: int) -> set[int]:
    return {round(steps * i / (points + 1)) for i in range(1, points + 1)} - {0, steps}


OnStep = Callable[[int, float, float], None]  # (step, training loss, lr) after each step


def _never() -> bool:
    return False


@dataclass(frozen=True)
class RunOptions:
    """How one call of `train_run` trains its run, beyond what the RunSpec says."""

    compile_model: bool = False
    """torch.compile the model (`compile: auto` decides per run: hardware.should_compile)."""
    should_stop: Callable[[], bool] = _never
    """Asked after every step; True saves a checkpoint and raises Interrupted (Ctrl-C)."""
    on_step: OnStep | None = None
    """Told (step, loss, lr) after every step: a progress bar."""
    start_from: Path | None = None
    """A WSD branch: its branch point, the checkpoint to start from while the run has none
    of its own (scalecli/sweep/branches.py)."""
    stop_at: int | None = None
    """A WSD stable phase: train to this step only, and return without a final evaluation."""
    snapshots: Mapping[int, Path] = field(default_factory=dict)
    """A WSD stable phase: the folders to save a branch point into, by step."""
    workers: int = 1
    """runtime.workers_per_run: more than 1 trains the run data-parallel on that many
    processes, started here (distributed.launch) unless this process is already one rank
    of a group (a rank of that launch, or a Ray Train worker)."""


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


@dataclass(frozen=True)
class Setup:
    """What stays fixed over one run's steps (the LoopState is what changes)."""

    run: RunSpec
    rt: Runtime
    forward: Any  # the model, or its torch.compile wrapper: what evaluations call
    ddp: Any  # its DistributedDataParallel wrapper, what steps call; None on one process
    ranks: Ranks  # this process's rank among the run's workers (rank 0 of 1 alone)
    batches: Batches
    micro: int  # sequences per forward pass
    accum: int  # forward passes per optimizer step (on each rank)
    flops_per_token: int
    val: tuple[torch.Tensor, torch.Tensor]  # the held-out inputs and targets, (k, T) each
    eval_seqs: int  # held-out sequences per evaluation forward pass
    end: int  # the step this call stops at: the run's last, or its stable phase's
    branch_at: int  # curve.csv's phase under wsd: shared "stable" steps up to here


def train_run(run: RunSpec, data: TokenData, run_dir: Path, rt: Runtime,
              options: RunOptions = RunOptions()) -> RunResult:
    """Train one run, evaluate it on the held-out tokens and save its final weights.

    Its lr follows its schedule (`lr_of`: warmup then cosine, or WSD's warmup, stable
    phase and cooldown). It starts where `start_state` says: its own checkpoint (a
    resumed run), else `options.start_from` (a WSD branch), else step 0. With
    `options.stop_at` it is a WSD stable phase: it trains to that step, saves a branch
    point at each step of `options.snapshots`, and returns without a final evaluation.
    """
    ranks = Ranks.current()
    if options.workers > 1 and ranks.world == 1:  # start the workers, each comes back here
        fields = distributed.launch(train_run, run, data, run_dir, rt, options)
        val = fields.pop("val")
        return RunResult(**fields, val=None if val is None else EvalResult(**val))
    started = time.perf_counter()
    apply_runtime(rt)
    model, optimizer = build(run, data, rt.device)
    state = start_state(model, optimizer, run_dir, options.start_from)
    distributed.check_same_step(state.step, ranks, rt.device)
    setup = prepare(run, data, rt, state, options, ranks)
    error = train_steps(setup, state, run_dir, options)
    device = str(rt.device) if ranks.world == 1 else f"{ranks.world}x{rt.device.type}"
    result = RunResult(status="diverged" if error else "ok", error=error,
                       train_loss=state.last_loss, steps_done=state.step, dtype=rt.dtype_name,
                       device=device, compiled=options.compile_model, curve=state.curve)
    if options.stop_at is not None or not ranks.main:  # a stable phase's branches evaluate
        return result
    _measure_speed(result, setup, state)
    if not error:
        result.val = _final_eval(setup, state)
        save_final(run_dir, model, data)
    result.wall_s = time.perf_counter() - started
    return result


def build(run: RunSpec, data: TokenData, device: torch.device) -> tuple[Any, Any]:
    """The run's model at its seeded initialisation, on `device`, and its optimizer."""
    config = gpt2_config(n_layer=run.model.n_layer, n_embd=run.model.n_embd,
                         n_head=run.model.n_head, vocab_size=data.vocab_size,
                         n_ctx=run.data.context, eos_token_id=data.eos_id,
                         extra=dict(run.model.extra))
    model = build_model(config, run.seed)
    if run.train.parametrization == "mup":
        mup.apply(model, run.train.lr_ref_width)
    model = model.to(device)
    if run.train.gradient_checkpointing:
        enable_activation_checkpointing(model)
    model.train()
    return model, _optimizer(model, run, device)


def start_state(model: Any, optimizer: Any, run_dir: Path,
                branch_point: Path | None = None) -> LoopState:
    """Where a run starts: its own checkpoint when it has one (a resumed run, a branch
    resumed), else the branch point it was given (a WSD branch), else step 0 (a fresh run,
    a throughput probe). `model` and `optimizer` are fresh from `build`."""
    for folder in (run_dir, branch_point):
        found = None if folder is None else checkpoint.find(folder)
        if found is not None:
            return checkpoint.load(found, model, optimizer)
    return LoopState(model, optimizer)


def prepare(run: RunSpec, data: TokenData, rt: Runtime, state: LoopState,
            options: RunOptions, ranks: Ranks = Ranks()) -> Setup:
    """The run's fixed parts, once its state is loaded (compiling after the load, then
    wrapping in DDP as nanoGPT does)."""
    context = run.data.context
    batch_seqs = run.train.batch_tokens // context
    micro = micro_batch_seqs(run, rt.device, run.model.n_embd, data.vocab_size, ranks.world)
    end = run.steps if options.stop_at is None else options.stop_at
    forward = torch.compile(state.model) if options.compile_model else state.model
    return Setup(
        run=run, rt=rt, forward=forward,
        ddp=distributed.wrap(forward, rt.device) if ranks.world > 1 else None, ranks=ranks,
        batches=Batches(data.train, context, batch_seqs, run.seed), micro=micro,
        accum=batch_seqs // ranks.world // micro,
        flops_per_token=count_params(state.model).flops_per_token,
        val=val_tensors(data.val, context), eval_seqs=max(1, run.eval.batch_tokens // context),
        end=end, branch_at=run.branch_step if run.is_wsd and options.stop_at is None else end)


def step(setup: Setup, state: LoopState) -> tuple[float, float, str]:
    """One optimizer step at the scheduled lr: state.step advances by one. Returns the lr,
    the step's training loss, and why the run diverged there ("" when it did not).

    On k ranks each takes its 1/k of the batch; DDP divides every gradient by k when it
    sums them, so (equal micro-batches throughout) the update is the 1-worker update, and
    the loss is the mean over the ranks, the same on each."""
    run, device, autocast = setup.run, setup.rt.device, setup.rt.autocast_dtype
    lr = lr_of(run, state.step)
    for group in state.optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]
    x, y = setup.batches.get(state.step)
    share = slice(setup.ranks.rank * setup.micro * setup.accum,
                  (setup.ranks.rank + 1) * setup.micro * setup.accum)  # this rank's sequences
    x, y = x[share].to(device, non_blocking=True), y[share].to(device, non_blocking=True)
    if device.type == "cuda":
        torch.cuda.synchronize()  # so that compute_s times this step alone
    t0 = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    for m in range(setup.accum):
        part = slice(m * setup.micro, (m + 1) * setup.micro)
        xs, ys = x[part], y[part]
        # Under no_sync, backward leaves out the all-reduce: only the last micro-step syncs.
        with distributed.no_sync(setup.ddp, last=m == setup.accum - 1):
            with torch.autocast(device.type, dtype=autocast or torch.float32,
                                enabled=autocast is not None):
                # use_cache=False: no KV cache to build and copy in training (same numbers).
                logits = (setup.ddp or setup.forward)(input_ids=xs, use_cache=False).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), ys.flatten()) / setup.accum
            loss.backward()
        loss_sum += loss.detach()
    if run.train.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), run.train.grad_clip,
                                       foreach=True)
    state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    # Every rank must see the same loss: the divergence test ends the run on all of them.
    loss_value = distributed.mean_over_ranks(loss_sum, setup.ranks).item()  # the host sync
    state.compute_s += time.perf_counter() - t0
    state.step += 1
    error = _divergence(run, state, loss_value)
    if not error:  # a diverged step is no minimum, and train_loss stays the last good one
        state.min_loss = min(state.min_loss, loss_value)
        state.last_loss = loss_value
    return lr, loss_value, error


def _divergence(run: RunSpec, state: LoopState, loss: float) -> str:
    if not math.isfinite(loss):
        return f"non-finite loss {loss} at step {state.step}"
    if state.step > run.warmup and loss > run.train.diverge_factor * state.min_loss:
        return (f"loss {loss:.4g} at step {state.step} exceeds {run.train.diverge_factor:g}"
                f" x its running minimum {state.min_loss:.4g}")
    return ""


def train_steps(setup: Setup, state: LoopState, run_dir: Path, options: RunOptions) -> str:
    """Step `state` to setup.end; returns why the run diverged ("" when it did not).

    Between steps: the curve (every 1% of the run, at each evaluation, at the branch point
    and the end), the mid-run evaluations, and what `_save_between` writes.
    """
    run = setup.run
    evals = _eval_steps(run.steps, run.train.eval_points)
    log_every = max(1, run.steps // 100)
    origin = time.perf_counter() - state.train_s  # a resumed run's clock goes on
    last_save, window = time.perf_counter(), []
    while state.step < setup.end:
        lr, loss, error = step(setup, state)
        state.train_s = time.perf_counter() - origin
        if error:
            return error
        window.append(loss)
        val_loss = None
        if state.step in evals and setup.ranks.main:  # no collective inside: rank 0 alone
            val_loss = _evaluate(setup, state).loss
            state.train_s = time.perf_counter() - origin
        if (state.step % log_every == 0 or val_loss is not None
                or state.step in (setup.end, setup.branch_at)):
            state.curve.append(_point(setup, state, lr, sum(window) / len(window), val_loss))
            window = []
        if options.on_step is not None:
            options.on_step(state.step, loss, lr)
        pause_point(f"step:{state.step}")  # test-only (scalecli/faults.py)
        fail_point(f"rank{setup.ranks.rank}:step:{state.step}")
        last_save = _save_between(setup, state, run_dir, options, last_save)
    return ""


def _point(setup: Setup, state: LoopState, lr: float, train_loss: float,
           val_loss: float | None) -> dict[str, Any]:
    """One point of curve.csv, at the step just taken."""
    tokens = state.step * setup.run.train.batch_tokens
    phase = ("stable" if state.step <= setup.branch_at else "cooldown") if setup.run.is_wsd \
        else None
    return {"step": state.step, "tokens": tokens, "flops": tokens * setup.flops_per_token,
            "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
            "elapsed_s": round(state.train_s, 3), "phase": phase}


def _save_between(setup: Setup, state: LoopState, run_dir: Path, options: RunOptions,
                  last_save: float) -> float:
    """What a step leaves on disk: a stable phase's branch point at its step, a checkpoint
    every checkpoint_every_s and on Ctrl-C, which then stops the run. Returns the time of
    the last checkpoint. Rank 0 alone writes; every rank stops at the same step."""
    main = setup.ranks.main
    if state.step in options.snapshots and main:  # a branch point, kept until its branch is done
        checkpoint.save(options.snapshots[state.step], state)
    interval = setup.run.train.checkpoint_every_s
    stop = distributed.any_rank(options.should_stop(), setup.ranks, setup.rt.device)
    if main and state.step < setup.end and (
            stop or (interval and time.perf_counter() - last_save > interval)):
        checkpoint.save(run_dir, state)
        last_save = time.perf_counter()
    if stop and state.step < setup.end:
        raise Interrupted(f"stopped at step {state.step} of {setup.end}; checkpoint saved. "
                          "Run the same command again to resume")
    return last_save


def _evaluate(setup: Setup, state: LoopState) -> EvalResult:
    t0 = time.perf_counter()
    result = evaluate(setup.forward, *setup.val, batch_seqs=setup.eval_seqs,
                      device=setup.rt.device)
    state.eval_s += time.perf_counter() - t0
    return result


def _final_eval(setup: Setup, state: LoopState) -> EvalResult:
    """The held-out loss at the run's end, also the curve's last val_loss."""
    final = _evaluate(setup, state)
    if state.curve and state.curve[-1]["step"] == setup.run.steps:
        state.curve[-1]["val_loss"] = final.loss
    return final


def _measure_speed(result: RunResult, setup: Setup, state: LoopState) -> None:
    """Throughput and utilisation of the training steps, evaluations excluded."""
    rt = setup.rt
    loop_s = max(1e-9, state.train_s - state.eval_s)
    result.tokens_per_s = state.step * setup.run.train.batch_tokens / loop_s
    # The peak of every worker's device (or thread share) together.
    peak = matmul_peak(rt.device.type, rt.dtype_name, rt.threads) * setup.ranks.world
    result.mfu = result.tokens_per_s * setup.flops_per_token / peak
    # Time outside forward, backward, optimizer and evaluation: data, logging, Python.
    result.non_compute_frac = max(0.0, 1 - (state.compute_s + state.eval_s)
                                  / max(state.train_s, 1e-9))


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
