"""Finite numbers: the one place that decides what counts as a usable float.

results.csv cells are text (blank for "not measured"), fits produce numpy scalars and
NaN for "no answer", and fit.json must be strict JSON (no NaN, no inf). Every stage
turns such values into a plain float or into "missing" through these two functions, so
that a blank cell, "nan", "inf", None and a numpy NaN are all treated alike.
"""

from __future__ import annotations

import math


def finite(value: object) -> float | None:
    """A plain finite float, or None for None, a blank or non-numeric cell, NaN or inf.

    Accepts Python and numpy numbers and text (a results.csv cell); for strict JSON and
    for "is this measured" tests alike.
    """
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def finite_or_nan(value: object) -> float:
    """`finite(value)`, with NaN for missing: for arrays and arithmetic that skip NaN."""
    number = finite(value)
    return math.nan if number is None else number
