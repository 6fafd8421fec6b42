"""`lr: auto`: the search's grid and bracketing on made-up losses, and end to end on a tiny
sweep: every probe is a results.csv row, the choice is the best one, a rerun resumes."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.sweep import lr_search
from scalecli.sweep.lr_search import LR_FACTOR, LR_START, choose, next_lrs, search
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import lr_for
from tests.sweep.test_sweep_e2e import TINY


def _search(loss_of) -> dict[float, float]:
    """Drive next_lrs with a loss function of lr until the search stops."""
    losses: dict[float, float] = {}
    while lrs := next_lrs(losses):
        losses.update({lr: loss_of(lr) for lr in lrs})
    return losses


def bowl(optimum: float):
    return lambda lr: 3.0 + 0.1 * math.log2(lr / optimum) ** 2


def test_first_grid_is_centred_on_the_start() -> None:
    assert next_lrs({}) == [LR_START / LR_FACTOR, LR_START, LR_START * LR_FACTOR]


@pytest.mark.parametrize("optimum", [LR_START, LR_START * 8, LR_START / 8])
def test_search_walks_past_an_edge_until_the_optimum_is_bracketed(optimum: float) -> None:
    losses = _search(bowl(optimum))
    assert choose(losses) == pytest.approx(optimum)
    assert lr_search.bracketed(losses)
    assert min(losses) < optimum < max(losses)


def test_search_gives_up_after_max_probes_and_says_not_bracketed() -> None:
    losses = _search(bowl(LR_START * 1000))
    assert len(losses) == lr_search.MAX_PROBES
    assert not lr_search.bracketed(losses)
    assert choose(losses) == max(losses)


def test_diverged_probes_push_the_search_down() -> None:
    # Anything above 1.5e-2 diverges (nan); below it, bigger is better.
    losses = _search(lambda lr: math.nan if lr > 1.5e-2 else 3.0 - 10 * lr)
    assert choose(losses) == pytest.approx(LR_START)
    assert all(math.isnan(v) for lr, v in losses.items() if lr > 1.5e-2)


def test_all_diverged_is_none_and_a_near_tie_goes_to_the_smaller_lr() -> None:
    assert choose({0.01: math.nan, 0.02: math.nan}) is None
    near = lr_search.LR_TOLERANCE / 2
    assert choose({0.005: 3.5, 0.01: 3.0 + near, 0.02: 3.0}) == 0.01
    assert choose({0.005: 3.5, 0.01: 3.0 + 2 * near + 1e-6, 0.02: 3.0}) == 0.02


# The prose corpus's s1 (README): 5e-3, 1e-2, 2e-2 gave 4.5894, 4.5687, 4.5587; the rest is a
# plausible continuation (worse above 2e-2, diverged at 1.6e-1).
PROSE = {2.5e-3: 4.6302, 5e-3: 4.5894, 1e-2: 4.5687, 2e-2: 4.5587, 4e-2: 4.5751,
         8e-2: 4.6611, 1.6e-1: math.nan}


def prose(lr: float) -> float:
    return PROSE[min(PROSE, key=lambda k: abs(math.log(k / lr)))]


def test_search_goes_past_a_lowest_loss_at_the_top_edge() -> None:
    # choose() takes 1e-2 (within LR_TOLERANCE of 2e-2), but the lowest loss is at the top
    # edge: the loss above 2e-2 is unmeasured, so the search is not over.
    assert next_lrs({lr: PROSE[lr] for lr in (5e-3, 1e-2, 2e-2)}) == [4e-2]
    losses = _search(prose)
    assert sorted(losses) == [5e-3, 1e-2, 2e-2, 4e-2]
    assert choose(losses) == 1e-2 and lr_search.lowest(losses) == 2e-2
    assert lr_search.bracketed(losses)


@pytest.mark.parametrize("curve", [
    prose,
    lambda lr: 3.0 + 0.003 * math.log2(lr / 1e-2) ** 2,  # a flat basin: the choice walks down
    lambda lr: math.nan if lr > 4.5e-2 else 3.0 - 0.01 * math.log2(lr / 1e-2),  # a cliff
])
def test_search_ends_with_its_lowest_loss_and_its_choice_inside_the_probes(curve) -> None:
    losses = _search(curve)
    lrs = sorted(losses)
    assert len(lrs) < lr_search.MAX_PROBES
    assert lrs[0] < choose(losses) and lr_search.lowest(losses) < lrs[-1]


def test_the_default_sweep_does_not_warn_lr_edge_about_its_own_search(
        tmp_path: Path) -> None:
    from scalecli.fit.driver import compute_fit
    from tests.fit.test_noise_review import searched_sweep

    losses = _search(prose)
    doc = compute_fit(searched_sweep(tmp_path, probes=losses, chosen=choose(losses)),
                      bootstrap=50, holdout=0)
    assert [d for d in doc["diagnostics"] if d["code"] == "lr_edge"] == []
    s1 = next(p for p in doc["seed_noise"]["points"] if p["label"] == "s1")
    assert s1["lr"] == choose(losses) and s1["n_seeds"] == 3


def test_search_trains_only_unrecorded_probes_and_one_budget_at_a_time() -> None:
    spec = parse_spec({**TINY, "budget": {"tokens": [4096, 8192]},
                       "train": {**TINY["train"], "lr": "auto", "seeds": [3, 4]}})
    trained: list[str] = []
    loss_by_id: dict[str, float] = {}

    def train(runs) -> None:
        for run, rid in runs:
            assert run.model.name == "d16" and run.seed == 3  # narrowest size, first seed
            trained.append(rid)
            loss_by_id[rid] = bowl(0.04 if run.tokens == 4096 else 0.02)(run.lr_base)

    chosen, log = search(spec, 300, "fp", train, lambda ids: [loss_by_id[i] for i in ids],
                         lambda _line: None)
    assert chosen == {0: pytest.approx(0.04), 1: pytest.approx(0.02)}
    assert len(trained) == len(log) == len(set(trained))
    assert {row["tokens"] for row in log} == {4096, 8192}


@pytest.fixture(scope="module")
def auto_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("auto")
    spec = {**TINY, "train": {**TINY["train"], "lr": "auto", "noise_seeds": [1, 2]}}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["sweep", str(folder / "tiny.yaml"), "--out",
                                      str(folder / "out")])
    assert result.exit_code == 0, result.output
    assert "lr search on d16" in result.output
    return folder


def test_every_probe_is_a_row_and_the_others_train_at_the_chosen_lr(auto_sweep: Path) -> None:
    out = auto_sweep / "out" / "tiny"
    rows = pd.read_csv(out / "results.csv")
    record = json.loads((out / "lr_search.json").read_text())
    probes = {p["run_id"]: p for p in record["probes"]}
    chosen = record["chosen"][0]["lr"]
    d16 = rows[(rows.model == "d16") & (rows.seed == 0)]
    assert set(d16.run_id) == set(probes)  # every probe is a row, and nothing else of d16
    assert len(d16) >= 3 and (d16.status == "ok").all()
    # The noise seeds train at the chosen lr only.
    noise = rows[(rows.model == "d16") & (rows.seed != 0)]
    assert sorted(noise.seed) == [1, 2] and noise.lr.tolist() == pytest.approx([2 * chosen] * 2)
    # The CSV's lr is the one applied: the base lr carried to width 16 by inverse_width.
    applied = lr_for(parse_spec(TINY).models[0], chosen, parse_spec(TINY).train)
    assert applied == pytest.approx(2 * chosen)
    best = d16.val_loss.min()
    assert d16[d16.val_loss <= best + lr_search.LR_TOLERANCE].lr.min() == pytest.approx(applied)
    assert rows[rows.model == "d32"].lr.tolist() == [chosen]


def test_rerun_trains_nothing_and_chooses_the_same(auto_sweep: Path) -> None:
    out = auto_sweep / "out" / "tiny"
    before = (out / "results.csv").read_text()
    chosen = json.loads((out / "lr_search.json").read_text())["chosen"]
    result = CliRunner().invoke(app, ["sweep", str(auto_sweep / "tiny.yaml"), "--out",
                                      str(auto_sweep / "out")])
    assert result.exit_code == 0, result.output
    assert "0 to train" in result.output
    assert (out / "results.csv").read_text() == before
    assert json.loads((out / "lr_search.json").read_text())["chosen"] == chosen


def test_a_fixed_lr_and_a_grid_still_work_without_a_search() -> None:
    spec = parse_spec({**TINY, "train": {**TINY["train"], "lr": [1e-3, 3e-3]}})
    assert not spec.train.lr_auto and spec.train.lr == (1e-3, 3e-3)
    assert parse_spec({**TINY, "train": {**TINY["train"], "lr": "auto"}}).train.lr_auto
    assert replace(spec.train, lr=()).lr_auto
