"""GPT-2-style models from `transformers.GPT2Config`, with their parameter and FLOP counts.

The definitions live here, next to the model they describe, so that the CSV's columns
and the formulas that produce them cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The exact GELU, x * Phi(x), in one fused kernel: the function GPT-2's tanh formula
# approximates (the two differ by at most 4.7e-4 anywhere) and the one nanoGPT uses.
# On CPU, PyTorch's erf kernel is several times faster than its tanh kernel (4096 x 1536
# bf16 on a 2-core EPYC: forward 0.66 against 3.9 ms, backward 1.4 against 3.9 ms), which
# took an L6 d384 training step from 559 to 509 ms. HF's default "gelu_new" is the tanh
# formula as several Python-level ops, up to 1.8x slower again. GPT-2's own formula,
# fused, is one setting away: `activation_function: gelu_pytorch_tanh` in a size's model.
DEFAULT_ACTIVATION = "gelu"


@dataclass(frozen=True)
class ParamCounts:
    params: int  # every trainable parameter, tied weights once
    params_non_embedding: int  # params minus token and position embeddings: Kaplan et al.'s N
    flops_per_token: int  # training FLOPs per token, forward + backward
    params_matmul: int  # every weight that enters a matmul, the (tied) output head included


def gpt2_config(
    *,
    n_layer: int,
    n_embd: int,
    n_head: int,
    vocab_size: int,
    n_ctx: int,
    eos_token_id: int = 0,
    extra: dict[str, Any] | None = None,
) -> Any:
    """A GPT2Config for a scaling-law run: no dropout, exact fused GELU, SDPA attention."""
    from transformers import GPT2Config

    fields: dict[str, Any] = {
        "n_layer": n_layer,
        "n_embd": n_embd,
        "n_head": n_head,
        "vocab_size": vocab_size,
        "n_positions": n_ctx,
        "n_inner": 4 * n_embd,
        "activation_function": DEFAULT_ACTIVATION,
        # Dropout regularises; scaling-law runs see each token about once and want none.
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "bos_token_id": eos_token_id,
        "eos_token_id": eos_token_id,
        "tie_word_embeddings": True,
    }
    fields.update(extra or {})
    config = GPT2Config(**fields)
    config._attn_implementation = _register_attention()
    return config


def _register_attention() -> str:
    """SDPA, except causal bf16 self-attention on CPU, which runs as explicit matmuls.

    PyTorch's CPU flash-attention kernel is slow in bf16, the more so at small head
    sizes. Scores in fp32 (as accurate as the flash kernel, which also keeps them in fp32),
    bf16 probabilities times bf16 values; one training step on a 2-core AVX512-BF16 EPYC:
    L6 d384 (16 x 256 tokens, 6 heads of 64) 690 -> 550 ms, s3 31 -> 17 ms. Only the bf16
    path changes numerics (rounding order); fp32 runs, masks, dropout and KV-cached
    decoding still go to SDPA.
    """
    import torch
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                  dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> Any:
        # Beyond 512 tokens the fp32 scores (B x H x T x T, kept for backward) cost more
        # memory than the speed is worth; SDPA's flash kernel never materialises them.
        if (query.device.type != "cpu" or query.dtype != torch.bfloat16 or dropout
                or attention_mask is not None or key.shape[2] != query.shape[2]
                or query.shape[2] > 512):
            return sdpa_attention_forward(module, query, key, value, attention_mask,
                                          dropout=dropout, scaling=scaling, **kwargs)
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        return causal_attention(query, key, value, scale), None

    AttentionInterface.register("scalecli", attention)
    AttentionMaskInterface.register("scalecli", sdpa_mask)  # the same masks as "sdpa"
    return "scalecli"


def causal_attention(query: Any, key: Any, value: Any, scale: float) -> Any:
    """Causal self-attention, (B, H, T, h) each -> (B, T, H, h): what the "scalecli"
    attention computes without a mask, dropout or cache (bench/stacked_forward.py calls it too).
    bf16 on CPU up to 512 tokens runs as explicit matmuls around fp32 scores; everything
    else is SDPA's causal kernel, as Hugging Face's sdpa_attention_forward calls it."""
    import torch

    b, h, t, d = query.shape
    if query.device.type != "cpu" or query.dtype != torch.bfloat16 or t > 512:
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value,
                                                               scale=scale, is_causal=t > 1)
        return out.transpose(1, 2).contiguous()
    future = torch.full((t, t), float("-inf"), device=query.device).triu_(1)
    # fp32 scores, scaled and causally masked in one kernel: scale * q k^T + future
    scores = torch.baddbmm(future, query.float().reshape(b * h, t, d),
                           key.float().reshape(b * h, t, d).transpose(1, 2), alpha=scale)
    probs = torch.softmax(scores, dim=-1).to(value.dtype).view(b, h, t, t)
    return (probs @ value).transpose(1, 2).contiguous()


def build_model(config: Any, seed: int) -> Any:
    """A randomly initialised GPT2LMHeadModel; the same seed gives the same weights."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    return model


def enable_activation_checkpointing(model: Any) -> None:
    """Recompute each block's activations in the backward pass: less memory, ~30% more compute.

    transformers 5 renamed `gradient_checkpointing_enable` to `activation_checkpointing_enable`
    (the old name warns); 4.x has only the old one. Non-reentrant checkpointing either way:
    it needs no input that requires grad and gives the same gradients as no checkpointing.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def closed_form_counts(
    *, n_layer: int, n_embd: int, vocab_size: int, n_ctx: int, n_inner: int | None = None
) -> ParamCounts:
    """Parameter and FLOP counts of a GPT-2 block stack, in closed form.

    Per block: attention c_attn (d x 3d + 3d) and c_proj (d x d + d), MLP c_fc (d x f + f)
    and c_proj (f x d + d), two LayerNorms (2d each). With f = 4d that is
    12 d^2 + 13 d: Kaplan et al.'s 12 n_layer d^2 plus biases and norms. A final
    LayerNorm (2d) follows the stack. The output head is tied to the token embedding.
    """
    d, f = n_embd, n_inner or 4 * n_embd
    per_block = (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d
    non_embedding = n_layer * per_block + 2 * d
    embedding = vocab_size * d + n_ctx * d
    flops = flops_per_token(n_layer=n_layer, n_embd=d, n_inner=f, vocab_size=vocab_size,
                            n_ctx=n_ctx)
    matmul = n_layer * (4 * d * d + 2 * d * f) + vocab_size * d
    return ParamCounts(non_embedding + embedding, non_embedding, flops, matmul)


def flops_per_token(*, n_layer: int, n_embd: int, n_inner: int, vocab_size: int,
                    n_ctx: int) -> int:
    """Training FLOPs per token: 6 per weight of every matmul (forward 2, backward 4).

    The matmul weights are each block's c_attn, c_proj, c_fc and MLP c_proj (4 d^2 + 2 d f)
    and the tied output head (V d); biases, LayerNorms and embedding lookups are not
    matmuls and cost O(d) per token, so they are left out (counting them as weights
    overstated s1's FLOPs by 1.5%). Attention adds QK^T and AV over the full context,
    2 * 2 * n_ctx * d forward per layer, as PaLM (Appendix B) and nanoGPT's estimate_mfu
    count it: 6 * (n_layer (4 d^2 + 2 d f) + V d) + 12 * n_layer * d * n_ctx. A FLOP
    counter over a training step gives exactly this (tests/sweep/test_model.py).
    """
    d, f = n_embd, n_inner
    matmul_weights = n_layer * (4 * d * d + 2 * d * f) + vocab_size * d
    return 6 * matmul_weights + 12 * n_layer * d * n_ctx


def count_params(model: Any) -> ParamCounts:
    """Counts measured on a model: tied weights deduplicated by storage pointer."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel()
    embedding = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    cfg = model.config
    non_embedding = total - embedding
    flops = flops_per_token(n_layer=cfg.n_layer, n_embd=cfg.n_embd,
                            n_inner=cfg.n_inner or 4 * cfg.n_embd, vocab_size=cfg.vocab_size,
                            n_ctx=cfg.n_positions)
    # Matrices are the 2-D weights; of the embeddings only wte is one (as the tied head).
    wpe = model.transformer.wpe.weight
    matmul = sum(p.numel() for p in {p.data_ptr(): p for p in model.parameters()}.values()
                 if p.dim() == 2 and p is not wpe)
    return ParamCounts(total, non_embedding, flops, matmul)
