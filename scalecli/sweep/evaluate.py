"""Held-out loss, perplexity and bits per byte, over the sweep's fixed held-out tokens.

The evaluation forward pass always runs in fp32, without autocast, whatever precision
training used: every fit rests on these numbers, so they must not depend on a speed
setting. Under bf16 autocast the output head's logits would be rounded to bf16 (8 bits of
mantissa) before the cross-entropy sees them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class EvalResult:
    loss: float  # mean next-token cross-entropy, nats per token
    tokens: int  # tokens predicted

    @property
    def ppl(self) -> float:
        # Guarded as in run_clm.py: a diverged model must not crash the summary.
        return math.exp(self.loss) if self.loss < 700 else math.inf

    def bpb(self, n_bytes: int) -> float:
        """Bits per byte: comparable across tokenizers, unlike perplexity.

        The numerator is every predicted token's cost, end-of-text included (knowing where
        a document ends is part of modelling the text); the denominator is the UTF-8 bytes
        of the predicted text alone, an end-of-text marker counting 0 bytes
        (`TokenData.val_bytes`).
        """
        return self.loss * self.tokens / (math.log(2) * n_bytes)


def val_tensors(val: Any, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out stream (1 + k*context tokens) as k inputs and k shifted targets."""
    tokens = torch.as_tensor(val, dtype=torch.long)
    k = (tokens.numel() - 1) // context
    return tokens[: k * context].view(k, context), tokens[1 : k * context + 1].view(k, context)


@torch.inference_mode()
def evaluate(model: Any, inputs: torch.Tensor, targets: torch.Tensor, *, batch_seqs: int,
             device: torch.device, limit_seqs: int | None = None) -> EvalResult:
    """Mean cross-entropy over every target token (or the first `limit_seqs` sequences),
    with the forward pass in fp32 (the master weights' precision), never under autocast."""
    was_training = model.training
    model.eval()
    n = inputs.shape[0] if limit_seqs is None else min(limit_seqs, inputs.shape[0])
    total = 0.0
    for start in range(0, n, batch_seqs):
        x = inputs[start : min(n, start + batch_seqs)].to(device, non_blocking=True)
        y = targets[start : min(n, start + batch_seqs)].to(device, non_blocking=True)
        # An autocast region opened by a caller must not reach in here.
        with torch.autocast(device.type, enabled=False):
            logits = model(input_ids=x, use_cache=False).logits
        # Summed in float64 so that the mean does not depend on the batch size.
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
    model.train(was_training)
    return EvalResult(loss=total / (n * inputs.shape[1]), tokens=n * inputs.shape[1])
