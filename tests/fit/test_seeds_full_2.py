"""Seeds, by hand: a configuration's seed sd, the rule that keeps one lr per size (`pick`,
`best_config`: the boundary of the noise gap, a configuration without losses), and fit.json's
`seed_noise` block whole, for a CSV without a model column and for a point whose val_loss was
never measured (no numpy warning on the way: `scalecli fit` would print it on stderr)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalecli.fit import seeds
from scalecli.fit.driver import compute_fit

HEADER = ["run_id", "params_non_embedding", "tokens", "lr", "seed", "val_loss", "val_ppl",
          "status"]


def rows_of(runs: list[tuple[int, float, int, float | None]]) -> list[dict[str, str]]:
    """(N, lr, seed, val_loss or None for blank) at 2e6 tokens -> results.csv rows (no model
    column); val_ppl is exp(val_loss), or 50 where the loss is blank."""
    return [{"run_id": f"r{i}", "params_non_embedding": str(n), "tokens": "2e6",
             "lr": f"{lr:g}", "seed": str(s), "val_loss": "" if v is None else repr(v),
             "val_ppl": repr(math.exp(v) if v is not None else 50.0), "status": "ok"}
            for i, (n, lr, s, v) in enumerate(runs)]


def write(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    path = tmp_path / "results.csv"
    lines = [",".join(HEADER)] + [",".join(r[h] for h in HEADER) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_block(block: dict, expected: dict) -> None:
    """fit.json's seed_noise equal to `expected`, its floats to 1e-12 (None stays None)."""
    assert set(block) == set(expected)
    for key in ("column", "dof", "configs_pooled", "outliers_left_out"):
        assert block[key] == expected[key], key
    assert block["pooled_sd"] == pytest.approx(expected["pooled_sd"], abs=1e-12)
    assert len(block["points"]) == len(expected["points"])
    for got, want in zip(block["points"], expected["points"], strict=True):
        assert set(got) == set(want)
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-12), (want["label"], key)
            else:
                assert got[key] == value, (want["label"], key)


# ------------------------------------------------------------------------- the seed sd


def test_seed_sd_is_the_sample_sd_and_none_below_two_seeds():
    assert seeds.seed_sd(np.array([4.30, 4.20])) == pytest.approx(math.sqrt(2 * 0.05**2 / 1))
    assert seeds.seed_sd(np.array([4.00, 4.02, 4.04])) == pytest.approx(0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no std of one value (n - 1 = 0) on the way
        assert seeds.seed_sd(np.array([4.10])) is None
        assert seeds.seed_sd(np.array([])) is None


# ------------------------------------------------------------------------ the lr pick


def test_a_mean_of_more_seeds_exactly_at_the_noise_gap_is_within_the_noise():
    # 6 seeds at mean 1.0 (the lowest), 12 seeds at 1.98, pooled seed sd 1: the gap is
    # 1.96 * 1 * sqrt(1/6 + 1/12) = 1.96 * sqrt(1/4) = 0.98 exactly (also in floats), and
    # 1.98 - 1.0 is 0.98 exactly. "Within the noise" includes the boundary: the 12-seed
    # mean is kept. One ulp further it is told apart, and the 6-seed mean is kept.
    n = np.array([6, 12])
    assert 1.98 - 1.0 == 0.98 and 1.0 / 6 + 1.0 / 12 == 0.25
    assert list(seeds.pick(np.array([1.0, 1.98]), n, 1.0)) == [1]
    assert list(seeds.pick(np.array([1.0, np.nextafter(1.98, 2.0)]), n, 1.0)) == [0]
    # Row by row, as in the bootstrap's draws.
    draws = np.array([[1.0, 1.98], [1.0, np.nextafter(1.98, 2.0)], [2.5, 1.98]])
    assert list(seeds.pick(draws, n, 1.0)) == [1, 0, 1]


def test_a_configuration_without_losses_never_wins_the_pick():
    # An lr with no seeds at all has no mean: it is not the lowest, whatever the others are.
    assert seeds.best_config([[], [4.3, 4.4], [4.5]], None) == 1
    assert seeds.best_config([[4.6], [], [4.5, 4.45]], None) == 2


def test_a_size_whose_lrs_have_no_val_loss_keeps_its_first_lr_quietly():
    # Size 1000 has two lrs of two seeds each and no val_loss (inf, never the lowest): with
    # equal seed counts the pick is the plain lowest mean, the first of two infinite ones,
    # and no inf - inf is computed on the way (a numpy warning on `scalecli fit`'s stderr).
    # Size 2000's seeds make the pooled sd: sqrt((2 (0.05)^2 + 2 (0.01)^2) / 2).
    rows = rows_of([(1000, 0.01, 0, None), (1000, 0.01, 1, None),
                    (1000, 0.03, 0, None), (1000, 0.03, 1, None),
                    (2000, 0.01, 0, 4.30), (2000, 0.01, 1, 4.20),
                    (2000, 0.03, 0, 4.10), (2000, 0.03, 1, 4.12)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lad = seeds.ladder(rows, HEADER, "params_non_embedding", "tokens")
    assert lad.loss_sd == pytest.approx(math.sqrt((2 * 0.05**2 + 2 * 0.01**2) / 2))
    assert lad.picked == [[0], [1]]  # size 2000: lr 0.03, mean 4.11 below 4.25
    assert [c.rows for c in lad.points] == [[0, 1], [6, 7]]


# -------------------------------------------------------------------- fit.json's block


def point(x: float, n_seeds: int, mean: float | None, sd: float | None) -> dict:
    """A seed_noise point of the rows above: no model column, so the label is x (%g)."""
    return {"label": f"{x:g}", "x": x, "tokens": 2e6, "lr": 0.01, "n_seeds": n_seeds,
            "mean": mean, "sd": sd}


def test_seed_noise_block_without_a_model_column_by_hand(tmp_path: Path):
    rows = rows_of([(20000, 0.01, 0, 4.30), (20000, 0.01, 1, 4.20),
                    (80000, 0.01, 0, 4.10), (80000, 0.03, 0, 4.50),  # one seed each: 4.10 wins
                    (150000, 0.01, 0, 4.00), (150000, 0.01, 1, 4.02), (150000, 0.01, 2, 4.04)])
    doc = compute_fit(write(tmp_path, rows), bootstrap=50, holdout=0)
    ss_20k, ss_150k = 2 * 0.05**2, 2 * 0.02**2  # about the means 4.25 and 4.02
    assert_block(doc["seed_noise"], {
        "column": "val_loss", "pooled_sd": math.sqrt((ss_20k + ss_150k) / (1 + 2)), "dof": 3,
        "configs_pooled": 2, "outliers_left_out": 0,
        "points": [point(20000.0, 2, 4.25, math.sqrt(ss_20k / 1)),
                   point(80000.0, 1, 4.10, None),
                   point(150000.0, 3, 4.02, math.sqrt(ss_150k / 2))]})


def test_seed_noise_of_a_point_without_a_measured_value_is_none_quietly():
    # Size 300000's two seeds have no val_loss: no mean and no sd, and no numpy "mean of
    # empty slice" or "degrees of freedom <= 0" on the way (nor for 80000's single seed).
    rows = rows_of([(20000, 0.01, 0, 4.30), (20000, 0.01, 1, 4.20),
                    (80000, 0.01, 0, 4.10),
                    (300000, 0.01, 0, None), (300000, 0.01, 1, None)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lad = seeds.ladder(rows, HEADER, "params_non_embedding", "tokens")
        block = seeds.noise_block(lad, rows, "val_loss", "params_non_embedding")
    assert_block(block, {
        "column": "val_loss", "pooled_sd": 0.05 * math.sqrt(2), "dof": 1,
        "configs_pooled": 1, "outliers_left_out": 0,
        "points": [point(20000.0, 2, 4.25, 0.05 * math.sqrt(2)),
                   point(80000.0, 1, 4.10, None),
                   point(300000.0, 2, None, None)]})
