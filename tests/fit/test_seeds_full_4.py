"""Seeds, worked out by hand: the count of outlier seeds that `pooled_sd` leaves out summed over
configurations, a seed exactly at the outlier threshold kept, a `Ladder` whose groups and picks
do not pair refused, a one-seed point's value kept to the last bit by `Ladder.mean`, and
`Ladder.point_of_row` an integer index even for a ladder without rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import seeds
from tests.fit.test_seeds_full_1 import D, X, ladder_of, runs

# ------------------------------------------------------------------------------ pooled_sd


def test_outliers_left_out_are_counted_over_every_configuration():
    """Two configurations with one diverged seed each: 2 seeds left out, not the last one's 1.

    Each group is 0, 0, 1: median 0, MAD 0, so the scale is the floor 0.02 and the seed at 1
    has z = 50 > 3.5. What is left, 0 and 0 twice, pools to sd 0 on 1 + 1 = 2 dof."""
    pooled = seeds.pooled_sd([np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0])])
    assert pooled == seeds.Pooled(sd=0.0, dof=2, configs=2, left_out=2)


def test_a_seed_exactly_at_the_outlier_threshold_is_kept():
    """A seed whose robust z is exactly 3.5 is kept (an outlier is z > 3.5).

    Values -m, 0, 0, m, d with m = 0.1: median 0, MAD m, scale 1.4826 m = 0.14826 (> the
    0.02 floor), and d = 3.5 x 0.14826 = 0.51891, whose z is 3.5 in float64 too (checked
    below on the raw arithmetic). All five seeds pool on 4 dof: sum of squares about the
    mean d / 5 is 2 m^2 + d^2 - d^2 / 5, so sd = sqrt((0.02 + 0.8 d^2) / 4)."""
    m, d = 0.1, 0.51891
    assert d / (seeds.MAD_TO_SD * m) == seeds.OUTLIER_Z == 3.5  # exactly at the threshold
    pooled = seeds.pooled_sd([np.array([-m, 0.0, 0.0, m, d])])
    assert (pooled.left_out, pooled.dof, pooled.configs) == (0, 4, 1)
    assert pooled.sd == pytest.approx(math.sqrt((0.02 + 0.8 * d * d) / 4), rel=1e-12)


def test_a_seed_just_past_the_outlier_threshold_is_left_out():
    """The next decimal, d = 0.51892 (z = 3.50007 > 3.5): left out, -m, 0, 0, m pool on 3 dof
    with sd sqrt(2 m^2 / 3)."""
    m, d = 0.1, 0.51892
    pooled = seeds.pooled_sd([np.array([-m, 0.0, 0.0, m, d])])
    assert (pooled.left_out, pooled.dof, pooled.configs) == (1, 3, 1)
    assert pooled.sd == pytest.approx(math.sqrt(2 * m * m / 3), rel=1e-12)


# -------------------------------------------------------------------------------- Ladder


def test_a_ladder_whose_picks_do_not_pair_with_its_groups_is_refused():
    """Two sizes but a pick for one: the second size would silently have no point."""
    rows = runs([("1", [("0.1", ["1.0", "2.0"])]), ("2", [("0.1", ["3.0", "4.0"])])])
    lad = ladder_of(rows)
    assert lad.picked == [[0], [0]]
    with pytest.raises(ValueError, match="zip"):
        seeds.Ladder(lad.groups, lad.picked[:1], lad.repick)
    with pytest.raises(ValueError, match="zip"):
        seeds.Ladder(lad.groups[:1], lad.picked, lad.repick)


def test_a_one_seed_point_keeps_its_value_to_the_last_bit():
    """A one-seed point's mean is the measured value itself, not exp(log v).

    3.9 is a value for which exp(log(3.9)) is 3.8999999999999995 in float64 (checked
    below), so only the one-seed shortcut gives back 3.9 exactly. The two-seed point beside
    it is the geometric mean sqrt(2 x 8) = 4."""
    assert math.exp(math.log(3.9)) != 3.9  # the rounding the shortcut avoids
    rows = runs([("1", [("0.1", ["3.9"])]), ("2", [("0.1", ["2.0", "8.0"])])])
    lad = ladder_of(rows)
    out = lad.mean(np.array([3.9, 2.0, 8.0]))
    assert out[0] == 3.9
    assert out[1] == pytest.approx(4.0, rel=1e-15)


def test_point_of_row_of_a_ladder_without_rows_is_an_empty_integer_index():
    """No rows: no points, and the owner of each row is an empty *integer* array, which can
    index a column (an empty float array cannot)."""
    lad = seeds.ladder([], [X, D, "lr", "seed", "val_loss"], X, D)
    owner = lad.point_of_row()
    assert owner.shape == (0,)
    assert owner.dtype.kind == "i"
    assert np.arange(3.0)[owner].shape == (0,)


def test_point_of_row_is_an_integer_index_per_fitted_row():
    """Rows 0, 1 (seeds of size 1) then 2 (size 2): points 0, 0, 1, as integers."""
    lad = ladder_of(runs([("1", [("0.1", ["1.0", "2.0"])]), ("2", [("0.1", ["3.0"])])]))
    owner = lad.point_of_row()
    assert owner.tolist() == [0, 0, 1]
    assert owner.dtype.kind == "i"
