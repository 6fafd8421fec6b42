"""Training throughput: scalecli's own loop vs `transformers.Trainer` vs a nanoGPT-style model.

    python bench/train_throughput.py            # the default sweep's sizes + L6 d384
    python bench/train_throughput.py --quick    # 2 rounds x 4 steps, not 4 x 8
    python bench/train_throughput.py --tiny     # s1 on random tokens, 1 round x 1 step (CI)
    python bench/train_throughput.py --sizes s1 s5 --threads 1  # some sizes, one thread
    python bench/train_throughput.py --gpt2-124m  # GPT-2 small's shape, for a GPU
    python bench/train_throughput.py --bf16-check # scalecli's path, fp32 vs bf16 per size
    python bench/train_throughput.py --compile-check s5  # compile time and gain, whole run

On a 2-core EPYC without bf16 (fp32), --quick took 4.5 min and the default 20 min, most
of it L6 d384.

The Trainer arms need `accelerate`: `pip install -e ".[bench]"`.

In one process, for every size, four variants train on the same token stream:
  (a) scalecli: `scalecli.sweep.train.train_run`, the code `scalecli sweep` runs, data loading,
      lr schedule, clipping and logging included, at the dtype `resolve_runtime` picks;
  (b) trainer_same: `transformers.Trainer` on scalecli's own model, built by the same
      `gpt2_config` and `build_model` (no dropout, exact fused GELU, scalecli's attention
      routing, same seed), at the same precision (`bf16=True` where scalecli uses bf16
      autocast). Only the training loop differs: scalecli against Trainer (its data
      collation, accelerate's autocast wrapper, its KV cache, which scalecli's loop turns
      off with `use_cache=False`, and its per-step bookkeeping);
  (c) trainer_stock: `transformers.Trainer` on a default `GPT2Config` of the same shape
      (gelu_new, dropout 0.1, HF's default attention), same precision: what a user gets from
      Trainer by default. Against it scalecli's whole recipe is measured, model and loop;
  (d) nanogpt: a minimal nanoGPT-style model (fused qkv, SDPA, tied embeddings, exact GELU
      as in nanoGPT's own model) in a plain loop at the same precision, with fused AdamW on
      CUDA and foreach AdamW on CPU. nanoGPT's configure_optimizers asks for fused on CUDA
      only, so on CPU it gets torch's default, the per-tensor loop, which is no faster than
      foreach: this arm is, if anything, a little quicker than nanoGPT itself on CPU.
Each variant starts from a fresh model, warms up, then times several steps; variants
alternate within every round (rotating the order) so that load from other jobs on a
shared machine falls on all of them alike. Reported: median tokens/s over rounds with
the min-max spread, MFU against the matmul peak of the dtype used (measured around every
round; the median of the per-round ratios), FLOPs per token from `closed_form_counts`
(DESIGN.md), and peak memory (see `Memory`). Then, per shape, scalecli's median tokens/s
over each other variant's (above 1: scalecli is faster):
  loop_vs_trainer_<size>    scalecli / trainer_same   (the loop alone, like for like)
  recipe_vs_trainer_<size>  scalecli / trainer_stock  (scalecli against Trainer's defaults)
  vs_nanogpt_<size>         scalecli / nanogpt

The last line is machine-readable; the first two are medians over the shapes, and the
L6d384 fields read `nan` when `--sizes` leaves that shape out:
  loop_vs_trainer=<x> recipe_vs_trainer=<y> vs_nanogpt_l6d384=<z> mfu_l6d384=<m>
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import io
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scalecli.sweep.batches import Batches
from scalecli.sweep.data import TokenData, prepare, random_tokens, vocab_size_of
from scalecli.sweep.hardware import Runtime, apply_runtime, matmul_peak, resolve_runtime
from scalecli.sweep.lr_search import LR_START
from scalecli.sweep.model import build_model, closed_form_counts, gpt2_config
from scalecli.sweep.parse import load_spec
from scalecli.sweep.spec import ModelSpec, RunSpec, SweepSpec, expand
from scalecli.sweep.train import RunOptions, short_run, train_run

VARIANTS = ("scalecli", "trainer_same", "trainer_stock", "nanogpt")
# scalecli's tokens/s over each other variant's, per shape: (ratio name, variant).
RATIOS = (("loop_vs_trainer", "trainer_same"), ("recipe_vs_trainer", "trainer_stock"),
          ("vs_nanogpt", "nanogpt"))
BIG = "L6d384"


# ---------------------------------------------------------------------------------------
# Memory


class Memory:
    """Peak memory of one variant, from before its model is built to the end of training.

    CPU: the peak resident set size above the RSS at the start. Linux keeps the peak in
    /proc/self/status (VmHWM) and resets it when "5" is written to /proc/self/clear_refs,
    so each variant gets its own peak. Freed memory is first handed back (gc, malloc_trim)
    so that one variant's leftovers do not hide the next one's growth. This counts
    weights, gradients, optimizer state, activations and allocator slack, as the OS sees
    them. CUDA: torch.cuda.max_memory_allocated after reset_peak_memory_stats.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.base = 0

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def start(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            return
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")
        except OSError:
            pass
        self.base = self._status("VmRSS")

    def peak(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) - self.base
        return self._status("VmHWM") - self.base


# ---------------------------------------------------------------------------------------
# (c) a minimal nanoGPT-style model


class Block(nn.Module):
    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)  # q, k and v in one matmul
        self.c_proj = nn.Linear(d, d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    def __init__(self, n_layer: int, d: int, n_head: int, vocab: int, context: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# ---------------------------------------------------------------------------------------
# The variants: each trains `warmup + steps` steps from scratch and returns (tokens/s, info)


@dataclasses.dataclass
class Case:
    label: str
    run: RunSpec
    data: TokenData
    rt: Runtime
    warmup: int
    steps: int
    compile: bool = False

    @property
    def total(self) -> int:
        return self.warmup + self.steps

    @property
    def batch_seqs(self) -> int:
        return self.run.train.batch_tokens // self.run.data.context

    @property
    def micro_seqs(self) -> int:
        from scalecli.sweep.batches import micro_batch_seqs

        return micro_batch_seqs(self.run, self.rt.device, self.run.model.n_embd,
                                self.data.vocab_size)


def bench_scalecli(case: Case) -> tuple[float, dict[str, Any]]:
    """`train_run` itself; the timed window is read from its own curve (every step logged)."""
    with tempfile.TemporaryDirectory() as folder:
        result = train_run(case.run, case.data, Path(folder), case.rt,
                           RunOptions(compile_model=case.compile))
    if result.status != "ok":
        raise RuntimeError(f"scalecli run {result.status}: {result.error}")
    at = {p["step"]: p["elapsed_s"] for p in result.curve}
    seconds = at[case.total] - at[case.warmup]
    return case.steps * case.run.train.batch_tokens / seconds, {
        "non_compute_frac": result.non_compute_frac, "first_step_s": at[1]}


def own_config(case: Case) -> Any:
    """scalecli's model config for the case, built exactly as `train_run` builds it."""
    m = case.run.model
    return gpt2_config(n_layer=m.n_layer, n_embd=m.n_embd, n_head=m.n_head,
                       vocab_size=case.data.vocab_size, n_ctx=case.run.data.context,
                       eos_token_id=case.data.eos_id, extra=dict(m.extra))


def stock_config(case: Case) -> Any:
    """A default GPT2Config of the case's shape: gelu_new, dropout 0.1, HF's attention."""
    from transformers import GPT2Config

    m = case.run.model
    return GPT2Config(n_layer=m.n_layer, n_embd=m.n_embd, n_head=m.n_head,
                      vocab_size=case.data.vocab_size, n_positions=case.run.data.context,
                      bos_token_id=case.data.eos_id, eos_token_id=case.data.eos_id)


def training_args(case: Case, folder: str, own: bool) -> Any:
    """Trainer's settings mirroring the run's: batch, accumulation, AdamW, clip, precision."""
    from transformers import TrainingArguments

    train, micro = case.run.train, case.micro_seqs
    return TrainingArguments(
        output_dir=folder, per_device_train_batch_size=micro,
        gradient_accumulation_steps=case.batch_seqs // micro, max_steps=case.total,
        learning_rate=case.run.lr, weight_decay=train.weight_decay,
        adam_beta1=train.beta1, adam_beta2=train.beta2,
        max_grad_norm=train.grad_clip, lr_scheduler_type="cosine",
        warmup_steps=max(1, round(train.warmup_frac * case.total)),
        bf16=case.rt.autocast_dtype == torch.bfloat16, use_cpu=case.rt.device.type == "cpu",
        logging_strategy="no", save_strategy="no", eval_strategy="no", report_to=[],
        disable_tqdm=True, dataloader_num_workers=0, seed=case.run.seed,
        torch_compile=case.compile, **checkpointing_args(own and train.gradient_checkpointing),
    )


def checkpointing_args(on: bool) -> dict[str, Any]:
    """Trainer's switch for scalecli's `train.gradient_checkpointing` (non-reentrant).

    Only the same-model arm copies it (off by default); the stock arm is Trainer left
    alone. transformers 5 renamed the option (the old name warns); 4.x has only the old.
    """
    from transformers import TrainingArguments

    if not on:
        return {}
    fields = TrainingArguments.__dataclass_fields__
    name = "activation_checkpointing" if "activation_checkpointing" in fields \
        else "gradient_checkpointing"
    return {name: True, f"{name}_kwargs": {"use_reentrant": False}}


def bench_trainer(case: Case, own: bool) -> tuple[float, dict[str, Any]]:
    """`Trainer` on scalecli's model (`own`) or on a default GPT2Config, same data and steps."""
    from transformers import Trainer, TrainerCallback

    batches = Batches(case.data.train, case.run.data.context, case.batch_seqs, case.run.seed)
    # The same sequences scalecli trains on; HF shifts the labels itself (T - 1 targets).
    blocks = torch.cat([batches.get(s)[0] for s in range(case.total)])

    class Blocks(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return blocks.shape[0]

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": blocks[i], "labels": blocks[i]}

    stamps: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if case.rt.device.type == "cuda":
                torch.cuda.synchronize()
            stamps[state.global_step] = time.perf_counter()

    # build_model seeds and initialises as train_run does, for either config.
    model = build_model(own_config(case) if own else stock_config(case), case.run.seed)
    with tempfile.TemporaryDirectory() as folder:
        args = training_args(case, folder, own)
        trainer = Trainer(model=model, args=args, train_dataset=Blocks(), callbacks=[Clock()])
        trainer.train()
    seconds = stamps[case.total] - stamps[case.warmup]
    info = {"attn": model.config._attn_implementation, "act": model.config.activation_function,
            "dropout": model.config.resid_pdrop,
            "optim": str(args.optim.value if hasattr(args.optim, "value") else args.optim)}
    return case.steps * case.run.train.batch_tokens / seconds, info


def bench_trainer_same(case: Case) -> tuple[float, dict[str, Any]]:
    return bench_trainer(case, own=True)


def bench_trainer_stock(case: Case) -> tuple[float, dict[str, Any]]:
    return bench_trainer(case, own=False)


def bench_nanogpt(case: Case) -> tuple[float, dict[str, Any]]:
    m, context, device = case.run.model, case.run.data.context, case.rt.device
    apply_runtime(case.rt)
    torch.manual_seed(case.run.seed)
    model = NanoGPT(m.n_layer, m.n_embd, m.n_head, case.data.vocab_size, context).to(device)
    forward: Callable[..., torch.Tensor] = torch.compile(model) if case.compile else model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    # nanoGPT's configure_optimizers asks for fused AdamW on CUDA only; on CPU torch's
    # default is the per-tensor loop. foreach is as fast or faster, so this arm is not
    # handicapped against nanoGPT itself (see the module docstring).
    kwargs: dict[str, Any] = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": case.run.train.weight_decay},
                                   {"params": other, "weight_decay": 0.0}], lr=case.run.lr,
                                  betas=(case.run.train.beta1, case.run.train.beta2), **kwargs)
    batches = Batches(case.data.train, context, case.batch_seqs, case.run.seed)
    micro = case.micro_seqs
    accum = case.batch_seqs // micro
    dtype = case.rt.autocast_dtype
    start = 0.0
    for step in range(case.total):
        if step == case.warmup:
            start = time.perf_counter()
        x, y = (t.to(device, non_blocking=True) for t in batches.get(step))
        for i in range(accum):
            with torch.autocast(device.type, dtype=dtype or torch.float32,
                                enabled=dtype is not None):
                logits = forward(x[i * micro:(i + 1) * micro])
            loss = F.cross_entropy(logits.float().flatten(0, 1),
                                   y[i * micro:(i + 1) * micro].flatten()) / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), case.run.train.grad_clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # one host sync per step, as in scalecli's loop
    seconds = time.perf_counter() - start
    return case.steps * case.run.train.batch_tokens / seconds, {}


BENCH: dict[str, Callable[[Case], tuple[float, dict[str, Any]]]] = {
    "scalecli": bench_scalecli, "trainer_same": bench_trainer_same,
    "trainer_stock": bench_trainer_stock, "nanogpt": bench_nanogpt}


# ---------------------------------------------------------------------------------------
# Cases


def case_data(data_spec: Any, tiny: bool) -> TokenData:
    """The tokenised corpus with two held-out sequences, or (--tiny) random tokens.

    train_run ends with an evaluation (outside its timed window): two sequences suffice.
    --tiny skips preparing the corpus (training its tokenizer takes ~20-30 s the first
    time): throughput depends on the shape and vocabulary, not on the text.
    """
    context = data_spec.context
    if tiny:
        return random_tokens(vocab_size_of(data_spec), 200_000, context)
    return prepare(data_spec, 2 * context + 1)


def gpt2_124m_cases(args: argparse.Namespace, spec: SweepSpec, dtype: str) -> list[Case]:
    # GPT-2 small: 12 layers, width 768, 12 heads, context 1024, vocab 50257.
    context, vocab = 1024, 50257
    data = random_tokens(vocab, 4_000_000, context)
    base = expand(dataclasses.replace(
        spec, data=dataclasses.replace(spec.data, context=context)), vocab)[0]
    run = dataclasses.replace(base, model=ModelSpec("gpt2-124m", 12, 768, 12), lr=6e-4)
    rt = resolve_runtime(spec.runtime.device, dtype, spec.runtime.threads)
    case = Case("gpt2-124m", run, data, rt, args.warmup, args.steps)
    case.run = short_run(run, case.total, batch_tokens=args.batch_tokens or 32768)
    return [case]


def sweep_cases(args: argparse.Namespace, spec: SweepSpec, dtype: str) -> list[Case]:
    """One case per selected size of the sweep, on the sweep's own data."""
    names = [m.name for m in spec.models]
    wanted = args.sizes or (names[:1] if args.tiny else names)
    if not set(wanted) & set(names):
        return []
    if not args.tiny:
        print("preparing the sweep's data", flush=True)
    data = case_data(spec.data, args.tiny)
    cases, seen = [], set()
    for run in expand(spec, data.vocab_size):
        if run.model.name in seen or run.model.name not in wanted:
            continue
        seen.add(run.model.name)
        rt = resolve_runtime(spec.runtime.device, dtype, spec.runtime.threads)
        case = Case(run.model.name, run, data, rt, args.warmup, args.steps)
        case.run = short_run(run, case.total)
        cases.append(case)
    return cases


def big_case(args: argparse.Namespace, spec: SweepSpec, dtype: str) -> Case:
    """A larger model, where matmuls dominate: 6 layers, width 384, vocab 4096, context 256,
    batch 16 sequences."""
    context = 256
    data_spec = dataclasses.replace(spec.data, tokenizer="bpe:4096", context=context)
    if not args.tiny:
        print("preparing bpe:4096 at context 256", flush=True)
    data = case_data(data_spec, args.tiny)
    run = expand(dataclasses.replace(spec, data=data_spec), data.vocab_size)[0]
    run = dataclasses.replace(run, model=ModelSpec(BIG, 6, 384, 6), lr=1e-3)
    rt = resolve_runtime(spec.runtime.device, dtype, spec.runtime.threads)
    case = Case(BIG, run, data, rt, min(args.warmup, 2), args.steps)
    case.run = short_run(run, case.total, batch_tokens=16 * context)
    return case


def make_cases(args: argparse.Namespace) -> list[Case]:
    spec, _raw = load_spec(Path(args.sweep) if args.sweep else None)
    dtype = args.dtype or spec.runtime.dtype
    spec = dataclasses.replace(spec, runtime=dataclasses.replace(
        spec.runtime, threads=args.threads or spec.runtime.threads))
    if spec.train.lr_auto:  # speed does not depend on the lr: the search's first centre
        spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, lr=(LR_START,)))
    if args.gpt2_124m:
        return gpt2_124m_cases(args, spec, dtype)
    cases = sweep_cases(args, spec, dtype)
    if (BIG in args.sizes) if args.sizes else not args.tiny:
        cases.append(big_case(args, spec, dtype))
    if not cases:
        raise SystemExit(f"--sizes {' '.join(args.sizes)}: no such size "
                         f"(the sweep has {', '.join(m.name for m in spec.models)}; also {BIG})")
    return cases


# ---------------------------------------------------------------------------------------
# Measuring and reporting


def measure(cases: list[Case], variants: tuple[str, ...], rounds: int,
            compile_all: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for case in cases:
        case.compile = compile_all
        mem = Memory(case.rt.device)
        for r in range(rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            # The machine's speed drifts (other tenants, clocks): every round measures the
            # matmul peak right before and after its variants, so each round's MFU is a
            # ratio of two measurements taken side by side. The higher one is the peak.
            before = peak_of(case)
            rates = {}
            for variant in order:
                mem.start()
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")  # Trainer's metrics and deprecations
                    rates[variant], info = BENCH[variant](case)
                s = stats.setdefault((case.label, variant),
                                     {"rates": [], "peaks": [], "mem": 0, "info": {}})
                s["rates"].append(rates[variant])
                s["mem"] = max(s["mem"], mem.peak())
                for key, value in info.items():
                    s["info"].setdefault(key, []).append(value)
            peak = max(before, peak_of(case))
            for variant in variants:
                stats[(case.label, variant)]["peaks"].append(peak)
            line = "  ".join(f"{v} {rates[v]:,.0f}" for v in variants)
            print(f"  {case.label} round {r + 1}/{rounds}: {line} tok/s; "
                  f"{case.rt.dtype_name} matmul peak {peak / 1e9:.0f} GFLOP/s", flush=True)
    return stats


def peak_of(case: Case) -> float:
    """The dense matmul peak in the case's dtype, measured now (hardware.matmul_peak)."""
    rt = case.rt
    return matmul_peak.__wrapped__(rt.device.type, rt.dtype_name, rt.threads)


def fmt_rate(rates: list[float]) -> str:
    return f"{statistics.median(rates):>9,.0f} [{min(rates):,.0f}-{max(rates):,.0f}]"


def flops_per_token(case: Case) -> int:
    m = case.run.model
    return closed_form_counts(n_layer=m.n_layer, n_embd=m.n_embd,
                              vocab_size=case.data.vocab_size, n_ctx=case.run.data.context,
                              n_inner=dict(m.extra).get("n_inner")).flops_per_token


def median_rate(stats: dict[tuple[str, str], dict[str, Any]], label: str, variant: str) -> float:
    s = stats.get((label, variant))
    return statistics.median(s["rates"]) if s else math.nan


def mfu_of(s: dict[str, Any], flops: int) -> float:
    # MFU per round against that round's peak, then the median over rounds.
    return statistics.median(r * flops / p for r, p in zip(s["rates"], s["peaks"], strict=True))


def print_case(case: Case, variants: tuple[str, ...],
               stats: dict[tuple[str, str], dict[str, Any]]) -> float:
    """The case's rows of the variant table; returns scalecli's MFU."""
    m, flops = case.run.model, flops_per_token(case)
    own = median_rate(stats, case.label, "scalecli")
    for variant in variants:
        s = stats[(case.label, variant)]
        print(f"{case.label:9} {m.n_layer:>2} {m.n_embd:>4} {case.data.vocab_size:>6} "
              f"{case.run.data.context:>5} {case.rt.dtype_name:5} {variant:13} "
              f"{fmt_rate(s['rates']):>30} {mfu_of(s, flops):>6.1%} {s['mem'] / 2**20:>9.0f} "
              f"{own / statistics.median(s['rates']):>10.2f}x")
    extra = stats[(case.label, "scalecli")]["info"]
    if "non_compute_frac" in extra:
        print(f"{'':9} scalecli non_compute_frac (whole short run, first step included): "
              f"median {statistics.median(extra['non_compute_frac']):.1%}")
    return mfu_of(stats[(case.label, "scalecli")], flops)


def shape_ratios(label: str, stats: dict[tuple[str, str], dict[str, Any]]) -> dict[str, float]:
    """scalecli's median tokens/s over each other variant's, for one shape."""
    own = median_rate(stats, label, "scalecli")
    return {name: own / median_rate(stats, label, variant) for name, variant in RATIOS}


def report(cases: list[Case], variants: tuple[str, ...],
           stats: dict[tuple[str, str], dict[str, Any]]) -> None:
    print()
    print(f"{'size':9} {'L':>2} {'d':>4} {'V':>6} {'T':>5} {'dtype':5} {'variant':13} "
          f"{'tok/s median [min-max]':>30} {'MFU':>6} {'peak MiB':>9} {'vs scalecli':>11}")
    mfu_big = math.nan
    for case in cases:
        mfu = print_case(case, variants, stats)
        if case.label == BIG:
            mfu_big = mfu
    for variant in ("trainer_same", "trainer_stock"):
        info = next((s["info"] for (_, v), s in stats.items() if v == variant), {})
        if info:
            print(f"{variant} model: attention {info['attn'][0]}, activation {info['act'][0]}, "
                  f"dropout {info['dropout'][0]}, optimizer {info['optim'][0]}")
    peaks = [p for (_, v), s in stats.items() if v == "scalecli" for p in s["peaks"]]
    print(f"matmul peak per round: median {statistics.median(peaks) / 1e9:.1f} GFLOP/s "
          f"[{min(peaks) / 1e9:.1f}-{max(peaks) / 1e9:.1f}] (each case in its own dtype)")

    print("\nper shape, scalecli's median tokens/s over the other's (above 1: scalecli faster);"
          "\nloop: Trainer on scalecli's model; recipe: Trainer on a default GPT2Config")
    per_shape = {case.label: shape_ratios(case.label, stats) for case in cases}
    for label, ratios in per_shape.items():
        key = label.lower()
        print(f"{label:9} " + " ".join(f"{name}_{key}={value:.3f}"
                                       for name, value in ratios.items()))

    def med(name: str) -> float:
        return statistics.median(r[name] for r in per_shape.values())

    big = per_shape.get(BIG, {})
    print(f"loop_vs_trainer={med('loop_vs_trainer'):.3f} "
          f"recipe_vs_trainer={med('recipe_vs_trainer'):.3f} "
          f"vs_nanogpt_{BIG.lower()}={big.get('vs_nanogpt', math.nan):.3f} "
          f"mfu_{BIG.lower()}={mfu_big:.3f}")


def bf16_check(cases: list[Case], rounds: int) -> None:
    """scalecli's path at fp32 and at bf16 autocast, per size: does bf16 pay at every width?"""
    print(f"\n{'size':6} {'d':>4} {'fp32 tok/s':>28} {'bf16 tok/s':>28} {'bf16 gain':>9}")
    for case in cases:
        rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for r in range(rounds):
            for name in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
                dtype = torch.bfloat16 if name == "bf16" else None
                rates[name].append(bench_scalecli(dataclasses.replace(
                    case, rt=dataclasses.replace(case.rt, autocast_dtype=dtype)))[0])
        gain = statistics.median(rates["bf16"]) / statistics.median(rates["fp32"])
        print(f"{case.label:6} {case.run.model.n_embd:>4} {fmt_rate(rates['fp32']):>28} "
              f"{fmt_rate(rates['bf16']):>28} {gain:>8.2f}x", flush=True)


def compile_check(case: Case, steps: int) -> None:
    """A whole run (the sweep's own steps, evaluations included), eager and compiled."""
    print(f"\ncompile check: {case.label}, {steps} steps, eval points and final eval included")
    for flag in (False, True):
        run = dataclasses.replace(case.run, steps=steps,
                                  tokens=steps * case.run.train.batch_tokens,
                                  train=dataclasses.replace(case.run.train, eval_points=4))
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            result = train_run(run, case.data, Path(folder), case.rt,
                               RunOptions(compile_model=flag))
            wall = time.perf_counter() - t0
        at = {p["step"]: p["elapsed_s"] for p in result.curve}
        late = [s for s in sorted(at) if s >= steps // 2]
        steady = (at[late[-1]] - at[late[0]]) / (late[-1] - late[0])
        print(f"  compile={flag!s:5} wall {wall:6.1f}s  first step {at[min(at)]:6.2f}s  "
              f"steady {steady * 1e3:6.1f} ms/step  tokens/s (loop) {result.tokens_per_s:,.0f}  "
              f"non_compute {result.non_compute_frac:.1%}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds x 4 steps, not 4 x 8")
    parser.add_argument("--tiny", action="store_true",
                        help="CI smoke run: the smallest size (or --sizes) on random tokens, "
                             "1 round, 1 warmup step, 1 timed step")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    parser.add_argument("--sizes", nargs="*", help=f"only these sizes (e.g. s1 s5 {BIG})")
    parser.add_argument("--sweep", help="sweep file (default: sweeps/default.yaml)")
    parser.add_argument("--dtype", choices=("auto", "fp32", "bf16"), help="override the rule")
    parser.add_argument("--threads", type=int,
                        help="torch threads (default: the sweep's runtime.threads, else one per "
                             "physical core)")
    parser.add_argument("--gpt2-124m", action="store_true",
                        help="GPT-2 small's shape (12 x 768, context 1024, vocab 50257): a GPU run")
    parser.add_argument("--batch-tokens", type=int, help="with --gpt2-124m (default 32768)")
    parser.add_argument("--compile", action="store_true", help="torch.compile all variants")
    parser.add_argument("--bf16-check", action="store_true")
    parser.add_argument("--compile-check", metavar="SIZE")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.tiny else 2 if args.quick else 4)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 2)
    args.steps = args.steps or (1 if args.tiny else 4 if args.quick else 8)
    if args.compile or args.compile_check:
        args.warmup = max(args.warmup, 3)  # the first steps compile
    if args.compile_check:
        args.sizes = [args.compile_check]
    return args


def main() -> None:
    args = parse_args()
    t0 = time.perf_counter()
    cases = make_cases(args)
    rt = cases[0].rt
    apply_runtime(rt)
    print(f"torch {torch.__version__}, {rt.device}, {rt.threads} threads, "
          f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM')}", flush=True)
    if args.compile_check:
        compile_check(cases[0], 60 if args.quick else _sweep_steps(args))
        return
    if args.bf16_check:
        bf16_check(cases, args.rounds)
        return
    stats = measure(cases, VARIANTS, args.rounds, compile_all=args.compile)
    print(f"\nwarmup {args.warmup} steps ({BIG}: {min(args.warmup, 2)}), timed {args.steps} "
          f"steps, {args.rounds} interleaved rounds, matmul peak measured around every round; "
          f"total {time.perf_counter() - t0:.0f}s")
    report(cases, VARIANTS, stats)


def _sweep_steps(args: argparse.Namespace) -> int:
    spec, _ = load_spec(Path(args.sweep) if args.sweep else None)
    return spec.budget.tokens[0] // spec.train.batch_tokens if spec.budget.tokens else 300


if __name__ == "__main__":
    main()
