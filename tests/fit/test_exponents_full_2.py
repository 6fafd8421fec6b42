"""fit.json's `exponents` whole, by hand, for CSVs that lack a column the power slopes need
(no tokens: no N, D or C row; no val_ppl: none either, while chinchilla's -alpha and -beta
stay), for a y below 1 (bits per byte: every positive value is a point), and for a
parametric block that has beta but not alpha.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import exponents as ex
from tests.fit.test_exponents_full_1 import NO_FLOPS_BUDGETS, slope_fit
from tests.fit.test_exponents_units import OneRowPerPoint


def table(rows: list[dict[str, str]], y_col: str, fits: dict) -> list[dict]:
    header = list(rows[0])
    return ex.exponents(rows, header, OneRowPerPoint(), "params", y_col, "tokens", None,
                        slope_fit, fits)


# Hoffmann 2022's alpha 0.34 and beta 0.28, with hand-set intervals
CHINCHILLA = {"converged": True, "x": "params", "d": "tokens", "y": "val_loss",
              "n_points": 12, "r2_log": 0.999, "params": {
                  "E": {"value": 1.69, "se": 0.05, "ci_low": 1.6, "ci_high": 1.8},
                  "alpha": {"value": 0.34, "se": 0.02, "ci_low": 0.31, "ci_high": 0.38},
                  "beta": {"value": 0.28, "se": 0.03, "ci_low": 0.22, "ci_high": 0.33}}}

MINUS_ALPHA = {"scale": "N", "x": "params", "y": "val_loss",
               "at": "parametric (-alpha), every run", "kind": "reducible-loss exponent",
               "quantity": "-alpha of A / N^alpha in L - E = A / N^alpha + B / D^beta",
               "exponent": {"value": -0.34, "se": 0.02, "ci_low": -0.38, "ci_high": -0.31},
               "n_points": 12, "r2_log": 0.999}
MINUS_BETA = {"scale": "D", "x": "tokens", "y": "val_loss",
              "at": "parametric (-beta), every run", "kind": "reducible-loss exponent",
              "quantity": "-beta of B / D^beta in L - E = A / N^alpha + B / D^beta",
              "exponent": {"value": -0.28, "se": 0.03, "ci_low": -0.33, "ci_high": -0.22},
              "n_points": 12, "r2_log": 0.999}


def test_a_csv_without_val_ppl_has_no_power_slope_but_chinchilla_alpha_and_beta() -> None:
    # 2 sizes on 2 token budgets, val_loss only: the power slopes are of val_ppl, which no
    # run has, so no N, D or C row (not rows of "at most 0" points); chinchilla was fitted
    # to val_loss, and its -alpha and -beta are the table's last rows.
    rows = [{"model": f"m{n:.0e}", "params": repr(n), "tokens": repr(t), "val_loss": "3.0"}
            for n in (1e7, 1e8) for t in (1e9, 4e9)]
    assert table(rows, "val_ppl", {"chinchilla": CHINCHILLA}) == [
        *NO_FLOPS_BUDGETS, MINUS_ALPHA, MINUS_BETA]


def test_a_csv_without_tokens_has_no_n_d_or_c_row() -> None:
    # The table a plain ladder CSV (params and val_ppl, no tokens column) gets from
    # `fit --form all`: without D there is no fixed-D or fixed-N design to speak of.
    rows = [{"model": f"m{k}", "params": repr(n), "val_ppl": repr(100.0 * (n / 1e6) ** -0.1)}
            for k, n in enumerate((1e6, 1e7, 1e8))]
    assert table(rows, "val_ppl", {}) == NO_FLOPS_BUDGETS


def slope_row(scale: str, x: str, at: str, **rest) -> dict:
    return {"scale": scale, "x": x, "y": "val_bpb", "at": at, "kind": "power slope",
            "quantity": f"b of val_bpb = k {x}^b (d ln val_bpb / d ln {x})", **rest}


def test_bits_per_byte_below_one_are_points_of_the_n_slope() -> None:
    # bpb = 1.2 (N / 1e7)^-0.1 on one token budget: 1.2, 0.953, 0.757, 0.601, three of
    # them below 1 (a GPT-2-sized model's bits per byte). All 4 are points: b = -0.1.
    rows = [{"model": f"m{n:.0e}", "params": repr(n), "tokens": "1e9",
             "val_bpb": repr(1.2 * (n / 1e7) ** -0.1)} for n in (1e7, 1e8, 1e9, 1e10)]
    assert table(rows, "val_bpb", {}) == [
        slope_row("N", "params", "tokens = 1e+09", exponent={
            "value": pytest.approx(-0.1, abs=1e-12), "se": 0.01,
            "ci_low": pytest.approx(-0.12, abs=1e-12),
            "ci_high": pytest.approx(-0.08, abs=1e-12)}, n_points=4, r2_log=1.0),
        slope_row("D", "tokens", "fixed N", exponent=None, reason=(
            "no size was trained on 3 token budgets (at most 1); for the D exponent, give "
            "budget.tokens a grid (schedule: wsd trains it as branches of one run per size)")),
        slope_row("C", "flops", "compute frontier", exponent=None,
                  reason="the CSV has no flops or flops_6nd column"),
        *NO_FLOPS_BUDGETS]
    assert np.sum(1.2 * (np.array([1e7, 1e8, 1e9, 1e10]) / 1e7) ** -0.1 < 1) == 3


def test_a_parametric_block_without_alpha_still_gives_minus_beta() -> None:
    no_alpha = {**CHINCHILLA, "params": {k: v for k, v in CHINCHILLA["params"].items()
                                         if k != "alpha"}}
    assert ex.parametric(no_alpha) == [MINUS_BETA]
    assert ex.parametric(CHINCHILLA) == [MINUS_ALPHA, MINUS_BETA]
