"""How far a change in the last bits moves a run's final held-out loss: why a fast path must
be bit-identical to keep the numbers.

    python bench/perturbation.py                 # s1 of sweeps/default.yaml, fp32 and bf16
    python bench/perturbation.py --size s2 --dtypes fp32
    python bench/perturbation.py --tiny          # CI smoke: 5 steps

A run of the default sweep (its size, budget, lr rule, schedule) is trained twice on the
same data from the same seed, once as it is and once with a single weight (the first of
block 0's MLP input matrix) multiplied by 1 + eps: eps = 1e-6 in fp32, and in bf16 one part
in 128, about one bf16 step (a smaller change is rounded away when the weight is cast).
A fast path that reorders a sum or fuses two ops makes changes of this size at every step.
Training amplifies them: the two runs end as far apart as two seeds do, not as close as
the change. The last line is KEY=VALUE: per dtype, |val_loss difference| in nats.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profile_step import runs_of_default  # noqa: E402  (the same runs the profile times)

from scalecli.sweep import train  # noqa: E402
from scalecli.sweep.hardware import resolve_runtime  # noqa: E402
from scalecli.sweep.loop_state import LoopState  # noqa: E402

EPS = {"fp32": 1e-6, "bf16": 2.0**-7}


def final_val_loss(run: object, data: object, dtype: str, eps: float, steps: int | None
                   ) -> float:
    rt = resolve_runtime("cpu", dtype, None)
    train.apply_runtime(rt)
    model, optimizer = train.build(run, data, rt.device)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] *= 1 + eps
    state = LoopState(model, optimizer)
    setup = train.prepare(run, data, rt, state, train.RunOptions())
    while state.step < (steps or run.steps):
        train.step(setup, state)
    return train.evaluate(setup.forward, *setup.val, batch_seqs=setup.eval_seqs,
                          device=rt.device).loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="s1")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--tiny", action="store_true", help="CI smoke: 5 steps, fp32")
    args = parser.parse_args()
    runs, data = runs_of_default([args.size])
    run = runs[args.size]
    steps = 5 if args.tiny else None
    dtypes = ["fp32"] if args.tiny else args.dtypes
    fields = {}
    for dtype in dtypes:
        start = time.perf_counter()
        base = final_val_loss(run, data, dtype, 0.0, steps)
        moved = final_val_loss(run, data, dtype, EPS[dtype], steps)
        print(f"{args.size} {dtype}: val_loss {base:.6f}, with one weight x (1 + {EPS[dtype]:.3g}) "
              f"{moved:.6f}: {abs(moved - base):.2e} nats apart "
              f"({steps or run.steps} steps, {time.perf_counter() - start:.0f} s)")
        fields[f"{dtype}_delta"] = f"{abs(moved - base):.2e}"
    print(" ".join(f"{k}={v}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
