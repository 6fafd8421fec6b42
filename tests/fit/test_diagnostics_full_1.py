"""Diagnostics worked out by hand: the multi_epoch text at the edges of train_tokens, what
lr_edge counts as an unfinished run, curvature_p's exact-fit threshold and t-test, the bend
note's 5% level, and an isoFLOP budget's flat-slice curvature and standard error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import diagnostics as dg
from scalecli.fit.isoflop import parabola
from tests.fit.test_diagnostics import HEADER, evidence, ladder, row
from tests.fit.test_diagnostics_texts import lr_rows, one
from tests.fit.test_noise_review import isoflop_rows

INFO_WORTH = ("repeated tokens are worth nearly as much as fresh ones up to about 4 epochs "
              "(Muennighoff et al. 2023), so this is a note")
WARNING_WORTH = ("beyond about 4 epochs repeated tokens are worth much less than fresh ones "
                 "(Muennighoff et al. 2023), so these losses are higher than fresh data would "
                 "give at the same budget")
FOR_ONE_PASS = "Lower the budget or add training data for one pass."


# -------------------------------------------------------------------------- multi_epoch


def test_multi_epoch_text_word_for_word() -> None:
    # the ladder's budget is 2e6 tokens: 2e6 / 1.84e6 = 1.087 passes, a note
    assert one(dg.multi_epoch(evidence(ladder(), data_summary={"train_tokens": 1_840_000}))) \
        == ("multi_epoch", "info", "The budget of 2,000,000 tokens is 1.09 epochs of the "
            f"1,840,000 training tokens; {INFO_WORTH}. {FOR_ONE_PASS}")
    # one training token: 2e6 passes over it, a warning (not "unknown", as 0 tokens is)
    assert one(dg.multi_epoch(evidence(ladder(), data_summary={"train_tokens": 1}))) == (
        "multi_epoch", "warning", "The budget of 2,000,000 tokens is 2000000.00 epochs of "
        f"the 1 training tokens; {WARNING_WORTH}. {FOR_ONE_PASS}")


def test_epochs_message_at_zero_and_one_training_tokens() -> None:
    # 0 training tokens is no data.json count at all: no number of epochs to give
    assert dg.epochs_message(1e6, 0) is None
    assert dg.epochs_message(3, 1) == dg.Diagnostic(
        "multi_epoch", "info", f"The budget of 3 tokens is 3.00 epochs of the 1 training "
        f"tokens; {INFO_WORTH}. {FOR_ONE_PASS}")
    assert dg.epochs_message(1, 1) is None  # exactly one pass


# ------------------------------------------------------------------- unfinished, lr_edge

LARGEST_OF_3 = ("The best learning rate is at the edge of the grid for: s1 at lr 0.01 (the "
                "largest of 3 tried). The optimum may lie outside it, so that loss is too high; "
                "extend the grid.")


def past_the_best(status: str, error: str = "", loss: bool = False) -> dg.Evidence:
    """s1 trained at lr 1e-3, 3e-3 and 1e-2 (best at 1e-2), and one more row at 3e-2 that
    only the rows before the status filter hold."""
    rows = [*lr_rows(), *ladder()[1:]]
    past = {**row("s1", 21.7e3, 9.0, lr=3e-2), "status": status, "error": error}
    if not loss:
        past.update(val_loss="", val_ppl="")
    return dg.Evidence(rows=rows, header=[*HEADER, "error"], x_col="params_non_embedding",
                       y_col="val_ppl", fits={}, predict=None, data_summary=None,
                       tried=[*rows, past])


def test_a_row_without_a_loss_that_did_not_fail_is_not_an_unfinished_run() -> None:
    # A blank status is ok (a CSV written by hand has none); ok or blank, a row with no loss
    # measured nothing and says nothing about the lrs past the best: 3 lrs were tried.
    assert one(dg.lr_edge(past_the_best(""))) == ("lr_edge", "warning", LARGEST_OF_3)
    assert one(dg.lr_edge(past_the_best("ok"))) == ("lr_edge", "warning", LARGEST_OF_3)
    ev = past_the_best("")
    (s1,) = [s for s in dg.all_sizes(ev) if s.label == "s1"]
    assert dg.unfinished(ev, s1) == {}
    assert dg.unfinished(past_the_best("ok"), s1) == {}
    assert dg.unfinished(past_the_best("failed"), s1) == {3e-2: "failed"}


def test_an_unfinished_runs_error_is_cut_at_80_characters() -> None:
    error = ("CUDA out of memory. Tried to allocate 2.00 GiB; 79.15 GiB total capacity; 77.91 "
             "GiB already allocated")
    cut = "CUDA out of memory. Tried to allocate 2.00 GiB; 79.15 GiB total capacity; 77.91 "
    assert len(cut) == 80 and error.startswith(cut)
    assert one(dg.lr_edge(past_the_best("failed", error))) == (
        "lr_edge", "warning", "The best learning rate is at the edge of the grid for: s1 at "
        f"lr 0.01 (the largest that trained of 4 tried; past it 0.03 failed ({cut}), which "
        "measured nothing). The optimum may lie outside it, so that loss is too high; "
        "extend the grid.")


# -------------------------------------------------------------------------- curvature_p

# Five sizes one unit apart in ln N, centred: u = -2..2. R is orthogonal to 1, u and u^2,
# so log y = c0 - 0.1 u + c2 u^2 + e R has least squares (c0, -0.1, c2) and rss 10 e^2;
# (X'X)^-1[2, 2] = 5 / (5 * 34 - 10 * 10) = 1/14, so se = sqrt(10 e^2 / 2 / 14) and
# t = c2 / se. With 2 dof the t-test is closed-form: p = 1 - t / sqrt(t^2 + 2).
LX = np.arange(10.0, 15.0)
U = LX - 12.0
R = np.array([-1.0, 2.0, 0.0, -2.0, 1.0])


def p_by_hand(c2: float, e: float) -> float:
    t = c2 / math.sqrt(10 * e * e / 2 / 14)
    return 1 - t / math.sqrt(t * t + 2)


def test_curvature_p_calls_a_fit_exact_below_1e_24_of_sum_log_y_squared() -> None:
    # log y near 10: sum(log y^2) = 500.1, so an rss up to 5.0e-22 is an exact fit
    exact = 10.0 - 0.1 * U + 1e-11 * U**2 + 4e-12 * R  # rss 1.6e-22
    assert dg.curvature_p(LX, exact) == 0.0  # its curvature of 1e-11 > 1e-12 is certain
    assert p_by_hand(1e-11, 4e-12) == pytest.approx(1 - math.sqrt(17.5 / 19.5))  # not 0.0
    noisy = 10.0 - 0.1 * U + 1e-11 * U**2 + 1e-11 * R  # rss 1e-21: a t-test, t^2 = 2.8
    assert dg.curvature_p(LX, noisy) == pytest.approx(1 - math.sqrt(2.8 / 4.8), rel=1e-3)
    # sum(log y^2) = 0.41 < 1: the threshold stays at 1e-24, and an rss of 1.6e-24 is above
    small = 0.25 - 0.1 * U + 2e-12 * U**2 + 4e-13 * R  # t^2 = 70
    assert dg.curvature_p(LX, small) == pytest.approx(1 - math.sqrt(70 / 72), rel=1e-3)


def centred_fit(lx: np.ndarray, ly: np.ndarray) -> tuple[np.ndarray, float]:
    """The least squares that curvature_p makes (u = lx - mean, LAPACK's lstsq), only to pick
    inputs that land exactly on its boundaries: where they land is LAPACK's rounding."""
    u = lx - lx.mean()
    design = np.column_stack([np.ones_like(u), u, u**2])
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    return coef, float(np.sum((ly - design @ coef) ** 2))


def test_curvature_p_at_its_two_thresholds_exactly() -> None:
    # An rss of exactly 1e-24 (sum(log y^2) < 1) is still an exact fit: its curvature,
    # above 1e-12, is certain (p = 0.0), where the t-test would give t = c2 / 1.9e-13 ~ 10
    # and p ~ 0.01. e = sqrt(1e-25) makes rss = 10 e^2 = 1e-24 up to LAPACK's rounding;
    # keep the curvatures for which it is exactly that.
    e = math.sqrt(1e-25)
    at_rss = [ly for c2 in np.linspace(1.5e-12, 5e-12, 36)
              if centred_fit(LX, ly := c2 * U**2 + e * R)[1] == 1e-24]
    assert at_rss
    assert [dg.curvature_p(LX, ly) for ly in at_rss] == [0.0] * len(at_rss)
    # A curvature of exactly 1e-12 on an exact fit is none (p = 1.0), as below it.
    at_c2 = [(lx, ly) for n in range(4, 9) for step in (1.0, 0.5, 2.0, math.log(2), math.log(10))
             if centred_fit(lx := 10.0 + step * np.arange(n), ly := 1e-12 * (lx - lx.mean()) ** 2)
             [0][2] == 1e-12]
    assert at_c2
    assert [dg.curvature_p(lx, ly) for lx, ly in at_c2] == [1.0] * len(at_c2)


# -------------------------------------------------------------------------------- bends


def test_bends_skips_isoflop_budgets_and_budgets_without_points_not_the_rest() -> None:
    # The isoFLOP budget holds the smallest size (2e4), so it comes first; the budget at
    # 2e6 tokens bends: ln N = ln 1e5 + k ln 4, log ppl = 4 - 0.1 v + 0.02 v^2 + 0.004 R
    # (v = k - 2), so t = (0.02 / 0.004) sqrt(14 / 5), t^2 = 70, p = 1 - sqrt(70 / 72).
    bend = [row(f"L{k}", 1e5 * 4**k, 4.0 - 0.1 * (k - 2) + 0.02 * (k - 2) ** 2 + 0.004 * R[k])
            for k in range(5)]
    blank = [row("M0", 3e5, 4.0, tokens=8e6), {**row("M1", 6e5, 3.9, tokens=8e6), "val_ppl": ""}]
    ev = evidence([*isoflop_rows({1e12: 0.2}), *bend, *blank],
                  header=[*HEADER, "budget_flops"])
    assert round(1 - math.sqrt(70 / 72), 3) == 0.014
    assert dg.bends(ev, "val_ppl") == ["L0 at 2e+06 tokens to L4 at 2e+06 tokens bend in "
                                       "log-log space (quadratic term p = 0.014)"]


def test_a_bend_at_p_exactly_5_percent_is_not_noted(monkeypatch) -> None:
    monkeypatch.setattr(dg, "curvature_p", lambda lx, ly: dg.CURVE_ALPHA)
    assert dg.bends(evidence(ladder()), "val_ppl") == []
    monkeypatch.setattr(dg, "curvature_p", lambda lx, ly: 0.0499)
    assert dg.bends(evidence(ladder()), "val_ppl") == [
        "s1 to s5 bend in log-log space (quadratic term p = 0.050)"]


# ------------------------------------------------------------------------ isoFLOP slices


def test_a_flat_three_size_isoflop_budget_gives_its_curvature_and_standard_error() -> None:
    # Sizes i0, i2, i4 at u = -h, 0, h in ln N (h = ln(10) / 2), loss 4 + 0.01 u^2, two
    # seeds each (w = 2) with a seed sd of 0.02. Through three points the parabola is
    # exact: 2 c2 = 0.02. X'WX = 2 [[3, 0, 2h^2], [0, 2h^2, 0], [2h^2, 0, 2h^4]], whose
    # inverse's [2, 2] is 3 / (4 h^4): 2 se = 2 x 0.02 sqrt(3) / (2 h^2) = 0.0261, and
    # |c2| = 0.01 < 1.96 se = 0.0256.
    h = math.log(10) / 2
    assert round(0.02 * math.sqrt(3) / h**2, 4) == 0.0261
    rows = [r for r in isoflop_rows({1e12: 0.02}, sd=0.02) if r["model"] in ("i0", "i2", "i4")]
    assert one(dg.within_noise(evidence(rows, header=[*HEADER, "budget_flops"]))) == (
        "within_noise", "warning", "An isoFLOP budget's parabola is flat within the seed "
        "noise (1.96 standard errors; seed sd 0.02): C = 1e+12: curvature 0.02 nats per "
        "(ln N)^2 against a standard error of 0.0261 (3 sizes). Its N_opt is not measured: "
        "widen its sizes around the optimum or add seeds.")


def test_a_curvature_of_exactly_1_96_standard_errors_is_measured() -> None:
    # Flat means |c2| < 1.96 se, strictly. Take the seed sd at which 1.96 se equals |c2| to
    # the last bit (se = sd sqrt((X'WX)^-1[2, 2]), c2 the weighted parabola's, as above).
    rows = [r for r in isoflop_rows({1e12: 0.02}, sd=0.02) if r["model"] in ("i0", "i2", "i4")]
    sizes = dg.sizes_by_budget(evidence(rows, header=[*HEADER, "budget_flops"]))[
        (dg.FLOPS, 1e12)]
    log_n = np.log([s.x for s in sizes])
    u, w = log_n - log_n.mean(), np.full(3, 2.0)
    c2 = abs(parabola(u, np.array([s.loss for s in sizes]), w)[2])
    design = np.column_stack([np.ones_like(u), u, u * u])
    k = math.sqrt(np.linalg.inv(design.T @ (design * w[:, None]))[2, 2])
    sd = c2 / (1.96 * k)
    for _ in range(40):  # the neighbouring floats of sd, upwards, then from below
        if 1.96 * (sd * k) == c2:
            break
        sd = np.nextafter(sd, math.inf if 1.96 * (sd * k) < c2 else 0.0)
    assert 1.96 * (sd * k) == c2
    assert dg.flat_slice(sizes, sd) is None
    assert dg.flat_slice(sizes, sd * (1 + 1e-9)) == (
        "C = 1e+12: curvature 0.02 nats per (ln N)^2 against a standard error of 0.0102 "
        "(3 sizes)")
