"""The sizes the diagnostics compare (`fit.slices`): which column is the loss, which lr a
size keeps, how its runs group into seeds, how it is named, and which points the line
rules read. Every expected value is worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import seeds
from scalecli.fit.diagnostics import non_monotone, seed_outlier
from scalecli.fit.slices import (
    Evidence,
    all_sizes,
    loss_column,
    points,
    seed_groups,
    sizes_by_budget,
)


def evidence(rows: list[dict[str, str]], y_col: str = "val_loss",
             searched: frozenset[str] = frozenset()) -> Evidence:
    return Evidence(rows=rows, header=list(rows[0]), x_col="params", y_col=y_col, fits={},
                    predict=None, data_summary=None, searched=searched)


def test_without_a_val_loss_column_the_sizes_are_compared_on_the_fitted_y() -> None:
    # A CSV of perplexities only: the loss the rules compare is val_ppl itself, and m2's 35
    # is worse than m1's 30 with no seeds to measure the noise.
    rows = [{"model": "m1", "params": "1000000", "tokens": "20000000", "val_ppl": "30"},
            {"model": "m2", "params": "2000000", "tokens": "20000000", "val_ppl": "35"}]
    ev = evidence(rows, y_col="val_ppl")
    assert loss_column(ev) == "val_ppl"
    assert [(s.label, s.loss) for s in all_sizes(ev)] == [("m1", 30.0), ("m2", 35.0)]
    (warning,) = non_monotone(ev)
    assert warning.message == (
        "A larger size has a higher best val_ppl than a smaller one (no seeds measure the "
        "noise, so any increase counts): m2 (35.000) is worse than the smaller m1 (30.000). "
        "Check each size's lr and seeds before trusting the exponent.")
    # with a val_loss column the rules compare nats whatever y is fitted
    with_loss = [{**r, "val_loss": repr(math.log(float(r["val_ppl"])))} for r in rows]
    assert loss_column(evidence(with_loss, y_col="val_ppl")) == "val_loss"


def test_points_take_losses_below_one_nat() -> None:
    # Per-byte losses sit below 1 nat; log y is then negative, not missing. Size 1e6 keeps
    # its two seeds 0.8 and 0.5 (mean log = log sqrt(0.4)), size 2e6 its 1.0 and 0.64
    # (mean log = log 0.8).
    def row(params: str, seed: str, loss: float) -> dict[str, str]:
        return {"params": params, "tokens": "1000000", "lr": "0.001", "seed": seed,
                "val_loss": repr(loss)}

    ev = evidence([row("1000000", "0", 0.8), row("1000000", "1", 0.5),
                   row("2000000", "0", 1.0), row("2000000", "1", 0.64)])
    got = points(all_sizes(ev), "val_loss")
    assert got is not None
    assert got[0].tolist() == [1e6, 2e6]
    assert got[1].tolist() == pytest.approx([0.5 * math.log(0.4), math.log(0.8)], abs=1e-12)


def seeded(lr: str, seed: int, loss: float, **extra: str) -> dict[str, str]:
    return {"run_id": f"s1-lr{lr}-seed{seed}", "model": "s1", "params": "1000000",
            "tokens": "20000000", "lr": lr, "seed": str(seed), "val_loss": repr(loss), **extra}


def test_seeds_are_grouped_per_lr_so_another_lr_is_no_outlier() -> None:
    # lr 1e-3 with seeds 3.00, 3.01, 3.02 and a one-seed probe at lr 3e-3 with 3.50. Per lr
    # nothing is an outlier (three close seeds; one seed has no median). Pooled into one
    # group the probe would be: median 3.015, MAD 0.01 -> scale max(0.0148, 0.02) = 0.02,
    # z = 0.485 / 0.02 = 24.
    rows = [seeded("0.001", 0, 3.00), seeded("0.001", 1, 3.01), seeded("0.001", 2, 3.02),
            seeded("0.003", 0, 3.50)]
    (size,) = all_sizes(evidence(rows))
    assert [[r.loss for r in g] for g in seed_groups(size)] == [[3.00, 3.01, 3.02], [3.50]]
    assert [[r.lr for r in g] for g in seed_groups(size)] == [[1e-3] * 3, [3e-3]]
    assert seed_outlier(evidence(rows)) == []


def test_a_size_keeps_the_lr_that_the_lr_search_chose_as_the_fit_does() -> None:
    # The search chose lr 1e-3 on its probe (seed 0) and trained seeds 1 and 2 there: 3.05,
    # 3.06, 3.07 (mean 3.06, sd 0.01). The probe at lr 3e-3 got 3.00. Without the search's
    # record the probe wins: 3.06 - 3.00 = 0.06 > 1.96 * 0.01 * sqrt(1 + 1/3) = 0.023.
    # With it, the size keeps lr 1e-3 and its mean 3.06, as the fit's ladder does.
    rows = [seeded("0.001", 0, 3.05), seeded("0.001", 1, 3.06), seeded("0.001", 2, 3.07),
            seeded("0.003", 0, 3.00)]
    searched = frozenset({"s1-lr0.001-seed0"})

    (size,) = all_sizes(evidence(rows, searched=searched))
    assert size.loss == pytest.approx(3.06, abs=1e-12)
    assert [r.row["run_id"] for r in size.best] == [
        "s1-lr0.001-seed0", "s1-lr0.001-seed1", "s1-lr0.001-seed2"]
    lad = seeds.ladder(rows, list(rows[0]), "params", "tokens", searched=searched)
    assert lad.fitted_rows() == [0, 1, 2]

    (unsearched,) = all_sizes(evidence(rows))
    assert unsearched.loss == 3.00
    assert [r.row["run_id"] for r in unsearched.best] == ["s1-lr0.003-seed0"]
    assert seeds.ladder(rows, list(rows[0]), "params", "tokens").fitted_rows() == [3]


def test_a_size_without_a_token_count_is_a_budget_of_its_own() -> None:
    # One row has a blank tokens cell: its budget is ("tokens", None), which sorts against
    # no other budget; the sizes are ordered by x alone. Only the budget with a count is
    # named in the label (there are two budgets).
    rows = [{"model": "m1", "params": "1000000", "tokens": "20000000", "val_loss": "4.0"},
            {"model": "m2", "params": "2000000", "tokens": "", "val_loss": "3.8"},
            {"model": "m3", "params": "3000000", "tokens": "20000000", "val_loss": "3.7"}]
    got = sizes_by_budget(evidence(rows))
    assert {b: [(s.label, s.loss) for s in sizes] for b, sizes in got.items()} == {
        ("tokens", 2e7): [("m1 at 2e+07 tokens", 4.0), ("m3 at 2e+07 tokens", 3.7)],
        ("tokens", None): [("m2", 3.8)]}


def test_a_size_is_named_by_its_models_else_by_x() -> None:
    def row(params: str, loss: str, **model: str) -> dict[str, str]:
        return {"params": params, "tokens": "20000000", **model, "val_loss": loss}

    # no model column: the size's x
    no_model = [row("1000000", "4.0"), row("2500000", "3.8")]
    assert [s.label for s in all_sizes(evidence(no_model))] == ["1e+06", "2.5e+06"]
    # a blank model cell beside a named one names nothing; two names at one x are both
    # given, sorted, joined by "/"; all blank: the x
    rows = [row("1000000", "4.0", model=""), row("1000000", "4.1", model="m1"),
            row("2000000", "3.9", model="m2b"), row("2000000", "3.95", model="m2a"),
            row("3000000", "3.8", model="")]
    assert [s.label for s in all_sizes(evidence(rows))] == ["m1", "m2a/m2b", "3e+06"]


def test_the_non_monotone_message_names_sizes_by_their_labels() -> None:
    # m2a and m2b share x = 2e6; their best run 4.2 is worse than 1e6's 4.0 (no model).
    rows = [{"model": "", "params": "1000000", "tokens": "20000000", "val_loss": "4.0"},
            {"model": "m2a", "params": "2000000", "tokens": "20000000", "val_loss": "4.2"},
            {"model": "m2b", "params": "2000000", "tokens": "20000000", "val_loss": "4.3"}]
    (warning,) = non_monotone(evidence(rows))
    assert "m2a/m2b (4.2000) is worse than the smaller 1e+06 (4.0000)" in warning.message
    assert np.isclose(all_sizes(evidence(rows))[1].loss, 4.2)
