"""muP (Yang et al. 2022, "Tensor Programs V") for GPT2LMHeadModel, and folding it back out.

Under muP the best learning rate found at one width is the best at every width, so a
search at the narrowest size of a sweep sets the lr of all of them. At the base width
(`train.lr_ref_width`) muP is exactly the standard parametrization; a model of width d has
width multiplier m = d / base and, following the paper's Table 3 for Adam:

- hidden matrices (attention c_attn and c_proj, MLP c_fc and c_proj): init std / sqrt(m),
  Adam lr / m;
- embeddings, biases and LayerNorm parameters: init and lr as at the base width;
- output logits times 1 / m (the readout multiplier). The readout is tied to the token
  embedding, so the multiplier sits on the final LayerNorm's output: logits are linear in
  it, so that is the same function;
- attention logits q.k scaled by 1/h instead of 1/sqrt(h) for head size h, normalised to
  be standard at head size MUP_BASE_HEAD_DIM (queries and keys become correlated in
  training, so q.k grows like h, not sqrt(h)).

muP says nothing about depth; the sweep's lr search and diagnostics account for that.
`fold` moves every multiplier into the weights, so a saved model is a plain GPT-2 that
`GPT2LMHeadModel.from_pretrained` loads and that gives the same logits.
"""

from __future__ import annotations

import math
from typing import Any

# Head size at which muP's attention scale equals the standard 1/sqrt(h). 32 is the head
# size of the default ladder's s3-s5; narrower heads get a larger scale, wider a smaller.
MUP_BASE_HEAD_DIM = 32

# Names of the hidden (matrix-like) weights in a GPT-2 block: both dimensions grow with width.
_HIDDEN = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def width_mult(n_embd: int, base_width: int) -> float:
    return n_embd / base_width


def attention_scale(head_dim: int) -> float:
    return math.sqrt(MUP_BASE_HEAD_DIM) / head_dim


def is_hidden(name: str) -> bool:
    return name.endswith(_HIDDEN)


def apply(model: Any, base_width: int) -> None:
    """Turn a freshly initialised standard GPT-2 into its muP version, in place."""
    import torch

    m = width_mult(model.config.n_embd, base_width)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if is_hidden(name):
                param.mul_(1 / math.sqrt(m))
    for block in model.transformer.h:
        block.attn.scaling = attention_scale(block.attn.head_dim)
    # The readout multiplier: logits = lm_head(ln_f(h)) / m.
    model.transformer.ln_f.register_forward_hook(lambda _mod, _inp, out: out / m)
    model._scalecli_mup = m  # what `fold` needs; not saved with the weights


def lr_scales(model: Any) -> dict[str, float]:
    """Each parameter's Adam lr as a multiple of the base lr: 1/m for hidden matrices."""
    m = getattr(model, "_scalecli_mup", None)
    return {name: (1 / m if m is not None and is_hidden(name) else 1.0)
            for name, _ in model.named_parameters()}


def fold(model: Any) -> None:
    """Move the multipliers into the weights, in place: a standard GPT-2 with the same logits.

    Only for saving a trained model; the folded model trains differently (Adam is not
    invariant to rescaled weights), so a run never resumes from it.
    """
    import torch

    m = getattr(model, "_scalecli_mup", None)
    if m is None:
        return
    with torch.no_grad():
        for block in model.transformer.h:
            attn = block.attn
            # Conv1D: out = x @ W + b, queries are the first n_embd outputs of c_attn.
            ratio = attn.scaling * math.sqrt(attn.head_dim)
            attn.c_attn.weight[:, : attn.embed_dim].mul_(ratio)
            attn.c_attn.bias[: attn.embed_dim].mul_(ratio)
            attn.scaling = attn.head_dim**-0.5
        ln_f = model.transformer.ln_f
        ln_f.weight.mul_(1 / m)
        ln_f.bias.mul_(1 / m)
        ln_f._forward_hooks.clear()
    del model._scalecli_mup
