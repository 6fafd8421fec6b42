"""FLOP budgets (`budget: {flops: [...]}`): D = C / flops_per_token per size, a window of
sizes per budget, sizes too short to train skipped with a line, and the rows' budget_flops."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.sweep.lr_search import probe_spec
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import MIN_BUDGET_STEPS, design, expand, model_counts
from tests.sweep.test_sweep_e2e import TINY

VOCAB = 300
LADDER = [{"name": f"w{d}", "n_layer": 2, "n_embd": d, "n_head": 2}
          for d in (8, 16, 24, 32, 48, 64, 96)]


def flops_spec(**budget: object) -> dict:
    return {
        "name": "iso",
        "data": {"dataset": "embedded:shakespeare", "tokenizer": f"bpe:{VOCAB}", "context": 32},
        "models": LADDER,
        "budget": budget,
        "train": {"batch_tokens": 256, "lr": 1e-2, "noise_seeds": []},
    }


def counts(spec, name: str):
    model = next(m for m in spec.models if m.name == name)
    return model_counts(model, VOCAB, spec.data.context)


def test_each_size_trains_c_over_its_flops_per_token() -> None:
    spec = parse_spec(flops_spec(flops=[2e10, 5e10]))
    runs = expand(spec, VOCAB)
    assert {r.budget_flops for r in runs} == {2e10, 5e10}
    for run in runs:
        per_token = counts(spec, run.model.name).flops_per_token
        # D rounds to whole steps: within half a step of C / flops_per_token.
        assert abs(run.tokens - run.budget_flops / per_token) <= spec.train.batch_tokens / 2
        assert run.steps >= MIN_BUDGET_STEPS
    # Smallest model first, then budgets in the file's order, as for token budgets.
    order = [(r.model.name, r.budget_flops) for r in runs]
    assert order == sorted(order, key=lambda o: ([m["name"] for m in LADDER].index(o[0]), o[1]))


def test_sizes_too_short_are_skipped_with_a_line() -> None:
    spec = parse_spec(flops_spec(flops=[5e9]))
    cells, skipped = design(spec, VOCAB)
    trained = {c.model.name for c in cells}
    too_short = [m["name"] for m in LADDER if m["name"] not in trained]
    assert too_short, "the budget is meant to be too small for the widest sizes"
    for name in too_short:
        steps = 5e9 / counts(spec, name).flops_per_token / spec.train.batch_tokens
        assert steps < MIN_BUDGET_STEPS
        assert any(line.startswith(f"{name} skipped at 5e+09 FLOPs") and "fewer than 50" in line
                   for line in skipped)
    assert len(skipped) == len(too_short)


def test_a_budget_too_small_for_every_size_is_an_error() -> None:
    with pytest.raises(ScaleError, match=r"budget.flops\[0\] = 1e\+06 is too small"):
        design(parse_spec(flops_spec(flops=[1e6])), VOCAB)


def test_window_is_centred_on_the_expected_optimum() -> None:
    spec = parse_spec(flops_spec(flops=[4e10, 1.6e11], sizes_per_budget=3,
                                 expected_tokens_per_param=20))
    cells, _ = design(spec, VOCAB)
    for flops in (4e10, 1.6e11):
        window = sorted((c for c in cells if c.budget_flops == flops),
                        key=lambda c: counts(spec, c.model.name).params)
        assert len(window) == 3
        ratio = [c.tokens / counts(spec, c.model.name).params for c in window]
        # The middle size is the one nearest 20 tokens per parameter of every trainable size.
        every, _ = design(parse_spec(flops_spec(flops=[flops])), VOCAB)
        best = min(every, key=lambda c: abs(math.log(
            c.tokens / counts(spec, c.model.name).params / 20)))
        assert window[1].model == best.model
        assert ratio[0] > ratio[1] > ratio[2]  # bigger models see fewer tokens per parameter
    # A larger budget moves the window up the ladder.
    small = {c.model.name for c in cells if c.budget_flops == 4e10}
    large = {c.model.name for c in cells if c.budget_flops == 1.6e11}
    assert small != large


def test_window_at_the_ladder_edge_stays_full() -> None:
    spec = parse_spec(flops_spec(flops=[1e12], sizes_per_budget=4, expected_tokens_per_param=1))
    cells, _ = design(spec, VOCAB)
    assert [c.model.name for c in cells] == ["w32", "w48", "w64", "w96"]


@pytest.mark.parametrize(("budget", "needle"), [
    ({"flops": [1e10], "tokens": 4096}, "exactly one of 'tokens', 'tokens_per_param' or 'flops'"),
    ({"flops": [-1e10]}, "budget.flops[0] must be positive"),
    ({"tokens": 4096, "sizes_per_budget": 3}, "sizes_per_budget needs budget.flops"),
    ({"flops": [1e10], "sizes_per_budget": 0}, "budget.sizes_per_budget must be positive"),
])
def test_bad_flop_budgets_name_the_field(budget: dict, needle: str) -> None:
    with pytest.raises(ScaleError, match=re.escape(needle)):
        parse_spec(flops_spec(**budget))


def test_token_budgets_have_no_budget_flops_and_keep_their_run_ids() -> None:
    raw = flops_spec(tokens=[8192])
    runs = expand(parse_spec(raw), VOCAB)
    assert all(r.budget_flops is None for r in runs)
    # A FLOP budget that asks one size for the same tokens trains the very same run.
    spec = parse_spec(flops_spec(flops=[1e10]))
    flop_run = expand(spec, VOCAB)[0]
    token_run = next(r for r in expand(parse_spec(flops_spec(tokens=[flop_run.tokens])), VOCAB)
                     if r.model == flop_run.model)
    assert flop_run.run_id("fp") == token_run.run_id("fp")


def test_lr_search_probes_each_budgets_narrowest_trained_size() -> None:
    raw = flops_spec(flops=[4e10, 1.6e11], sizes_per_budget=3)
    raw["train"]["lr"] = "auto"
    spec = parse_spec(raw)
    cells, _ = design(spec, VOCAB)
    for index, flops in enumerate((4e10, 1.6e11)):
        probe = probe_spec(spec, index, (5e-3,), VOCAB)
        in_window = [c.model for c in cells if c.budget_flops == flops]
        assert probe.models == (min(in_window, key=lambda m: m.n_embd),)
        (run,) = expand(probe, VOCAB)
        assert run.budget_flops == flops and run.lr_base == 5e-3


def test_flop_sweep_records_budget_flops_and_says_what_it_skipped(tmp_path: Path) -> None:
    raw = {**TINY, "budget": {"flops": [6.5e9]},
           "models": [*TINY["models"], {"name": "d96", "n_layer": 2, "n_embd": 96, "n_head": 2}],
           "train": {**TINY["train"], "eval_points": 0}}
    path = tmp_path / "iso.yaml"
    path.write_text(yaml.safe_dump(raw))
    dry = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--out", str(tmp_path)])
    assert dry.exit_code == 0, dry.output
    assert "budget C" in dry.output and "budget 6.5GFLOPs: 2 runs" in dry.output
    assert "d96 skipped at 6.5e+09 FLOPs" in dry.output
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "d96 skipped at 6.5e+09 FLOPs" in result.output
    df = pd.read_csv(tmp_path / "tiny" / "results.csv")
    assert list(df["model"]) == ["d16", "d32"] and (df["budget_flops"] == 6.5e9).all()
    assert (df["flops"] / 6.5e9).between(0.98, 1.02).all()  # D rounded to whole steps
    assert (df["params_matmul"] < df["params"]).all()
