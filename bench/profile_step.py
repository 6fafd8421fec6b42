"""Where a training step of the default sweep's sizes spends its time, by kind of work.

    python bench/profile_step.py                       # s1 and s5, 1 and 2 threads
    python bench/profile_step.py --sizes s1 s3 --threads 2
    python bench/profile_step.py --tiny                # CI smoke: s1, 1 thread, 2 steps

Each size of sweeps/default.yaml (its context, batch, lr rule and dtype: bf16 autocast on a
CPU with native bf16) is built as `scalecli sweep` builds it, and `train.step`, the step the
sweep runs (lr, forward, loss, backward, clipping, AdamW, the host sync), is timed and then
profiled with torch.profiler. Ops are grouped by what they do:

  matmul          mm, addmm, bmm, baddbmm: the linear layers, the tied head, attention
  vocab softmax   the log-softmax and NLL over the vocabulary, forward and backward
  attn softmax    the attention probabilities, forward and backward
  casts           copies between fp32 and bf16 under autocast (and other copies)
  norm + gelu     LayerNorm and GELU, forward and backward
  optimizer       AdamW, the gradient norm and clipping, zeroing
  elementwise     adds, sums, fills, embeddings, concatenation
  framework       views, allocation, autograd's bookkeeping, Python ranges

What the numbers say about overhead: if a step were bound by a fixed cost per op (Python,
dispatch, kernel launch), a second thread would not shorten it; if it is bound by the
kernels' work, two threads take it to about half. `thread_speedup` is that ratio. The held-
out evaluation (fp32, `eval.tokens`) is timed once per size as well.

The last line is KEY=VALUE: per size, the median step in ms at each thread count, the
thread speedup, and the matmul share of the profiled step time at the most threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scalecli.sweep import train  # noqa: E402
from scalecli.sweep.data import prepare  # noqa: E402
from scalecli.sweep.hardware import resolve_runtime  # noqa: E402
from scalecli.sweep.loop_state import LoopState  # noqa: E402
from scalecli.sweep.parse import load_spec  # noqa: E402
from scalecli.sweep.spec import expand  # noqa: E402

CATEGORIES: dict[str, tuple[str, ...]] = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul"),
    "vocab softmax": ("aten::_log_softmax", "aten::_log_softmax_backward_data",
                      "aten::nll_loss", "aten::nll_loss_forward", "aten::nll_loss_backward"),
    "attn softmax": ("aten::_softmax", "aten::_softmax_backward_data"),
    "casts": ("aten::copy_", "aten::_to_copy", "aten::to", "aten::clone", "aten::contiguous"),
    "norm + gelu": ("aten::native_layer_norm", "aten::native_layer_norm_backward",
                    "aten::gelu", "aten::gelu_backward"),
    "optimizer": ("aten::_fused_adamw_", "aten::linalg_vector_norm", "aten::zero_",
                  "aten::clamp", "aten::stack", "aten::reciprocal"),
    "elementwise": ("aten::add", "aten::add_", "aten::sum", "aten::fill_", "aten::mul",
                    "aten::mul_", "aten::cat", "aten::index", "aten::embedding",
                    "aten::embedding_dense_backward", "aten::index_select", "aten::div",
                    "aten::triu", "aten::full", "aten::arange", "aten::where",
                    "aten::masked_fill"),
}


def category(name: str) -> str:
    if name.startswith("aten::_foreach"):  # clipping's multi-tensor ops
        return "optimizer"
    return next((kind for kind, names in CATEGORIES.items() if name in names), "framework")


def runs_of_default(sizes: list[str]) -> tuple[dict[str, object], object]:
    spec, _ = load_spec(ROOT / "sweeps" / "default.yaml")
    data = prepare(spec.data, spec.eval.tokens)
    # The lr the default sweep's search chooses on the embedded corpus (docs/benchmarks.md).
    runs = {r.model.name: r for r in expand(spec, data.vocab_size, {0: 1e-2}) if r.seed == 0}
    return {s: runs[s] for s in sizes}, data


def measure(run: object, data: object, threads: int, steps: int, rounds: int
            ) -> dict[str, object]:
    rt = resolve_runtime("cpu", "auto", threads)
    train.apply_runtime(rt)
    model, optimizer = train.build(run, data, rt.device)
    state = LoopState(model, optimizer)
    setup = train.prepare(run, data, rt, state, train.RunOptions())
    for _ in range(3):  # warm-up: allocator, oneDNN primitives
        train.step(setup, state)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            train.step(setup, state)
        times.append((time.perf_counter() - start) / steps * 1e3)
    start = time.perf_counter()
    train.evaluate(setup.forward, *setup.val, batch_seqs=setup.eval_seqs, device=rt.device)
    eval_s = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train.step(setup, state)
    by_kind: dict[str, float] = {}
    for event in prof.key_averages():
        kind = category(event.key)
        by_kind[kind] = by_kind.get(kind, 0.0) + event.self_cpu_time_total / 1e3 / steps
    return {"step_ms": statistics.median(times), "spread": (min(times), max(times)),
            "eval_s": eval_s, "by_kind": by_kind, "dtype": rt.dtype_name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["s1", "s5"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="CI smoke: s1, 1 thread, 2 steps")
    args = parser.parse_args()
    if args.tiny:
        args.sizes, args.threads, args.steps, args.rounds = ["s1"], [1], 2, 1
    runs, data = runs_of_default(args.sizes)
    fields: dict[str, str] = {}
    for size, run in runs.items():
        results = {t: measure(run, data, t, args.steps, args.rounds) for t in args.threads}
        kinds = [*CATEGORIES, "framework"]
        print(f"\n{size} (L{run.model.n_layer} d{run.model.n_embd}, {run.train.batch_tokens} "
              f"tokens per step, {results[args.threads[0]]['dtype']})")
        print(f"{'':<16}" + "".join(f"{f'{t} thread(s)':>22}" for t in args.threads))
        for kind in kinds:
            cells = []
            for t in args.threads:
                r = results[t]
                ms = r["by_kind"].get(kind, 0.0)
                cells.append(f"{ms:8.2f} ms {100 * ms / sum(r['by_kind'].values()):5.1f}%")
            print(f"{kind:<16}" + "".join(f"{c:>22}" for c in cells))
        print(f"{'profiled step':<16}" + "".join(
            f"{sum(results[t]['by_kind'].values()):>19.2f} ms" for t in args.threads))
        print(f"{'timed step':<16}" + "".join(
            f"{results[t]['step_ms']:>19.2f} ms" for t in args.threads)
            + "   (median; profiling adds its own cost)")
        print(f"{'evaluation':<16}" + "".join(
            f"{results[t]['eval_s']:>20.2f} s" for t in args.threads)
            + f"   ({data.val.size - 1:,} held-out tokens, fp32)")
        for t in args.threads:
            fields[f"{size}_step_ms_{t}t"] = f"{results[t]['step_ms']:.2f}"
        if len(args.threads) > 1:
            lo, hi = min(args.threads), max(args.threads)
            fields[f"{size}_thread_speedup"] = (
                f"{results[lo]['step_ms'] / results[hi]['step_ms']:.2f}")
        top = results[max(args.threads)]["by_kind"]
        fields[f"{size}_matmul_share"] = f"{top.get('matmul', 0.0) / sum(top.values()):.2f}"
    print(" ".join(f"{k}={v}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
