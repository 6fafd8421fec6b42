"""Two small counts that reach the user, worked out by hand: the diagnostics' header line and
R^2 where log y does not vary (survivors of the --seed 3 mutation sample)."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
from rich.console import Console

from scalecli.fit.analysis import goodness
from scalecli.fit.summary import print_diagnostics


def test_the_diagnostics_header_counts_warnings_and_notes_apart() -> None:
    out = io.StringIO()
    findings = [{"severity": s, "code": c, "message": "m"}
                for s, c in (("info", "a"), ("warning", "b"), ("info", "c"))]
    print_diagnostics(Console(file=out, width=200, color_system=None), findings)
    assert out.getvalue().splitlines()[0] == "diagnostics: 1 warning(s), 2 note(s)"


def test_r2_is_nan_when_log_y_does_not_vary() -> None:
    y = np.full(4, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 on the way: the constant case is caught first
        r2, rmse = goodness(y, np.array([3.0, 3.0, 3.0, 3.3]))
    assert math.isnan(r2)
    assert rmse == pytest.approx(np.log(1.1) / 2, rel=1e-12)
    r2, _ = goodness(np.array([1.0, np.e]), np.array([1.0, np.e**0.5]))
    assert r2 == pytest.approx(1.0 - 0.25 / 0.5, rel=1e-12)  # 0.5^2 over 2 x 0.5^2
