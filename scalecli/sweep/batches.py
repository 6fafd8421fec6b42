"""The training batches of a run: step s always gets the same sequences for a given seed,
and how many of them one forward pass takes."""

from __future__ import annotations

from typing import Any

import torch

from scalecli.sweep.spec import RunSpec


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


def micro_batch_seqs(run: RunSpec, device: torch.device, model_width: int, vocab: int,
                     workers: int = 1) -> int:
    """Sequences per forward pass: the whole batch (a worker's share of it) unless memory
    says otherwise."""
    context = run.data.context
    batch_seqs = run.train.batch_tokens // context // workers
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
