"""The seed level of b's bootstrap (`seeds.seed_level`, `seeds.resampled_means`), worked out
by hand: when there is one, which draws it takes from the generator, the repick of the lr
on resampled seeds, and which points never move."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import seeds

X, D = "params_non_embedding", "tokens"


def runs(sizes: list[tuple[str, list[tuple[str, list[str]]]]]) -> list[dict[str, str]]:
    """results.csv rows: per size (its N) its lrs, per lr the val_loss of seeds 0, 1, ..."""
    return [{X: n, D: "1", "lr": lr, "seed": str(s), "val_loss": v}
            for n, lrs in sizes for lr, losses in lrs for s, v in enumerate(losses)]


def ladder_of(rows: list[dict[str, str]]) -> seeds.Ladder:
    return seeds.ladder(rows, list(rows[0]), X, D)


def log_ppl(rows: list[dict[str, str]]) -> np.ndarray:
    """log y per row for y = perplexity: the val_loss itself (NaN where blank)."""
    return np.array([seeds.cell(r, "val_loss") for r in rows])


def mean_of_three(rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """A three-seed configuration with seeds -1, 0, 1 about its mean, replayed by hand: three
    seeds drawn with replacement (integers(0, 3)), their mean inflated by sqrt(3 / 2)."""
    return math.sqrt(1.5) * (rng.integers(0, 3, size=(n_boot, 3)) - 1.0).mean(axis=1)


# ----------------------------------------------------------------- whether there is one


def test_the_seed_level_needs_two_seeds_somewhere_and_two_draws():
    # Every configuration one seed: the fit is the one before seeds, so no seed level.
    unseeded = runs([("1", [("0.1", ["3.0"])]), ("2", [("0.1", ["2.5"])])])
    assert seeds.seed_level(ladder_of(unseeded), log_ppl(unseeded), 200,
                            np.random.default_rng(0)) is None
    rows = runs([("1", [("0.1", ["3.0", "4.0", "5.0"])])])
    lad, log_y = ladder_of(rows), log_ppl(rows)
    # One draw has no spread: none either.
    assert seeds.seed_level(lad, log_y, 1, np.random.default_rng(0)) is None
    # Two draws are enough: the mean of three resampled seeds (-1, 0, 1 about 4.0).
    draws = seeds.seed_level(lad, log_y, 2, np.random.default_rng(7))
    assert draws.shape == (2, 1)
    assert draws[:, 0] == pytest.approx(mean_of_three(np.random.default_rng(7), 2), abs=1e-12)


# ---------------------------------------------------- the draws that the generator gives


def test_a_point_that_cannot_move_takes_no_draw_from_the_generator():
    # Size 1 has one seed (it does not move), size 2 three seeds 4, 5, 6; size 3 a seed
    # whose y is not a positive number (its draws are NaN, so it stays put). Neither takes
    # a number from the generator: size 2's draws are the generator's first integers.
    rows = runs([("1", [("0.1", ["3.0"])]), ("2", [("0.1", ["4.0", "5.0", "6.0"])]),
                 ("3", [("0.1", ["2.0", "", "2.5"])])])
    lad = ladder_of(rows)
    draws = seeds.seed_level(lad, log_ppl(rows), 500, np.random.default_rng(3))
    assert draws.shape == (500, 3)
    assert np.array_equal(draws[:, 0], np.zeros(500))
    assert draws[:, 1] == pytest.approx(mean_of_three(np.random.default_rng(3), 500), abs=1e-12)
    assert np.array_equal(draws[:, 2], np.zeros(500))


def test_an_lr_whose_y_is_not_a_positive_number_is_never_picked():
    # Size 2 has two lrs: 0.1 (val_loss 5, 6, 7; its second seed's y is not a positive
    # number) and 0.2 (0, 1, 2), the one the fit keeps. Each draw repicks, and lr 0.1 never
    # wins, nor takes a draw: the draws are lr 0.2's three-seed means, replayed by hand.
    rows = runs([("1", [("0.1", ["3.0", "3.0"])]),
                 ("2", [("0.1", ["5.0", "6.0", "7.0"]), ("0.2", ["0.0", "1.0", "2.0"])])])
    lad = ladder_of(rows)
    assert [c.rows for c in lad.points] == [[0, 1], [5, 6, 7]]
    log_y = log_ppl(rows)
    log_y[3] = math.nan
    draws = seeds.seed_level(lad, log_y, 400, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    assert np.array_equal(draws[:, 0], np.zeros(400))  # seeds 3.0, 3.0: no residuals
    rng.integers(0, 2, size=(400, 2))  # ... but size 1's two seeds are resampled
    assert draws[:, 1] == pytest.approx(mean_of_three(rng, 400), abs=1e-12)


def test_resampled_means_of_a_y_that_is_not_a_positive_number():
    rng = np.random.default_rng(11)
    loss, log_y = seeds.resampled_means(np.array([1.0, 2.0, 3.0]), np.array([0.0, math.nan, 1.0]),
                                        6, rng)
    # n_boot draws each: a loss of inf (never picked) and a log y of NaN (never moves).
    assert loss.shape == (6,) and np.all(loss == math.inf)
    assert log_y.shape == (6,) and np.all(np.isnan(log_y))
    assert rng.integers(0, 2**62) == np.random.default_rng(11).integers(0, 2**62)


def test_resampled_means_of_a_config_whose_loss_is_missing_stay_put():
    # Two seeds, one val_loss missing: not resampled, and not moved by the pooled sds either
    # (those are for a one-seed configuration only); no number is drawn.
    rng = np.random.default_rng(12)
    loss, log_y = seeds.resampled_means(np.array([4.0, math.inf]), np.array([1.0, 2.0]), 5,
                                        rng, (0.5, 0.25))
    assert np.all(loss == math.inf)
    assert np.array_equal(log_y, np.full(5, 1.5))
    assert rng.integers(0, 2**62) == np.random.default_rng(12).integers(0, 2**62)
    # One seed without the pooled sds: fixed, and nothing drawn either.
    loss, log_y = seeds.resampled_means(np.array([4.0]), np.array([1.0]), 5, rng)
    assert np.array_equal(loss, np.full(5, 4.0)) and np.array_equal(log_y, np.full(5, 1.0))
    assert rng.integers(0, 2**62) == np.random.default_rng(12).integers(0, 2**62, size=2)[1]


# ------------------------------------------------------------------ the repick of the lr


def repick_rows() -> list[dict[str, str]]:
    """One size, two lrs of three seeds: 0.1 (1.0, 1.0, 1.75: mean 1.25, the pick) and
    0.2 (1.5 three times: it never moves)."""
    return runs([("1", [("0.1", ["1.0", "1.0", "1.75"]), ("0.2", ["1.5", "1.5", "1.5"])])])


def assert_repicked(draws: np.ndarray) -> None:
    # lr 0.1's resampled mean is 1.25 + sqrt(3/2) (k - 1) / 4 where k ~ Binomial(3, 1/3)
    # counts its draws of the 1.75 seed; each draw keeps the lower of it and 1.5. So the
    # draw (kept mean - 1.25) is -sqrt(3/2)/4 (k = 0, p 8/27), 0 (k = 1, p 12/27) or
    # 0.25 (k >= 2, lr 0.2 kept, p 7/27); without the repick it would reach 0.61.
    values = {-math.sqrt(1.5) / 4: 8 / 27, 0.0: 12 / 27, 0.25: 7 / 27}
    n = draws.shape[0]
    assert draws.shape == (n, 1)
    for v, p in values.items():
        hits = np.isclose(draws[:, 0], v, rtol=0, atol=1e-12)
        assert abs(hits.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert sum(np.isclose(draws[:, 0], v, rtol=0, atol=1e-12).sum() for v in values) == n


def test_each_draw_repicks_the_lr_on_the_resampled_seeds():
    rows = repick_rows()
    lad = ladder_of(rows)
    assert [c.rows for c in lad.points] == [[0, 1, 2]]
    assert_repicked(seeds.seed_level(lad, log_ppl(rows), 3000, np.random.default_rng(0)))


def test_a_ladder_without_a_search_record_repicks_too():
    # A Ladder made without `searched` (its default, []) means that no lr was the search's.
    rows = repick_rows()
    lad = ladder_of(rows)
    bare = seeds.Ladder(lad.groups, lad.picked, lad.repick, loss_sd=lad.loss_sd)
    assert bare.searched == []
    assert_repicked(seeds.seed_level(bare, log_ppl(rows), 3000, np.random.default_rng(1)))


def test_a_search_record_that_does_not_match_the_sizes_is_refused():
    # One flag for two sizes: the second size would get no seed noise at all.
    rows = runs([("1", [("0.1", ["1.0", "2.0"])]), ("2", [("0.1", ["3.0", "4.0"])])])
    lad = ladder_of(rows)
    short = seeds.Ladder(lad.groups, lad.picked, lad.repick, searched=[False],
                         loss_sd=lad.loss_sd)
    with pytest.raises(ValueError, match="zip"):
        seeds.seed_level(short, log_ppl(rows), 50, np.random.default_rng(0))


def test_a_one_seed_lr_does_not_move_when_the_losses_give_no_seed_sd():
    # lr 0.1 has two seeds but only one val_loss (no val_loss sd anywhere), lr 0.2 one seed,
    # the pick. log y (say of a val_ppl column) has a seed sd, but the pick's noise is
    # unknown: lr 0.2 is not moved by a pooled sd, and lr 0.1 (a loss of inf) never wins.
    rows = runs([("1", [("0.1", ["3.0", ""]), ("0.2", ["3.1"])])])
    lad = ladder_of(rows)
    assert lad.loss_sd is None and [c.rows for c in lad.points] == [[2]]
    draws = seeds.seed_level(lad, np.array([3.0, 3.2, 3.1]), 200, np.random.default_rng(0))
    assert np.array_equal(draws, np.zeros((200, 1)))


# --------------------------------------------------------------- draws that do not move


def test_a_draw_that_is_not_finite_leaves_its_point_where_it_is():
    # Seeds at +-1e308 about a mean of 0: a resample of the same seed twice overflows to
    # +inf or -inf (each with p 1/4), a mixed one is 0. None of them moves the point.
    rows = runs([("1", [("0.1", ["1.0", "2.0"])])])
    with np.errstate(over="ignore", invalid="ignore"):
        draws = seeds.seed_level(ladder_of(rows), np.array([1e308, -1e308]), 400,
                                 np.random.default_rng(0))
    assert np.array_equal(draws, np.zeros((400, 1)))
