"""The sweep file: parsing, validation, overrides and expansion into runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.sweep.model import closed_form_counts
from scalecli.sweep.parse import apply_overrides, default_sweep_path, load_spec, parse_spec
from scalecli.sweep.spec import expand, lr_for

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def minimal(**changes: object) -> dict:
    raw: dict = {
        "name": "t",
        "data": {"dataset": "embedded:shakespeare", "tokenizer": "bpe:300", "context": 32},
        "models": [{"name": "a", "n_layer": 1, "n_embd": 16, "n_head": 2}, "s1"],
        "budget": {"tokens": 4096},
        "train": {"batch_tokens": 1024},
    }
    raw.update(changes)
    return raw


def test_minimal_spec_parses_with_defaults() -> None:
    spec = parse_spec(minimal())
    assert spec.name == "t"
    assert [m.name for m in spec.models] == ["a", "s1"]
    assert spec.models[1].n_embd == 24  # looked up in the size table
    assert spec.train.lr_auto and spec.train.lr_rule == "inverse_width"  # lr: auto by default
    assert spec.runtime.device == "auto"


def test_numeric_strings_from_yaml_are_numbers() -> None:
    # PyYAML reads 1e6 (no dot) as a string; a sweep file should still mean a number.
    raw = yaml.safe_load("budget: {tokens: 1e6}\ntrain: {lr: 3e-3, batch_tokens: 1024}")
    spec = parse_spec(minimal(budget=raw["budget"], train=raw["train"]))
    assert spec.budget.tokens == (1_000_000,)
    assert spec.train.lr == (3e-3,)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"trian": {}}, "did you mean 'train'"),
        ({"train": {"batch_tokenz": 1024}}, "did you mean 'batch_tokens'"),
        ({"train": {"batch_tokens": "many"}}, "train.batch_tokens"),
        ({"train": {"batch_tokens": 1000}}, "not a multiple of data.context"),
        ({"train": {"lr": -1.0, "batch_tokens": 1024}}, "train.lr[0] must be positive"),
        ({"models": [{"n_layer": 1, "n_embd": 30, "n_head": 4}]}, "not divisible by n_head"),
        ({"models": [{"n_layer": 0, "n_embd": 32, "n_head": 2}]}, "n_layer must be positive"),
        ({"models": [{"n_layer": 1, "n_embd": 32, "n_head": 2, "n_embed": 3}]}, "did you mean"),
        ({"models": ["s99"]}, "unknown size 's99'"),
        ({"models": []}, "non-empty list"),
        ({"budget": {"tokens": 0}}, "budget.tokens[0] must be positive"),
        ({"budget": {}}, "exactly one of"),
        ({"data": {"tokenizer": "bpe:12"}}, "bpe:N"),
        ({"runtime": {"device": "tpu"}}, "runtime.device"),
        ({"eval": {"tokens": 10}}, "eval.tokens"),
    ],
)
def test_bad_specs_name_the_field(changes: dict, needle: str) -> None:
    with pytest.raises(ScaleError, match=None) as info:
        parse_spec(minimal(**changes))
    assert needle in str(info.value)


def test_expand_one_run_per_model_budget_lr_seed() -> None:
    spec = parse_spec(minimal(budget={"tokens": [4096, 8192]},
                              train={"batch_tokens": 1024, "lr": [1e-3, 2e-3], "seeds": [0, 1],
                                     "noise_seeds": []}))
    runs = expand(spec, vocab_size=300)
    assert len(runs) == 2 * 2 * 2 * 2
    assert {r.steps for r in runs} == {4, 8}
    assert all(r.tokens == r.steps * 1024 for r in runs)
    ids = {r.run_id("fp") for r in runs}
    assert len(ids) == len(runs)  # every run has its own identity
    assert runs[0].run_id("fp") != runs[0].run_id("other-data")


def test_tokens_per_param_scales_with_all_params() -> None:
    spec = parse_spec(minimal(budget={"tokens_per_param": 20},
                              train={"batch_tokens": 1024, "lr": 3e-3, "noise_seeds": []}))
    run = expand(spec, vocab_size=300)[1]
    params = closed_form_counts(n_layer=3, n_embd=24, vocab_size=300, n_ctx=32).params
    assert abs(run.tokens - 20 * params) <= 1024 / 2


def test_inverse_width_lr_rule() -> None:
    spec = parse_spec(minimal(train={"batch_tokens": 1024, "lr": 0.01,
                                     "parametrization": "standard",
                                     "lr_rule": "inverse_width", "lr_ref_width": 64}))
    assert lr_for(spec.models[0], 0.01, spec.train) == pytest.approx(0.04)  # width 16


def test_overrides_go_through_validation() -> None:
    raw = apply_overrides(minimal(), tokens="1e4,2e4", seeds="3", device="cpu", out="x")
    spec = parse_spec(raw)
    assert spec.budget.tokens == (10_000, 20_000)
    assert spec.train.seeds == (3,)
    assert spec.runtime.device == "cpu" and spec.out == "x"
    with pytest.raises(ScaleError, match="--seeds"):
        apply_overrides(minimal(), seeds="a,b")


def test_every_shipped_sweep_parses() -> None:
    files = sorted(SWEEPS.glob("*.yaml"))
    assert default_sweep_path().resolve() in {f.resolve() for f in files}
    assert len(files) >= 2
    for path in files:
        spec, _ = load_spec(path)
        assert spec.models or spec.checkpoints  # evaluate-gpt2.yaml: checkpoints alone


def test_default_sweep_spans_30x_in_n() -> None:
    spec, _ = load_spec(default_sweep_path())
    vocab = int(spec.data.tokenizer.split(":")[1])
    n = [closed_form_counts(n_layer=m.n_layer, n_embd=m.n_embd, vocab_size=vocab,
                            n_ctx=spec.data.context).params_non_embedding for m in spec.models]
    assert len(n) >= 5
    assert max(n) / min(n) >= 30


def test_gpu_example_expands_with_dry_run() -> None:
    # It names a hub dataset, but a dry run needs neither the data nor a GPU.
    gpu = yaml.safe_load((SWEEPS / "tinystories-gpu.yaml").read_text())
    spec = parse_spec(gpu)
    assert max(m.n_embd for m in spec.models) >= 512
    result = CliRunner().invoke(app, ["sweep", str(SWEEPS / "tinystories-gpu.yaml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    for model in spec.models:
        assert model.name in result.output
    assert "total:" in result.output
