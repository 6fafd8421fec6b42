"""`lr: auto`, the rules on their edges (test_lr_search.py drives them on whole loss curves):
the tolerance's own boundary, what counts as bracketed, the probe cap, which runs probe,
and what the search says and records."""

from __future__ import annotations

import math

import pytest

from scalecli.errors import ScaleError
from scalecli.sweep import lr_search
from scalecli.sweep.lr_search import (
    LR_TOLERANCE,
    MAX_PROBES,
    bracketed,
    choose,
    lowest,
    next_lrs,
    probe_spec,
    search,
)
from scalecli.sweep.parse import parse_spec
from tests.sweep.test_sweep_e2e import TINY

NAN = math.nan


def test_a_loss_exactly_at_the_tolerance_is_within_it() -> None:
    assert choose({0.01: 2.0 + LR_TOLERANCE, 0.02: 2.0}) == 0.01
    assert choose({0.01: 2.0 + 2 * LR_TOLERANCE, 0.02: 2.0}) == 0.02
    assert choose({0.01: NAN, 0.02: 3.0, 0.04: NAN}) == 0.02  # diverged probes are no choice


def test_lowest_is_the_lr_of_the_smallest_finite_loss() -> None:
    assert lowest({0.01: 3.1, 0.02: 3.0, 0.04: NAN, 0.08: 3.05}) == 0.02
    assert lowest({0.01: NAN, 0.02: math.inf}) is None


@pytest.mark.parametrize(("losses", "inside"), [
    ({0.01: 3.0, 0.02: 3.1, 0.04: 3.2}, False),    # the choice at the bottom edge
    ({0.01: 3.2, 0.02: 3.1, 0.04: 3.0}, False),    # the lowest loss at the top edge
    ({0.01: 3.2, 0.02: 3.0, 0.04: 3.1}, True),     # both inside
    ({0.01: 3.2, 0.02: 3.0, 0.04: NAN}, True),     # a diverged probe above counts
    ({0.01: NAN, 0.02: NAN}, False),               # nothing measured
])
def test_bracketed_needs_a_probe_on_each_side(losses: dict, inside: bool) -> None:
    assert bracketed(losses) is inside


def test_next_lrs_goes_past_each_edge_by_one_factor() -> None:
    assert next_lrs({0.01: 3.0, 0.02: 3.1, 0.04: 3.2}) == [0.005]
    assert next_lrs({0.01: 3.2, 0.02: 3.1, 0.04: 3.0}) == [0.08]
    assert next_lrs({0.01: 3.2, 0.02: 3.0, 0.04: 3.1}) == []
    assert next_lrs({0.01: NAN, 0.02: NAN, 0.04: NAN}) == [0.005]  # all diverged: go down
    # Within the tolerance at both edges: one probe below and one above.
    assert next_lrs({0.01: 3.0 + LR_TOLERANCE / 2, 0.02: 3.1, 0.04: 3.0}) == [0.005, 0.08]


def test_the_probe_cap_holds_when_both_edges_want_more() -> None:
    # Both edges open, one probe left of MAX_PROBES: only the lower one.
    lrs = [0.01 * 2 ** k for k in range(MAX_PROBES - 1)]
    flat = {lr: 3.0 for lr in lrs} | {lrs[-1]: 3.0 - LR_TOLERANCE / 2}
    # The choice (all within the tolerance: the smallest) at the bottom edge, the lowest
    # loss at the top: two probes wanted, one allowed.
    assert choose(flat) == lrs[0] and lowest(flat) == lrs[-1]
    assert next_lrs(flat) == [lrs[0] / 2]
    full = flat | {lrs[0] / 2: 3.0}
    assert len(full) == MAX_PROBES and next_lrs(full) == []


def test_probes_run_on_the_narrowest_size_first_seed_at_one_budget() -> None:
    spec = parse_spec({**TINY, "budget": {"tokens": [4096, 8192]},
                       "models": [TINY["models"][1], TINY["models"][0]],
                       "train": {**TINY["train"], "lr": "auto", "seeds": [3, 4],
                                 "noise_seeds": [7]}})
    probe = probe_spec(spec, 1, (0.01, 0.02), vocab_size=300)
    assert [m.name for m in probe.models] == ["d16"]
    assert probe.budget.tokens == (8192,)
    assert probe.train.lr == (0.01, 0.02)
    assert probe.train.seeds == (3,) and probe.train.noise_seeds == ()


def fake_search(curve, tokens=(4096,), drop: int = 0) -> tuple[dict, list, list[str]]:
    """search() with training faked: each probe's loss is curve(lr); `drop` losses go
    missing from what is read back."""
    spec = parse_spec({**TINY, "budget": {"tokens": list(tokens)},
                       "train": {**TINY["train"], "lr": "auto"}})
    loss_by_id: dict[str, float] = {}

    def train(runs) -> None:
        for run, rid in runs:
            assert rid == run.run_id("fp")  # the sweep's own run_id: a rerun finds it
            loss_by_id[rid] = curve(run.lr_base)

    def losses_of(ids: list[str]) -> list[float]:
        return [loss_by_id[i] for i in ids][drop:]

    said: list[str] = []
    chosen, log = search(spec, 300, "fp", train, losses_of, said.append)
    return chosen, log, said


def test_a_probe_whose_loss_is_not_read_back_is_an_error() -> None:
    # A loss missing from results.csv must not silently shift the others onto other lrs.
    with pytest.raises(ValueError, match="zip"):
        fake_search(lambda lr: 3.0, drop=1)


def test_the_search_says_every_probe_and_its_choice() -> None:
    curve = {5e-3: 3.3, 1e-2: 3.1, 2e-2: 3.0, 4e-2: 3.2}
    chosen, log, said = fake_search(curve.__getitem__)
    assert chosen == {0: 2e-2}
    assert said == ["lr search on d16 at 4,096 tokens (lr at width 32): 0.005 -> 3.3000, "
                    "0.01 -> 3.1000, 0.02 -> 3.0000, 0.04 -> 3.2000; chose 0.02"]
    assert [(row["lr_base"], row["val_loss"]) for row in log] == [
        (5e-3, 3.3), (1e-2, 3.1), (2e-2, 3.0), (4e-2, 3.2)]
    for row in log:
        assert row["budget_index"] == 0 and row["model"] == "d16" and row["tokens"] == 4096
        assert row["lr"] == pytest.approx(2 * row["lr_base"])  # inverse_width: 32 / 16
        assert row["run_id"].startswith("d16-")
    assert len({row["run_id"] for row in log}) == 4


def test_a_search_that_never_brackets_says_so() -> None:
    chosen, log, said = fake_search(lambda lr: 3.0 - lr)  # always better higher up
    assert len(log) == MAX_PROBES
    assert chosen[0] == max(row["lr_base"] for row in log)
    assert said[0].endswith(f"; chose {chosen[0]:.3g}  (not bracketed after {MAX_PROBES} "
                            "probes)")


def test_every_budget_is_searched_on_its_own() -> None:
    chosen, log, said = fake_search(lambda lr: 3.0 + math.log2(lr / 1e-2) ** 2,
                                    tokens=(4096, 8192))
    assert chosen == {0: pytest.approx(1e-2), 1: pytest.approx(1e-2)}
    assert [row["budget_index"] for row in log] == [0, 0, 0, 1, 1, 1]
    assert [row["tokens"] for row in log] == [4096] * 3 + [8192] * 3
    assert "at 8,192 tokens" in said[1]


def test_every_probe_diverged_is_one_clear_error() -> None:
    with pytest.raises(ScaleError) as info:
        fake_search(lambda lr: NAN)
    lowest_lr = lr_search.LR_START / lr_search.LR_FACTOR ** (MAX_PROBES - 2)
    assert str(info.value) == (
        f"lr: auto: every probe of d16 diverged, down to lr {lowest_lr:.3g}; set train.lr "
        "by hand, or lower train.grad_clip or the budget")
