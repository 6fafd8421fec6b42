"""flops_per_token: ln(f(N) / 6N) measured on the runs, the text approach 3's method
carries, and the budgets its slopes are fitted over; every number by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.flops_per_token import (
    CLOSED_FORM_TEXT,
    EXACT_TOL,
    LAW_POINTS,
    FlopsPerToken,
    law_budgets,
    method_text,
)


def test_ratios_are_averaged_per_size_sorted_and_bad_rows_dropped() -> None:
    n = np.array([200.0, 100.0, 100.0, 300.0, -1.0, np.nan, 400.0])
    per_token = np.array([1320.0, 720.0, 660.0, 1800.0, 5.0, 60.0, np.inf])
    flops = np.array([1e9, 2e9, 3e9, 5e9, 1e12, 1e12, 7e13])
    fpt = FlopsPerToken.from_runs(n, per_token, flops)
    assert fpt is not None
    assert np.exp(fpt.log_n).tolist() == pytest.approx([100.0, 200.0, 300.0])
    # N = 100: 720 / 600 and 660 / 600 -> mean of ln 1.2 and ln 1.1; N = 200: 1.1; N = 300: 1
    assert fpt.log_ratio.tolist() == pytest.approx(
        [(math.log(1.2) + math.log(1.1)) / 2, math.log(1.1), 0.0])
    assert fpt.c_range == (1e9, 5e9)  # the dropped rows' C are not the runs'


def test_six_n_within_the_tolerance_is_the_closed_form_and_past_it_is_not() -> None:
    n = np.array([1e6, 2e6, 4e6])
    flops = np.array([1e15, 1e16, 1e17])
    assert FlopsPerToken.from_runs(n, 6.0 * n, flops) is None
    assert FlopsPerToken.from_runs(np.array([-1.0]), np.array([6.0]), flops[:1]) is None
    # |ln ratio| past EXACT_TOL at one size: measured, not the closed form
    past = FlopsPerToken.from_runs(n, 6.0 * n * np.exp([2 * EXACT_TOL, 0.0, 0.0]), flops)
    assert past is not None and past.log_ratio[0] == pytest.approx(2 * EXACT_TOL)
    below = FlopsPerToken.from_runs(n, 6.0 * n * np.exp([0.5 * EXACT_TOL, 0.0, 0.0]), flops)
    assert below is None
    negative = FlopsPerToken.from_runs(n, 6.0 * n * np.exp([0.0, -1e-3, 0.0]), flops)
    assert negative is not None  # a ratio below 1 counts too (|ln|)


def test_log_ratio_at_is_linear_in_ln_n_between_runs_and_held_beyond() -> None:
    fpt = FlopsPerToken(np.log([100.0, 400.0]), np.array([0.2, 0.0]), (1e9, 1e10))
    got = fpt.log_ratio_at(np.log([50.0, 100.0, 200.0, 400.0, 800.0]))
    assert got.tolist() == pytest.approx([0.2, 0.2, 0.1, 0.0, 0.0])


def test_the_method_text_names_the_end_ratios_and_the_c_range() -> None:
    fpt = FlopsPerToken(np.log([1e5, 1e6, 1e7]), np.log([1.3, 1.2, 1.05]), (2e15, 3e18))
    assert method_text(fpt) == (
        "N_opt(C) minimises L(N, C / flops_per_token(N)) on the compute column's C, "
        "flops_per_token / 6N going from 1.3 at the smallest N to 1.05 at the largest "
        "(linear in ln N between the runs, held beyond); a and b are the least-squares "
        "slopes of ln N_opt, ln D_opt on ln C over 9 budgets from 2e+15 to 3e+18 (the "
        "runs' C)")
    assert method_text(None) == CLOSED_FORM_TEXT
    assert CLOSED_FORM_TEXT.startswith("N_opt(C) = G (C/6)^a (Hoffmann et al. 2022, Eq. 4)")


def test_law_budgets_span_the_runs_c_or_a_decade_either_side_of_one_c() -> None:
    def budgets(lo: float, hi: float) -> np.ndarray:
        return law_budgets(FlopsPerToken(np.zeros(1), np.zeros(1), (lo, hi)))

    assert LAW_POINTS == 9
    assert budgets(1e15, 1e19).tolist() == pytest.approx([10 ** (15 + k / 2) for k in range(9)])
    # one C (or within 10% of one): a decade either side of their geometric mean
    assert budgets(1e18, 1e18).tolist() == pytest.approx(np.geomspace(1e17, 1e19, 9).tolist())
    mid = math.sqrt(1e18 * 1.09e18)
    assert budgets(1e18, 1.09e18)[[0, -1]].tolist() == pytest.approx([mid / 10, mid * 10])
    # 10% apart is a span already
    assert budgets(1e18, 1.1 * 1e18)[[0, -1]].tolist() == pytest.approx([1e18, 1.1e18])
    # tiny C (below 1, where 1.1 * lo and 1.1 / lo part ways): still a decade either side
    assert budgets(0.5, 0.5)[[0, -1]].tolist() == pytest.approx([0.05, 5.0])


def test_sizes_below_one_are_sizes_in_other_units_and_kept() -> None:
    # N in billions (published tables): 0.5 is a size like any other, 0 and below are not
    fpt = FlopsPerToken.from_runs(np.array([0.0, 0.5, 2.0]), np.array([6.0, 3.6, 12.0]),
                                  np.array([1e15, 1e16, 1e17]))
    assert fpt is not None
    assert np.exp(fpt.log_n).tolist() == pytest.approx([0.5, 2.0])
    assert fpt.log_ratio.tolist() == pytest.approx([math.log(1.2), 0.0])


def test_flops_per_token_below_one_is_kept_when_n_is_in_other_units() -> None:
    fpt = FlopsPerToken.from_runs(np.array([0.1, 0.2]), np.array([0.72, 1.2]),
                                  np.array([1.0, 2.0]))
    assert fpt is not None and fpt.log_ratio.tolist() == pytest.approx([math.log(1.2), 0.0])
