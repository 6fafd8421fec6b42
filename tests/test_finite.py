"""scalecli/finite.py: one rule for what a usable number is, across every stage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.finite import finite, finite_or_nan


@pytest.mark.parametrize("value, expected", [
    (1.5, 1.5), (3, 3.0), ("2.5e-3", 2.5e-3), (np.float64(4.0), 4.0), (np.int64(7), 7.0),
    (None, None), ("", None), ("abc", None), ("nan", None), (math.nan, None),
    (math.inf, None), (-math.inf, None), (np.float32("nan"), None), ("inf", None),
])
def test_finite_takes_numbers_and_cells_and_drops_the_rest(value, expected) -> None:
    got = finite(value)
    assert got == expected
    assert got is None or type(got) is float  # plain floats only: json.dumps and CSV agree


def test_finite_or_nan_marks_missing_as_nan() -> None:
    assert finite_or_nan("0.25") == 0.25
    assert math.isnan(finite_or_nan(""))
    assert math.isnan(finite_or_nan(math.inf))
