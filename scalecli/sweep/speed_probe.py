"""Training speed on this machine, measured with a few real steps: `sweep --dry-run`'s clock."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

from scalecli.sweep.hardware import Runtime
from scalecli.sweep.spec import RunSpec
from scalecli.sweep.train import short_run, train_run


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
