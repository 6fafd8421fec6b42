"""A size none of whose lrs has a val_loss, with unequal seed counts: the pick keeps its
first lr, and says nothing on stderr (inf - inf is no RuntimeWarning for a user to read)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from scalecli.fit import seeds


def test_a_size_whose_lrs_have_no_loss_and_unequal_seeds_keeps_its_first_lr_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert seeds.best_config([[math.inf, math.inf], [math.inf]], sd=0.05) == 0
        means = np.array([[math.inf, math.inf, 3.0], [math.inf, math.inf, math.inf]])
        # the second row: nothing is measured, the first configuration stays
        assert seeds.pick(means, np.array([2, 1, 3]), 0.05).tolist() == [2, 0]
