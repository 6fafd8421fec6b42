"""The model and the training loop's pure parts: counts, FLOPs, attention, activation
checkpointing, the lr schedule and the batches. Tiny shapes; no timing assertions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from scalecli.sweep.batches import Batches
from scalecli.sweep.model import (
    DEFAULT_ACTIVATION,
    build_model,
    closed_form_counts,
    count_params,
    enable_activation_checkpointing,
    gpt2_config,
)
from scalecli.sweep.train import lr_at

VOCAB, CONTEXT = 97, 16


def tiny(n_layer: int = 2, n_embd: int = 32, n_head: int = 2, **extra: object) -> object:
    config = gpt2_config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, vocab_size=VOCAB,
                         n_ctx=CONTEXT, extra=dict(extra))
    return build_model(config, seed=0)


def tokens(batch: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, CONTEXT), generator=torch.Generator().manual_seed(seed))


def test_default_activation_is_the_exact_gelu_that_gpt2s_formula_approximates() -> None:
    from transformers.activations import ACT2FN

    assert tiny().config.activation_function == DEFAULT_ACTIVATION == "gelu"
    x = torch.linspace(-8, 8, 16001, dtype=torch.float64)
    exact = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    torch.testing.assert_close(ACT2FN[DEFAULT_ACTIVATION](x), exact, atol=1e-12, rtol=0)
    # GPT-2's tanh formula (HF "gelu_new") is within 5e-4 of it everywhere, not equal.
    gap = (exact - ACT2FN["gelu_new"](x)).abs().max().item()
    assert 1e-4 < gap < 5e-4


def _scaled_up(model: object) -> object:
    # At init (std 0.02) GELU sees inputs near 0, where every GELU variant agrees. Scaled
    # up, its inputs reach tens of units, where the tanh formula and the exact GELU part.
    with torch.no_grad():
        for block in model.transformer.h:
            block.mlp.c_fc.weight.mul_(60)
    return model


@pytest.mark.parametrize("activation,atol", [("gelu", 1e-3), ("gelu_pytorch_tanh", 1e-5)])
def test_fused_gelu_matches_gelu_new_on_the_same_weights(activation: str, atol: float) -> None:
    fused = _scaled_up(tiny(activation_function=activation))
    reference = tiny(activation_function="gelu_new")
    reference.load_state_dict(fused.state_dict())
    x = tokens()
    with torch.no_grad():
        a, b = fused(input_ids=x).logits, reference(input_ids=x).logits
        pre = fused.transformer.h[0].mlp.c_fc(fused.transformer.h[0].ln_2(
            fused.transformer.wte(x)))
    assert pre.abs().max() > 2  # the test reaches where the variants differ
    torch.testing.assert_close(a, b, atol=atol, rtol=0)
    if activation == "gelu":
        assert (a - b).abs().max() > 1e-6  # a different function, within tolerance


@pytest.mark.parametrize("shape", [
    dict(n_layer=1, n_embd=8, n_head=1),
    dict(n_layer=2, n_embd=32, n_head=2),
    dict(n_layer=3, n_embd=48, n_head=4),
    dict(n_layer=2, n_embd=24, n_head=3, n_inner=40),  # n_inner set: not 4 * n_embd
])
def test_closed_form_counts_equal_the_model(shape: dict[str, int]) -> None:
    model = tiny(**shape)
    measured = count_params(model)
    closed = closed_form_counts(n_layer=shape["n_layer"], n_embd=shape["n_embd"],
                                vocab_size=VOCAB, n_ctx=CONTEXT, n_inner=shape.get("n_inner"))
    assert measured == closed
    # Tied weights counted once: the head shares the token embedding's storage.
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert measured.params == sum(p.numel() for p in model.parameters())
    d, v = shape["n_embd"], VOCAB
    assert measured.params - measured.params_non_embedding == v * d + CONTEXT * d


@pytest.mark.parametrize("shape", [
    dict(n_layer=1, n_embd=32, n_head=2),
    dict(n_layer=3, n_embd=24, n_head=3),  # the default ladder's s1
    dict(n_layer=2, n_embd=24, n_head=3, n_inner=40),
])
def test_flops_per_token_equal_a_flop_counter_over_a_training_step(shape: dict) -> None:
    # An independent count: torch's FlopCounterMode over one forward and backward pass.
    # Eager attention, because the counter does not see inside CPU SDPA kernels; it does
    # the same QK^T and AV matmuls over the full context that the formula counts.
    from torch.utils.flop_counter import FlopCounterMode

    config = gpt2_config(n_layer=shape["n_layer"], n_embd=shape["n_embd"],
                         n_head=shape["n_head"], vocab_size=VOCAB, n_ctx=CONTEXT,
                         extra={k: v for k, v in shape.items() if k == "n_inner"})
    config._attn_implementation = "eager"
    model = build_model(config, seed=0)
    x = tokens(batch=3)
    with FlopCounterMode(display=False) as counter:
        logits = model(input_ids=x, use_cache=False).logits
        F.cross_entropy(logits.flatten(0, 1), x.flatten()).backward()
    counted = counter.get_total_flops() / x.numel()
    closed = closed_form_counts(n_layer=shape["n_layer"], n_embd=shape["n_embd"],
                                vocab_size=VOCAB, n_ctx=CONTEXT, n_inner=shape.get("n_inner"))
    assert closed.flops_per_token == counted
    assert count_params(model).flops_per_token == counted


def test_attention_runs_through_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    # fp32 (and GPU) attention is PyTorch's SDPA; only bf16 on CPU takes scalecli's path.
    model = tiny()
    assert model.config._attn_implementation == "scalecli"
    calls = []
    original = F.scaled_dot_product_attention

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(kwargs.get("is_causal"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    with torch.no_grad():
        model(input_ids=tokens(), use_cache=False)
    # One call per layer, with the causal flag (no materialised mask) so fast kernels apply.
    assert calls == [True] * model.config.n_layer


def _loss_and_grads(checkpointed: bool) -> tuple[float, dict[str, torch.Tensor]]:
    model = tiny(n_layer=3)
    if checkpointed:
        enable_activation_checkpointing(model)
    model.train()
    x = tokens(batch=4, seed=1)
    logits = model(input_ids=x[:, :-1], use_cache=False).logits
    loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_activation_checkpointing_gives_the_same_loss_and_gradients() -> None:
    loss, grads = _loss_and_grads(checkpointed=False)
    loss_ckpt, grads_ckpt = _loss_and_grads(checkpointed=True)
    assert abs(loss - loss_ckpt) < 1e-5
    assert grads.keys() == grads_ckpt.keys()
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], atol=1e-5, rtol=0, msg=name)


def test_activation_checkpointing_is_switched_on() -> None:
    model = tiny()
    enable_activation_checkpointing(model)
    assert all(block.gradient_checkpointing for block in model.transformer.h)


def test_lr_schedule_warmup_cosine_floor() -> None:
    steps, peak, warmup_frac, floor = 200, 3e-3, 0.05, 0.1
    lrs = [lr_at(s, steps, peak, warmup_frac, floor) for s in range(steps)]
    warmup = round(warmup_frac * steps)
    # Linear warmup: equal increments, reaching the peak at the warmup's last step.
    for s in range(warmup):
        assert lrs[s] == pytest.approx(peak * (s + 1) / warmup)
    assert lrs[warmup - 1] == pytest.approx(peak)
    assert lrs[warmup] == pytest.approx(peak)
    # Cosine decay, monotone, ending exactly at the floor on the run's last step.
    decay = lrs[warmup:]
    assert all(a >= b for a, b in itertools.pairwise(decay))
    assert lrs[-1] == pytest.approx(floor * peak, rel=1e-12)
    assert min(lrs) >= floor * peak * (1 - 1e-12)


@pytest.mark.parametrize("steps", [1, 2, 7])
def test_lr_schedule_short_runs_end_at_the_floor(steps: int) -> None:
    lrs = [lr_at(s, steps, 1.0, 0.05, 0.1) for s in range(steps)]
    assert all(math.isfinite(lr) and lr > 0 for lr in lrs)
    assert lrs[-1] == pytest.approx(0.1, rel=1e-12)  # the floor, even for a 1-step run


def test_batches_are_deterministic_shifted_and_cover_every_block() -> None:
    context, seqs = 8, 4
    stream = torch.arange(10 * context + 1, dtype=torch.int32)  # 10 blocks of context + 1
    a = Batches(stream, context, seqs, seed=3)
    b = Batches(stream, context, seqs, seed=3)
    n_blocks = a.starts.numel()
    seen = []
    for step in range(math.ceil(n_blocks / seqs) + 2):
        x, y = a.get(step)
        x2, y2 = b.get(step)
        assert torch.equal(x, x2) and torch.equal(y, y2)
        assert x.shape == y.shape == (seqs, context) and x.dtype == torch.long
        assert torch.equal(y[:, :-1], x[:, 1:])  # targets are the inputs shifted by one
        assert torch.all(x[:, 0] % context == 0)  # every sequence starts on a block boundary
        seen.extend(int(s) // context for s in x[:, 0])
    # The first epoch visits every block exactly once before any repeats.
    assert sorted(seen[:n_blocks]) == list(range(n_blocks))
    # Random access gives the same batch as sequential access (resuming needs no state).
    assert torch.equal(Batches(stream, context, seqs, seed=3).get(2)[0], a.get(2)[0])
    # Another seed, another order.
    assert not torch.equal(Batches(stream, context, seqs, seed=4).get(0)[0], a.get(0)[0])


def test_cpu_bf16_attention_matches_sdpa() -> None:
    model = tiny()
    x = tokens()
    out = {}
    for name in ("scalecli", "sdpa"):
        model.config._attn_implementation = name
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out[name] = model(input_ids=x, use_cache=False).logits.float()
    assert torch.allclose(out["scalecli"], out["sdpa"], atol=3e-2, rtol=0)
    assert not torch.equal(out["scalecli"], out["sdpa"])  # the bf16 path did run
