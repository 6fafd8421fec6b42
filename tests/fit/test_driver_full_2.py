"""One law form's entry in fit.json, by the numbers each of `scalecli fit`'s arguments moves:
with seeds, b's interval and the holdout check's prediction band are the seed noise of the
y the user chose; along --x flops the power law is fitted on the compute frontier of the
CSV's nominal budgets (and says so, once); the chinchilla optimum is solved on the CSV's own
FLOPs per token; `d` is written only for a form that reads D."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit import axes
from scalecli.fit.analysis import SEED_LEVEL_METHOD
from scalecli.fit.driver import compute_fit

Z975 = 1.959963984540054  # the standard normal's 97.5% point


def write(folder: Path, table: list[dict[str, str]], name: str = "results.csv") -> Path:
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return path


# ------------------------------------------------------------ the y the user chose

S_LOSS, S_BPB = 0.04, 0.01  # each run's log y is its size's law +- this


def two_ys(sizes: tuple[float, ...]) -> list[dict[str, str]]:
    """2 seeds per size, val_loss = 3 (N/1e6)^-0.05 e^(+-S_LOSS) and val_bpb =
    1.2 (N/1e6)^-0.05 e^(+-S_BPB): each size's mean of log y is on the law, in both."""
    table = []
    for n in sizes:
        law = (n / 1e6) ** -0.05
        for seed, sign in ((0, 1), (1, -1)):
            table.append({"params_non_embedding": repr(n), "seed": str(seed), "status": "ok",
                          "val_loss": repr(3.0 * law * math.exp(sign * S_LOSS)),
                          "val_bpb": repr(1.2 * law * math.exp(sign * S_BPB))})
    return table


def ci_text(b_low: float, b_high: float) -> str:
    """ten_x_text's interval: 10x buys 10^b - 1, both ends lower."""
    lo, hi = sorted(100.0 * (1.0 - 10.0**b) for b in (b_low, b_high))
    return f" (95% CI {lo:.1f}-{hi:.1f}%)"


@pytest.mark.parametrize(("y", "name", "s"), [("val_loss", "loss", S_LOSS),
                                              ("val_bpb", "bits per byte", S_BPB)])
def test_b_interval_is_the_seed_noise_of_the_y_asked(tmp_path: Path, y: str, name: str,
                                                     s: float):
    # 3 sizes a decade apart, means on the law: the residuals give b no width, all of it is
    # the seed level of *this* y. Each size's draw is +-sqrt(2) s with probability 1/4 each
    # (2 seeds resampled as residuals inflated by sqrt(2)), else 0; b moves by (draw at 1e8
    # - draw at 1e6) / (2 ln 10), whose extremes +-sqrt(2) s / ln 10 have probability 1/16
    # each, more than 2.5%: the 95% interval is -0.05 -+ sqrt(2) s / ln 10.
    path = write(tmp_path, two_ys((1e6, 1e7, 1e8)))
    fit = compute_fit(path, y=y, bootstrap=200, seed=0, holdout=0)["fits"]["power"]
    b = fit["params"]["b"]
    half = math.sqrt(2) * s / math.log(10)
    assert b["value"] == pytest.approx(-0.05, rel=1e-9)
    assert b["ci_low"] == pytest.approx(-0.05 - half, rel=1e-9)
    assert b["ci_high"] == pytest.approx(-0.05 + half, rel=1e-9)
    # the sentence names the x and y asked, with that interval
    assert fit["derived"]["ten_x_text"] == (
        f"10x params -> {100 * (1 - 10**-0.05):.1f}% lower {name}"
        + ci_text(-0.05 - half, -0.05 + half))
    assert (fit["x"], fit["y"], fit["d"]) == ("params_non_embedding", y, None)
    # --holdout 0 is honoured, not the default of 1
    assert fit["extrapolation"] is None
    assert fit["extrapolation_note"] == "extrapolation check off (--holdout 0)"


@pytest.mark.parametrize(("y", "s"), [("val_loss", S_LOSS), ("val_bpb", S_BPB)])
def test_the_holdout_band_draws_one_runs_seed_noise_of_the_y_asked(tmp_path: Path, y: str,
                                                                   s: float):
    # Without the largest of 4 sizes the refit passes through 3 means on the law, so its
    # bootstrap has no width: the band is the prediction times exp(N(0, sd)), sd the pooled
    # seed sd of log y = sqrt(2) s (two values s apart from their mean, 1 dof). Its 2.5 and
    # 97.5% points over 200 draws sit at -+1.96 sd, up to ~10% sampling error.
    path = write(tmp_path, two_ys((1e6, 1e7, 1e8, 1e9)))
    check = compute_fit(path, y=y, bootstrap=200, seed=0, holdout=1)[
        "fits"]["power"]["extrapolation"]
    assert check["held_out"] == 1 and check["x"] == [1e9]
    (predicted,), (low,), (high,) = check["predicted"], check["low"], check["high"]
    assert predicted == pytest.approx(check["observed"][0], rel=1e-9)
    sd = math.sqrt(2) * s
    assert math.log(high / predicted) == pytest.approx(Z975 * sd, rel=0.25)
    assert math.log(predicted / low) == pytest.approx(Z975 * sd, rel=0.25)


# ------------------------------------------------------------ along --x flops

S_FRONTIER = 0.04
BUDGETS = (1e15, 1e16, 1e17)
RATIO = math.sqrt(0.9 * 1.1)  # a budget's C is the geometric mean of its runs' flops


def frontier_rows(budgets: tuple[float, ...] = BUDGETS) -> list[dict[str, str]]:
    """Per nominal budget B two sizes, 2 seeds each (log y +-S_FRONTIER): the better at
    flops 1.1 B with ppl 30 (C / 1e15)^-0.05 at C = RATIO B, the worse at 0.9 B with 2% more
    perplexity (still below the smaller budget's best, so a frontier by C alone, whose
    runs are 22% apart, would keep it)."""
    table = []
    for k, budget in enumerate(budgets):
        best = 30.0 * (RATIO * budget / 1e15) ** -0.05
        for flops, ppl, n in ((1.1 * budget, best, 2e6 * 10**k),
                              (0.9 * budget, 1.02 * best, 1e6 * 10**k)):
            for seed, sign in ((0, 1), (1, -1)):
                y = ppl * math.exp(sign * S_FRONTIER)
                table.append({"params_non_embedding": repr(n), "flops": repr(flops),
                              "budget_flops": repr(budget), "seed": str(seed),
                              "val_loss": repr(math.log(y)), "val_ppl": repr(y),
                              "status": "ok"})
    return table


def test_the_power_law_along_flops_is_fitted_on_the_frontier_of_the_nominal_budgets(
        tmp_path: Path):
    path = write(tmp_path, frontier_rows())
    fit = compute_fit(path, x="flops", bootstrap=200, seed=0, holdout=0)["fits"]["power"]
    # one point per nominal budget, its best size, at the budget's C: exactly on the law
    assert fit["n_points"] == 3
    a, b = fit["params"]["a"], fit["params"]["b"]
    assert a["value"] == pytest.approx(30.0 * 1e15**0.05, rel=1e-9)
    assert b["value"] == pytest.approx(-0.05, rel=1e-9)
    # the seed level of the 3 kept points (budgets a decade apart): -0.05 -+ sqrt(2) s / ln 10
    half = math.sqrt(2) * S_FRONTIER / math.log(10)
    assert b["ci_low"] == pytest.approx(-0.05 - half, rel=1e-9)
    assert b["ci_high"] == pytest.approx(-0.05 + half, rel=1e-9)
    # the frontier's note once, after the method; along N no such note
    along_n = compute_fit(path, bootstrap=200, seed=0, holdout=0)["fits"]["power"]
    assert along_n["n_points"] == 6
    assert along_n["method"] == "OLS on log y vs log x" + SEED_LEVEL_METHOD
    assert fit["method"] == along_n["method"] + axes.FRONTIER_METHOD


def test_a_frontier_too_short_for_the_form_says_which_form_needs_more(tmp_path: Path):
    path = write(tmp_path, frontier_rows(BUDGETS[:2]))
    with pytest.raises(ScaleError) as error:
        compute_fit(path, x="flops", bootstrap=0, holdout=0)
    assert str(error.value) == (
        "the compute frontier of 'flops' has 2 of 4 points (2 FLOP budgets); the power form "
        "needs at least 3. Runs that trade N against D at each budget (an isoFLOP or token "
        "grid) widen it")


# ------------------------------------------------------------ the chinchilla optimum

THETA = (1.69, 406.4, 410.7, 0.34, 0.28)  # Hoffmann et al.'s E, A, B, alpha, beta
PER_TOKEN = 9.0  # flops per token / N: 1.5 times the 6 of C = 6 N D


def test_the_chinchilla_optimum_is_solved_on_the_csvs_own_flops_per_token(tmp_path: Path):
    e, a_, b_, alpha, beta = THETA
    table = []
    for n in np.geomspace(1e7, 1e8, 4):
        for d in np.geomspace(2e8, 2e9, 4):
            table.append({"params": repr(float(n)), "tokens": repr(float(d)),
                          "flops": repr(float(PER_TOKEN * n * d)),
                          "val_loss": repr(float(e + a_ / n**alpha + b_ / d**beta)),
                          "status": "ok"})
    c = 1e17
    fit = compute_fit(write(tmp_path, table), form="chinchilla", predict_flops=[c],
                      bootstrap=0, holdout=0)["fits"]["chinchilla"]
    assert (fit["form"], fit["x"], fit["d"]) == ("chinchilla", "params", "tokens")
    # L(N, C / (9 N)) is Hoffmann et al.'s L(N, C' / 6N) at C' = 6 C / 9, so their Eq. 4
    # holds there: N_opt = G (C / 9)^(beta / (alpha + beta)), G = (alpha A / beta B)^(1 /
    # (alpha + beta)); with C = 6 N D it would be 1.5^0.45 = 1.2 times larger
    g = (alpha * a_ / (beta * b_)) ** (1.0 / (alpha + beta))
    n_opt = g * (c / PER_TOKEN) ** (beta / (alpha + beta))
    (optimal,) = fit["derived"]["optimal"]
    assert optimal["C"] == c
    assert optimal["N_opt"] == pytest.approx(n_opt, rel=1e-3)
    assert optimal["D_opt"] == pytest.approx(c / (PER_TOKEN * n_opt), rel=1e-3)
    assert ("flops_per_token / 6N going from 1.5 at the smallest N to 1.5 at the largest"
            in fit["method"])


def test_a_power_fit_along_n_reads_no_flops_per_token(tmp_path: Path):
    # FLOPs per token (flops / tokens) is for the compute forms' optimum: the power law in N
    # reads neither column, so a run whose tokens cell is 0 (not recorded) costs nothing,
    # not even numpy's "divide by zero" line on stderr
    table = [{"params_non_embedding": repr(n), "tokens": tokens, "flops": repr(6e9 * n),
              "val_ppl": repr(30.0 * (n / 1e6) ** -0.05), "status": "ok"}
             for n, tokens in ((1e6, "0"), (1e7, "1e9"), (1e8, "1e9"))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = compute_fit(write(tmp_path, table), bootstrap=20, holdout=0)["fits"]["power"]
    assert fit["params"]["b"]["value"] == pytest.approx(-0.05, rel=1e-9)
