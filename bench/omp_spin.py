"""How long torch's OpenMP threads should spin before they sleep: libgomp's default against
GOMP_SPINCOUNT=k, on an idle machine and beside one busy process.

    python bench/omp_spin.py                  # s1 and s5, spin counts 1e3 ... 3e4
    python bench/omp_spin.py --spins 3000 10000 --repeats 5
    python bench/omp_spin.py --tiny           # CI smoke: s1, one spin count, one repeat

A training step on a CPU is hundreds of OpenMP parallel regions; at the end of each, a
thread that finished waits for the others. libgomp's waiting threads spin for a while
(300,000 iterations by default) before they sleep. On an idle machine that is right: the
other thread is a few microseconds away. Beside another busy process it is ruinous: the
thread being waited for has been descheduled, and the waiter burns its time slice
spinning, at every region: two 2-thread s1 trainings at once on 2 cores took 3x as long
per step as one alone (docs/benchmarks.md). How long to spin does not change what is computed:
the threads split the work the same way and the numbers are the same bit for bit
(tests/sweep/test_omp_spin.py).

Each arm is a fresh process (libgomp reads GOMP_SPINCOUNT when it loads) that times
training steps of the default sweep's shapes (bf16 autocast where the CPU has native bf16,
fused AdamW) on the machine's physical cores; "busy" trains a second such process beside
it, with the same setting, as a second sweep (or a sweep and a test run) would. Arms
alternate within each repeat, so drift falls on all alike; medians. The last line is
KEY=VALUE: for the spin count scalecli sets on a busy machine (scalecli/threads.py), its
idle time over the default's (what it would cost idle, where scalecli keeps the default)
and the default's busy time over its (how much it saves beside another job), per size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scalecli.threads import BUSY_SPINCOUNT as GOMP_SPINCOUNT  # noqa: E402

SIZES = {"s1": (3, 24, 2), "s5": (4, 128, 4)}

STEP = r"""
import json, statistics, sys, time
import torch, torch.nn.functional as F
from scalecli.sweep.hardware import physical_cores, resolve_runtime
from scalecli.sweep.model import build_model, gpt2_config
n_layer, n_embd, n_head, steps = (int(a) for a in sys.argv[1:5])
rt = resolve_runtime("cpu", "auto", physical_cores())
torch.set_num_threads(rt.threads)
model = build_model(gpt2_config(n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                                vocab_size=1024, n_ctx=128), 0)
opt = torch.optim.AdamW(model.parameters(), fused=True)
x, y = torch.randint(0, 1024, (2, 16, 128))
def step():
    with torch.autocast("cpu", dtype=rt.autocast_dtype or torch.float32,
                        enabled=rt.autocast_dtype is not None):
        logits = model(input_ids=x, use_cache=False).logits
    F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
for _ in range(2):
    step()
times = []
for _ in range(3):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    times.append((time.perf_counter() - start) / steps * 1e3)
print(json.dumps(statistics.median(times)))
"""


def _env(spin: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    if spin is not None:
        env["GOMP_SPINCOUNT"] = str(spin)
    return env


def step_ms(size: str, spin: int | None, steps: int, beside: bool) -> float:
    """Median ms per training step of `size` in a fresh process with GOMP_SPINCOUNT=spin
    (None: libgomp's default); `beside`: with a second such process training beside it
    (same size, same setting, as a second sweep would)."""
    args = [sys.executable, "-c", STEP, *map(str, SIZES[size])]
    other = (subprocess.Popen([*args, "1000000"], env=_env(spin), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             if beside else None)
    try:
        out = subprocess.run([*args, str(steps)], env=_env(spin), cwd=ROOT, check=True,
                             capture_output=True, text=True)
    finally:
        if other is not None:
            other.kill()
            other.wait()
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--spins", nargs="+", type=int, default=[1000, 3000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    if args.tiny:
        args.sizes, args.spins, args.repeats, args.steps = ["s1"], [GOMP_SPINCOUNT], 1, 1
    arms: list[int | None] = [None, *dict.fromkeys([*args.spins, GOMP_SPINCOUNT])]
    medians: dict[tuple[str, str, int | None], float] = {}
    for load in ("idle", "busy"):
        for size in args.sizes:
            times: dict[int | None, list[float]] = {arm: [] for arm in arms}
            for r in range(args.repeats):
                for arm in arms[r % len(arms):] + arms[:r % len(arms)]:  # rotate the order
                    times[arm].append(step_ms(size, arm, args.steps, load == "busy"))
            for arm in arms:
                medians[load, size, arm] = statistics.median(times[arm])
    print(f"ms per training step, median of {args.repeats}; busy: a second process training "
          "the same size with the same setting beside it")
    print(f"{'size':<5} {'GOMP_SPINCOUNT':>15} {'idle':>9} {'busy':>9}")
    for size in args.sizes:
        for arm in arms:
            label = "default" if arm is None else str(arm)
            print(f"{size:<5} {label:>15} {medians['idle', size, arm]:>9.1f} "
                  f"{medians['busy', size, arm]:>9.1f}")
    fields = {}
    for size in args.sizes:
        fields[f"{size}_idle_ratio"] = (medians["idle", size, GOMP_SPINCOUNT]
                                        / medians["idle", size, None])
        fields[f"{size}_busy_speedup"] = (medians["busy", size, None]
                                          / medians["busy", size, GOMP_SPINCOUNT])
    print(f"spin={GOMP_SPINCOUNT} " + " ".join(f"{k}={v:.2f}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
