"""Named model sizes, as plain dicts so that they serialise and diff cleanly.

A sweep file may list a size by name (`- s3`) or spell it out
(`- {name: mine, n_layer: 3, n_embd: 96, n_head: 3}`), optionally with any other
GPT2Config field. Non-embedding parameter counts (Kaplan et al.'s N, n_inner = 4 d) are
given for orientation; `scalecli sweep --dry-run` prints the exact ones.
"""

from __future__ import annotations

from typing import Any

SIZES: dict[str, dict[str, Any]] = {
    # The CPU ladder: small enough to train in seconds, spanning 36x in N. Every size has
    # at least 3 layers: on the default sweep a 2-layer model gained almost nothing from
    # 2x the width (val_loss 4.274 at L2 d32, 4.260 at L2 d48), while L3 d48 reached 4.150.
    "s1": dict(n_layer=3, n_embd=24, n_head=2),  # N ~ 22K
    "s2": dict(n_layer=3, n_embd=48, n_head=2),  # N ~ 85K
    "s3": dict(n_layer=3, n_embd=64, n_head=2),  # N ~ 150K
    "s4": dict(n_layer=3, n_embd=96, n_head=3),  # N ~ 336K
    "s5": dict(n_layer=4, n_embd=128, n_head=4),  # N ~ 793K
    "s6": dict(n_layer=4, n_embd=160, n_head=4),  # N ~ 1.2M
    "s7": dict(n_layer=6, n_embd=192, n_head=6),  # N ~ 2.7M
    "s8": dict(n_layer=6, n_embd=256, n_head=8),  # N ~ 4.7M
    # A GPU ladder, up to about GPT-2 small's width (head size 64).
    "g1": dict(n_layer=4, n_embd=256, n_head=4),  # N ~ 3.2M
    "g2": dict(n_layer=6, n_embd=384, n_head=6),  # N ~ 10.6M
    "g3": dict(n_layer=8, n_embd=512, n_head=8),  # N ~ 25M
    "g4": dict(n_layer=10, n_embd=640, n_head=10),  # N ~ 49M
    "g5": dict(n_layer=12, n_embd=768, n_head=12),  # N ~ 85M, GPT-2 small's blocks
}
