"""`seeds.ladder`'s bookkeeping without an lr or a run_id, by hand: how the rows of a CSV
without an lr column group (each row its own configuration without a seed column, one pooled
configuration per size with one), what is reported for them, and that a row whose dict lacks
the lr or run_id key is read as a blank cell (the `.get(..., "")` default: scalecli.finite
treats a missing cell and a blank one alike), so it groups, counts as an lr and matches the
lr search's record exactly as a blank cell does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import seeds
from tests.fit.test_seeds_full_1 import D, X
from tests.fit.test_seeds_full_2 import assert_block


def grouping(lad: seeds.Ladder) -> list[list[list[int]]]:
    """Per size, per configuration, its row indices."""
    return [[c.rows for c in g] for g in lad.groups]


def search_record(lr: float, run_id: str) -> frozenset[str]:
    """The run_ids that `searched_runs` takes from an lr_search.json whose one probe (budget
    0, lr `lr`, `run_id`) is the chosen one."""
    return seeds.searched_runs({"probes": [{"budget_index": 0, "lr_base": lr, "run_id": run_id}],
                                "chosen": [{"budget_index": 0, "lr": lr}]})


# ----------------------------------------------------------- a CSV without an lr column


def test_without_lr_or_seed_columns_each_row_is_a_configuration_and_all_are_fitted():
    # No seed column: each row is its own configuration; no lr column: no lr is picked
    # (docstring: rows pass unchanged), so size 1's three rows are three points.
    rows = [{X: "1", D: "10", "val_loss": "3.0"}, {X: "1", D: "10", "val_loss": "2.5"},
            {X: "2", D: "10", "val_loss": "2.0"}, {X: "1", D: "10", "val_loss": "2.8"}]
    lad = seeds.ladder(rows, [X, D, "val_loss"], X, D)
    assert grouping(lad) == [[[0], [1], [3]], [[2]]]
    assert lad.picked == [[0, 1, 2], [0]] and lad.repick is False
    assert [c.rows for c in lad.points] == [[0], [1], [2], [3]]
    assert lad.searched == [False, False] and lad.loss_sd is None and not lad.seeded()
    assert [list(c.loss) for c in lad.points] == [[3.0], [2.5], [2.0], [2.8]]


def test_without_an_lr_column_the_seeds_of_a_size_pool_into_one_configuration():
    # With a seed column, rows that differ only in their seed are one configuration: here
    # all of a size's rows (no lr to tell them apart). Size 1: 3.0, 3.2, 3.4 (mean 3.2,
    # sum of squares 0.08), size 2: 2.0, 2.2 (mean 2.1, 0.02): pooled sd sqrt(0.1 / 3).
    header = [X, D, "seed", "val_loss"]
    rows = [{X: "1", D: "2e6", "seed": "0", "val_loss": "3.0"},
            {X: "2", D: "2e6", "seed": "0", "val_loss": "2.0"},
            {X: "1", D: "2e6", "seed": "1", "val_loss": "3.2"},
            {X: "2", D: "2e6", "seed": "1", "val_loss": "2.2"},
            {X: "1", D: "2e6", "seed": "2", "val_loss": "3.4"}]
    lad = seeds.ladder(rows, header, X, D)
    assert grouping(lad) == [[[0, 2, 4]], [[1, 3]]]
    assert lad.picked == [[0], [0]] and lad.repick is False and lad.searched == [False, False]
    assert [c.rows for c in lad.points] == [[0, 2, 4], [1, 3]] and lad.seeded()
    assert lad.loss_sd == pytest.approx(math.sqrt(0.1 / 3), abs=1e-12)
    # fit.json's seed_noise reports no lr for them (there is none), x as the label.
    assert_block(seeds.noise_block(lad, rows, "val_loss", X), {
        "column": "val_loss", "pooled_sd": math.sqrt(0.1 / 3), "dof": 3, "configs_pooled": 2,
        "outliers_left_out": 0,
        "points": [{"label": "1", "x": 1.0, "tokens": 2e6, "lr": None, "n_seeds": 3,
                    "mean": 3.2, "sd": math.sqrt(0.08 / 2)},
                   {"label": "2", "x": 2.0, "tokens": 2e6, "lr": None, "n_seeds": 2,
                    "mean": 2.1, "sd": math.sqrt(0.02 / 1)}]})


def test_without_a_run_id_column_a_search_record_matches_nothing_and_means_decide():
    # lr_search.json names probe "r0" at lr 0.2, but no row has a run_id: no configuration
    # holds the search's choice, so the size keeps the lowest seed mean (lr 0.1: 3.05 < 3.45).
    header = [X, D, "lr", "seed", "val_loss"]
    rows = [{X: "1", D: "1", "lr": lr, "seed": s, "val_loss": v}
            for lr, s, v in [("0.1", "0", "3.0"), ("0.1", "1", "3.1"),
                             ("0.2", "0", "3.4"), ("0.2", "1", "3.5")]]
    lad = seeds.ladder(rows, header, X, D, searched=search_record(0.2, "r0"))
    assert grouping(lad) == [[[0, 1], [2, 3]]]
    assert lad.picked == [[0]] and lad.searched == [False] and lad.repick is True
    assert lad.fitted_rows() == [0, 1]


# ------------------------------------------- a row without the key reads as a blank cell


def test_a_row_without_an_lr_key_is_a_seed_of_the_blank_lr():
    # Rows 0 and 1 differ only in their seed; row 0's lr cell is blank, row 1 has no lr at
    # all: both are lr "", one configuration of two seeds (3.0, 3.2: sd sqrt(0.02)). Row 2
    # (lr 0.1, one seed, 3.5) loses the pick: 3.5 - 3.1 = 0.4 exceeds the noise gap
    # 1.96 sqrt(0.02) sqrt(1/2 + 1) = 0.3395, and 3.1 is the lower mean anyway.
    header = [X, D, "lr", "seed", "val_loss"]
    rows = [{X: "1", D: "1", "lr": "", "seed": "0", "val_loss": "3.0"},
            {X: "1", D: "1", "seed": "1", "val_loss": "3.2"},
            {X: "1", D: "1", "lr": "0.1", "seed": "0", "val_loss": "3.5"}]
    lad = seeds.ladder(rows, header, X, D)
    assert grouping(lad) == [[[0, 1], [2]]]
    assert lad.picked == [[0]] and lad.searched == [False]
    assert [c.rows for c in lad.points] == [[0, 1]]
    assert lad.loss_sd == pytest.approx(math.sqrt(0.02), abs=1e-12)


def test_a_row_without_an_lr_key_and_a_blank_lr_are_one_lr_so_nothing_is_picked():
    # No seed column: each row is a configuration. Row 0's lr is blank, row 1 has none:
    # the size has one lr (""), so both rows are fitted, not only the lower loss (2.0).
    header = [X, D, "lr", "val_loss"]
    rows = [{X: "1", D: "1", "lr": "", "val_loss": "3.0"}, {X: "1", D: "1", "val_loss": "2.0"}]
    lad = seeds.ladder(rows, header, X, D)
    assert grouping(lad) == [[[0], [1]]]
    assert lad.picked == [[0, 1]] and lad.repick is True and lad.searched == [False]
    assert lad.fitted_rows() == [0, 1]
    # With a second, real lr the size has two lrs and keeps the lowest single row.
    rows.append({X: "1", D: "1", "lr": "0.1", "val_loss": "2.5"})
    assert seeds.ladder(rows, header, X, D).picked == [[1]]


def test_a_row_without_a_run_id_key_matches_the_search_as_a_blank_run_id_does():
    # lr 0.1's seeds have no run_id key, lr 0.2's a blank one; the record names the blank
    # run_id. Both configurations then hold it, and a match of two is no match: the size
    # keeps the lower seed mean, lr 0.1 (3.05 < 3.45), not the search's lr 0.2.
    header = [X, D, "lr", "seed", "val_loss", "run_id"]
    rows = [{X: "1", D: "1", "lr": "0.1", "seed": "0", "val_loss": "3.0"},
            {X: "1", D: "1", "lr": "0.1", "seed": "1", "val_loss": "3.1"},
            {X: "1", D: "1", "lr": "0.2", "seed": "0", "val_loss": "3.4", "run_id": ""},
            {X: "1", D: "1", "lr": "0.2", "seed": "1", "val_loss": "3.5", "run_id": ""}]
    searched = search_record(0.2, "")
    assert searched == frozenset({""})
    lad = seeds.ladder(rows, header, X, D, searched=searched)
    assert grouping(lad) == [[[0, 1], [2, 3]]]
    assert lad.picked == [[0]] and lad.searched == [False]
    assert [c.rows for c in lad.points] == [[0, 1]]
    assert np.array_equal(lad.points[0].loss, np.array([3.0, 3.1]))
