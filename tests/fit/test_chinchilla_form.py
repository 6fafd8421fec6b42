"""The chinchilla form's derived numbers on Hoffmann et al.'s (2022) published law, by the
closed form (Eq. 4): a_opt = beta / (alpha + beta), G = (alpha A / (beta B))^(1/(alpha+beta)),
N_opt = G (C/6)^a_opt, D_opt = C / 6 N_opt; with flops per token r 6N everywhere, C/r in C's
place. Bootstrap draws of the same theta must give the point's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import registry
from scalecli.fit.laws import FitResult

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
THETA = np.array([E, A, B, ALPHA, BETA])
A_OPT = BETA / (ALPHA + BETA)
G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
FORM = registry.get("chinchilla")
POINT = FitResult("chinchilla", THETA, True, "")


def n_opt(c: float, r: float = 1.0) -> float:
    return G * (c / (6 * r)) ** A_OPT


def loss(n: float, d: float) -> float:
    return E + A / n ** ALPHA + B / d ** BETA


def draws(k: int = 12) -> np.ndarray:
    return np.tile(THETA, (k, 1))


def test_derived_is_the_closed_form_at_each_budget() -> None:
    derived = FORM.derived(POINT, draws(), np.array([1e21, 1e23]), 1e22)
    assert derived["a_opt"] == pytest.approx(A_OPT) and derived["b_opt"] == pytest.approx(
        1 - A_OPT)
    assert derived["G"] == pytest.approx(G)
    for row, c in zip(derived["optimal"], (1e21, 1e23), strict=True):
        assert row["C"] == c
        assert row["N_opt"] == pytest.approx(n_opt(c), rel=1e-9)
        assert row["D_opt"] == pytest.approx(c / 6 / n_opt(c), rel=1e-9)
    ratio = derived["tokens_per_param"]
    assert ratio["flops"] == 1e22
    assert ratio["value"] == pytest.approx(1e22 / 6 / n_opt(1e22) ** 2, rel=1e-9)
    # identical draws: an interval of zero width at the point's value
    assert ratio["ci_low"] == pytest.approx(ratio["value"]) and ratio["se"] == pytest.approx(0)
    a = derived["intervals"]["a_opt"]
    assert a["value"] == pytest.approx(A_OPT) and a["ci_high"] == pytest.approx(A_OPT)
    rows = derived["compute_optimal"]
    assert [r["flops"] for r in rows] == [1e21, 1e23]
    n = n_opt(1e23)
    assert rows[1]["n_opt"]["value"] == pytest.approx(n, rel=1e-9)
    assert rows[1]["loss"]["value"] == pytest.approx(loss(n, 1e23 / 6 / n), rel=1e-9)
    assert rows[1]["loss"]["ci_low"] == pytest.approx(loss(n, 1e23 / 6 / n), rel=1e-9)


def test_without_a_reference_or_budgets_there_is_no_ratio_and_no_rows() -> None:
    derived = FORM.derived(POINT, draws(), None, None)
    assert derived["optimal"] == [] and derived["compute_optimal"] == []
    assert "tokens_per_param" not in derived


def test_flops_per_token_moves_the_optimum_as_c_over_r() -> None:
    r = 1.25
    fpt = FlopsPerToken(np.log([1e6, 1e12]), np.full(2, math.log(r)), (1e18, 1e20))
    derived = FORM.derived(POINT, draws(), np.array([1e21]), 1e21, fpt)
    n = n_opt(1e21, r)
    assert derived["optimal"][0]["N_opt"] == pytest.approx(n, rel=1e-3)
    assert derived["optimal"][0]["D_opt"] == pytest.approx(1e21 / (6 * r * n), rel=1e-3)
    assert derived["tokens_per_param"]["value"] == pytest.approx(1e21 / (6 * r * n * n),
                                                                 rel=2e-3)
    assert derived["compute_optimal"][0]["n_opt"]["ci_low"] == pytest.approx(n, rel=1e-3)
    # a constant r shifts ln N_opt by -a ln r at every C: the slopes stay a and 1 - a
    assert derived["a_opt"] == pytest.approx(A_OPT, abs=1e-3)


@pytest.mark.parametrize("r", [1.0, 1.25])
def test_predictions_are_l_opt_at_each_budget_for_the_point_and_each_draw(r: float) -> None:
    fpt = None if r == 1.0 else FlopsPerToken(np.log([1e6, 1e12]), np.full(2, math.log(r)),
                                              (1e18, 1e20))
    budgets = np.array([1e21, 1e22])
    value, samples = FORM.predictions(POINT, draws(3), budgets, fpt)
    by_hand = [loss(n_opt(c, r), c / (6 * r * n_opt(c, r))) for c in budgets]
    assert value.tolist() == pytest.approx(by_hand, rel=1e-6)
    assert samples.shape == (3, 2)
    assert samples.ravel().tolist() == pytest.approx(by_hand * 3, rel=1e-6)


def test_flops_per_token_that_falls_with_n_steepens_a_opt() -> None:
    # f / 6N = k N^s (s = ln(1/1.3) / ln(1e6), linear in ln N over every N_opt here): then
    # C = 6k N^(1+s) D, and alpha A N^-alpha = (1+s) beta B D^-beta gives
    # N_opt ~ C^(beta / (alpha + beta (1+s)))
    s = math.log(1.0 / 1.3) / math.log(1e6)
    fpt = FlopsPerToken(np.log([1e6, 1e12]), np.log([1.3, 1.0]), (1e18, 1e22))
    derived = FORM.derived(POINT, draws(), np.array([1e21]), 1e21, fpt)
    a = BETA / (ALPHA + BETA * (1 + s))  # 0.4555, against 0.4516 at s = 0
    assert derived["a_opt"] == pytest.approx(a, rel=1e-4)
    assert derived["intervals"]["a_opt"]["value"] == pytest.approx(a, rel=1e-4)
    assert derived["intervals"]["a_opt"]["ci_low"] == pytest.approx(a, rel=1e-4)
