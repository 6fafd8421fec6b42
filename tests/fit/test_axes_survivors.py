"""forms.base: a law's curve from parameter values, on x as JSON gives it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scalecli.fit.forms import registry


@pytest.mark.parametrize(("name", "params", "want"), [
    # a x^b with a = 2, b = -1/2: 4 -> 1, 1e20 -> 2e-10
    ("power", {"a": 2.0, "b": -0.5}, [1.0, 2e-10]),
    # E + A x^-alpha with E = 1, A = 2, alpha = 1/2: 4 -> 2, 1e20 -> 1 + 2e-10
    ("saturating", {"E": 1.0, "A": 2.0, "alpha": 0.5}, [2.0, 1.0 + 2e-10]),
])
def test_curve_reads_x_as_floats_whatever_json_holds(name, params, want) -> None:
    # JSON has no float type of its own for whole numbers: a FLOP count of 1e20 written out
    # is a Python int beyond int64, and a missing value is null. The curve is evaluated on
    # floats, so they give numbers and NaN, not an object array or a TypeError.
    x = json.loads("[4, 100000000000000000000, null]")
    y = registry.get(name).curve(params, x)
    assert y.dtype == np.float64
    assert y[:2].tolist() == pytest.approx(want, rel=1e-12)
    assert math.isnan(y[2])
