"""The training batches of a run: step s always gets the same sequences for a given seed."""

from __future__ import annotations

from typing import Any

import torch


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
