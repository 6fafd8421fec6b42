"""muP: the coordinate check that proves the parametrization, and folding it into saved weights.

The coordinate check (Yang et al. 2022, Fig. 5; microsoft/mup's `coord_check`): train models
of growing width for a few steps at one lr and watch the size of what changed. Under muP
the change in the output logits stays the same size as the width grows; under the standard
parametrization with the same lr it grows with the width, which is why the best lr of a
standard model falls with width and a search at one width does not transfer.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scalecli.sweep import mup
from scalecli.sweep.model import build_model, gpt2_config
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import expand
from scalecli.sweep.train import _optimizer

WIDTHS = (32, 64, 128, 256)
VOCAB, CONTEXT, STEPS = 256, 32, 4


def _run(width: int, parametrization: str, lr: float = 1e-2) -> float:
    """RMS change of the logits after STEPS Adam steps, on fixed inputs."""
    spec = parse_spec({
        "name": "coord", "data": {"context": CONTEXT},
        "models": [{"name": "m", "n_layer": 2, "n_embd": width, "n_head": width // 16}],
        "budget": {"tokens": CONTEXT * 8 * STEPS},
        "train": {"batch_tokens": CONTEXT * 8, "lr": lr, "parametrization": parametrization,
                  "lr_rule": "constant",
                  "weight_decay": 0.0, "grad_clip": 0.0},
    })
    run = expand(spec, VOCAB)[0]
    config = gpt2_config(n_layer=2, n_embd=width, n_head=width // 16, vocab_size=VOCAB,
                         n_ctx=CONTEXT)
    model = build_model(config, seed=0)
    if parametrization == "mup":
        mup.apply(model, base_width=32)
    optimizer = _optimizer(model, run, torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, VOCAB, (8, CONTEXT + 1), generator=g)
    with torch.no_grad():
        before = model(input_ids=x[:, :-1]).logits
    for _ in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = run.lr * group["lr_scale"]
        loss = F.cross_entropy(model(input_ids=x[:, :-1]).logits.flatten(0, 1),
                               x[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    with torch.no_grad():
        after = model(input_ids=x[:, :-1]).logits
    return (after - before).pow(2).mean().sqrt().item()


def _slope(parametrization: str) -> float:
    """d log(logit change) / d log(width), by least squares over WIDTHS."""
    changes = [_run(w, parametrization) for w in WIDTHS]
    return float(np.polyfit(np.log(WIDTHS), np.log(changes), 1)[0])


def test_coordinate_check_mup_is_flat_in_width_and_standard_is_not() -> None:
    torch.set_num_threads(1)
    mup_slope, standard_slope = _slope("mup"), _slope("standard")
    # 8x the width: muP's logit update moves by under 8^0.25 = 1.7x, the standard one by
    # more than 8^0.5 = 2.8x (in theory it grows like the width itself).
    assert abs(mup_slope) < 0.25, mup_slope
    assert standard_slope > 0.5, standard_slope


def test_mup_equals_standard_at_the_base_width() -> None:
    config = gpt2_config(n_layer=2, n_embd=64, n_head=2, vocab_size=VOCAB, n_ctx=CONTEXT)
    plain, scaled = build_model(config, seed=3), build_model(config, seed=3)
    mup.apply(scaled, base_width=64)
    x = torch.randint(0, VOCAB, (2, CONTEXT))
    # Head size 32 is MUP_BASE_HEAD_DIM: every multiplier is 1.
    assert mup.MUP_BASE_HEAD_DIM == 32
    torch.testing.assert_close(plain(input_ids=x).logits, scaled(input_ids=x).logits)
    assert set(mup.lr_scales(scaled).values()) == {1.0}


@pytest.mark.parametrize("width,heads", [(24, 2), (96, 3)])
def test_folded_model_loads_with_from_pretrained_and_gives_the_same_logits(
        tmp_path: Path, width: int, heads: int) -> None:
    from transformers import GPT2LMHeadModel

    config = gpt2_config(n_layer=2, n_embd=width, n_head=heads, vocab_size=VOCAB, n_ctx=CONTEXT)
    model = build_model(config, seed=0)
    mup.apply(model, base_width=32)
    with torch.no_grad():  # move off the initialisation, so that every weight matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randint(0, VOCAB, (2, CONTEXT))
    with torch.no_grad():
        expected = model(input_ids=x).logits
    mup.fold(model)
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    loaded = GPT2LMHeadModel.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        got = loaded(input_ids=x).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_hidden_matrices_get_lr_over_width_mult_and_smaller_init() -> None:
    config = gpt2_config(n_layer=1, n_embd=128, n_head=4, vocab_size=VOCAB, n_ctx=CONTEXT)
    plain, scaled = build_model(config, seed=0), build_model(config, seed=0)
    mup.apply(scaled, base_width=32)
    scales = mup.lr_scales(scaled)
    assert scales["transformer.h.0.mlp.c_fc.weight"] == pytest.approx(0.25)
    assert scales["transformer.wte.weight"] == 1.0
    assert scales["transformer.h.0.mlp.c_fc.bias"] == 1.0
    ratio = (scaled.transformer.h[0].mlp.c_fc.weight.std()
             / plain.transformer.h[0].mlp.c_fc.weight.std()).item()
    assert ratio == pytest.approx(1 / math.sqrt(4), rel=1e-5)
    assert scaled.transformer.h[0].attn.scaling == pytest.approx(math.sqrt(32) / 32)


def test_standard_parametrization_is_untouched() -> None:
    spec = parse_spec({"name": "s", "models": ["s1"], "budget": {"tokens": 4096},
                       "train": {"lr": 3e-3, "parametrization": "standard",
                                 "lr_rule": "constant"}})
    run = expand(spec, VOCAB)[0]
    assert run.lr == 3e-3
    assert replace(run.train, lr=(1.0,)).parametrization == "standard"
