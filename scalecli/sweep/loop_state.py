"""What one run carries from step to step: exactly what its checkpoint holds.

A fresh run, a resumed one, a WSD branch and a throughput probe differ only in the
LoopState they start from (`train.start_state`); one function (`train.step`) advances it,
and `checkpoint.save` / `checkpoint.load` write and read it whole.

No RNG state is kept: nothing draws a random number after the model is initialised.
Dropout is off (scalecli/sweep/model.py) and the batch at step s is a pure function of
(seed, s) (`batches.Batches`), so the step is also the data position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# The counters, as state.json's `loop` holds them: the same keys as before LoopState
# existed, so an older checkpoint resumes and an older scalecli reads a newer one.
COUNTERS = ("step", "min_loss", "last_loss", "curve", "compute_s", "train_s", "eval_s")


@dataclass
class LoopState:
    """A run between two steps."""

    model: Any
    """The GPT2LMHeadModel, trained in place; the plain module, never a compiled wrapper, so
    that its parameters are saved and loaded under their own names."""
    optimizer: Any
    """Its torch.optim.AdamW (moments, step counts and parameter groups, lr_scale included)."""
    step: int = 0
    """Optimizer steps done. Tokens seen are step x batch_tokens."""
    min_loss: float = math.inf
    """The running minimum of the training loss: the divergence test's reference."""
    last_loss: float = math.nan
    """The training loss of the last step taken: results.csv's train_loss."""
    curve: list[dict[str, Any]] = field(default_factory=list)
    """curve.csv's points so far (step, tokens, flops, lr, train_loss, val_loss, elapsed_s,
    phase)."""
    compute_s: float = 0.0
    """Seconds in forward, backward and the optimizer: non_compute_frac's numerator."""
    train_s: float = 0.0
    """Seconds of the loop so far, earlier (killed) processes included: curve's elapsed_s
    and tokens_per_s go on from there after a resume."""
    eval_s: float = 0.0
    """Seconds of the mid-run evaluations, left out of tokens_per_s."""

    def counters(self) -> dict[str, Any]:
        """Everything but the tensors, for state.json."""
        return {name: getattr(self, name) for name in COUNTERS}

    @classmethod
    def from_counters(cls, model: Any, optimizer: Any, loop: dict[str, Any]) -> LoopState:
        return cls(model, optimizer, **{name: loop[name] for name in COUNTERS})
