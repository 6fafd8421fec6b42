"""The prediction fit stands behind: each 1-D form's 95% prediction interval past the
ladder, their equal-weight mixture, and the holdout check scored the same way."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis, ladder_forms, prediction
from scalecli.fit.forms.power import ten_x_text
from scalecli.fit.prediction import FormDraws

SIZES = np.geomspace(22e3, 793e3, 5)


def test_mixture_spans_forms_that_disagree_and_weighs_them_equally():
    rng = np.random.default_rng(0)
    low = FormDraws("power", np.array([3.6]), rng.normal(3.6, 0.02, (400, 1)))
    high = FormDraws("saturating", np.array([3.8]), rng.normal(3.8, 0.02, (100, 1)))
    y, lo, hi = prediction.mixture([low, high])
    # each form weighs one half whatever its number of draws: the median sits between them
    assert 3.62 < y[0] < 3.78
    assert lo[0] < 3.6 - 0.02 and hi[0] > 3.8 + 0.02
    assert prediction.disagree([low, high], 0)
    same = FormDraws("saturating", np.array([3.6]), rng.normal(3.6, 0.02, (400, 1)))
    assert not prediction.disagree([low, same], 0)
    _, lo1, hi1 = prediction.mixture([low, same])
    assert hi1[0] - lo1[0] == pytest.approx(4 * 1.96 * 0.02 / 2, rel=0.15)


def test_seed_noise_widens_the_interval_of_one_run():
    rng = np.random.default_rng(1)
    loss = 3.71 + 11.6 * SIZES**-0.3 + rng.normal(0, 0.01, SIZES.size)
    xs = np.array([6 * SIZES[-1]])
    bare = ladder_forms.form_draws(SIZES, loss, xs, 200, 0, 0.0)
    noisy = ladder_forms.form_draws(SIZES, loss, xs, 200, 0, 0.05)
    for b, n in zip(bare, noisy, strict=True):
        (blo, bhi), (nlo, nhi) = b.interval(), n.interval()
        assert nhi[0] - nlo[0] > 1.15 * (bhi[0] - blo[0])  # one run's noise on top


def _ladder(law: str, rng: np.random.Generator):
    """A five-size ladder like the default sweep's, about 4.3 -> 3.9 nats, and the truth."""
    alpha = rng.uniform(0.1, 0.35)
    if law == "power":
        def f(n):
            return 4.3 - 0.11 * np.log(n / SIZES[0])
    else:
        amp = 0.4 / (1 - (SIZES[-1] / SIZES[0]) ** -alpha)

        def f(n):
            return 4.3 - amp + amp * (n / SIZES[0]) ** -alpha
    return f


@pytest.mark.parametrize("law", ["saturating", "power"])
def test_combined_interval_covers_a_run_6x_past_the_ladder(law: str):
    """Synthetic ladders (seed noise 0.015 nats): the combined 95% interval holds a new run
    at 6x the largest size in most of them, where one form alone is biased on one law
    (power on a law that bends, saturating on a straight line); bench/prediction_coverage.py
    measures it on 200 ladders per law."""
    rng = np.random.default_rng(7)
    xs = np.array([6 * SIZES[-1]])
    hits, single, halves = 0, {"power": 0, "saturating": 0}, []
    reps = 16
    for r in range(reps):
        f = _ladder(law, rng)
        loss = f(SIZES) + rng.normal(0, 0.015, SIZES.size)
        observed = float(f(xs)[0] + rng.normal(0, 0.015))
        forms = ladder_forms.form_draws(SIZES, loss, xs, 150, r, 0.015)
        _, lo, hi = prediction.mixture(forms)
        hits += bool(lo[0] <= observed <= hi[0])
        halves.append((hi[0] - lo[0]) / 2 / observed)
        for d in forms:
            a, b = d.interval()
            single[d.form] += bool(a[0] <= observed <= b[0])
    assert hits >= reps - 2
    assert np.median(halves) < 0.05  # honest, but not needlessly wide
    # the form that is wrong for this law misses often: the reason to mix them
    wrong = "power" if law == "saturating" else "saturating"
    assert single[wrong] <= reps - 4 < hits


def test_holdout_check_scores_the_held_out_point_with_a_prediction_interval():
    rng = np.random.default_rng(3)
    y = (3.71 + 11.6 * SIZES**-0.3) * np.exp(rng.normal(0, 0.003, SIZES.size))
    out = analysis.analyse("saturating", SIZES, y, n_boot=100, holdout=1, noise_sd_log=0.004)
    check = out["extrapolation"]
    assert check["low"][0] < check["predicted"][0] < check["high"][0]
    assert check["inside"] == [check["low"][0] <= check["observed"][0] <= check["high"][0]]
    wider = analysis.analyse("saturating", SIZES, y, n_boot=100, holdout=1, noise_sd_log=0.05)
    assert (wider["extrapolation"]["high"][0] - wider["extrapolation"]["low"][0]
            > check["high"][0] - check["low"][0])


def test_ten_x_text_carries_the_interval_of_b():
    text = ten_x_text("params_non_embedding", "val_ppl", 10**-0.1, (-0.14, -0.066))
    assert text == "10x params -> 20.6% lower perplexity (95% CI 14.1-27.6%)"
    assert ten_x_text("params", "val_ppl", 10**-0.01, (-0.05, 0.02)).endswith(
        "(95% CI -10.9% to +4.7%)")


def test_a_ladder_that_bends_leaves_the_power_law_out_of_the_combined_prediction():
    """The combined prediction drops a form only for a reason the ladder itself gives: the
    power law's straight line (val_loss against ln N) when the points bend at p < 0.05.
    Then fit stands behind the saturating form alone, and says why."""
    bend = 3.0 + 9.0 * SIZES**-0.25  # strongly curved in ln N, no noise to hide it
    rejected = ladder_forms.rejected_forms(SIZES, bend)
    assert set(rejected) == {"power"} and "p = " in rejected["power"]
    line = 4.3 - 0.11 * np.log(SIZES / SIZES[0]) + np.array([0.004, -0.003, 0.002, -0.004, 0.003])
    assert ladder_forms.rejected_forms(SIZES, line) == {}

    xs = np.array([6 * SIZES[-1]])
    forms = ladder_forms.form_draws(SIZES, bend, xs, 200, 0, 0.01)
    block = ladder_forms.prediction_block(xs, ["s8"], ["validation"], forms, 0.01, rejected)
    combined = block["points"][0]["combined"]
    saturating = block["points"][0]["forms"]["saturating"]
    assert combined["forms"] == ["saturating"]
    assert "power left out" in combined["reason"]
    assert combined["low"] == pytest.approx(saturating["low"], rel=0.01)
    assert combined["high"] == pytest.approx(saturating["high"], rel=0.01)
    # without the rejection, the equal-weight mixture would reach the power law's values
    kept = ladder_forms.prediction_block(xs, ["s8"], ["validation"], forms, 0.01, {})
    assert kept["points"][0]["combined"]["forms"] == ["power", "saturating"]
    assert kept["points"][0]["combined"]["low"] < combined["low"]


def test_a_form_whose_holdout_refit_misses_the_largest_size_is_left_out():
    """The second test of `rejected_forms`: a straight ladder (no bend for the quadratic
    test to see) whose largest size falls 0.05 nats below the line. The power law's refit
    on the four smaller sizes puts it outside its own 95% interval, so the combined
    prediction leaves the power law out; the saturating form, which can bend, keeps it."""
    line = 4.3 - 0.11 * np.log(SIZES / SIZES[0]) + np.array([0.003, -0.002, 0.002, -0.003, 0])
    line[-1] -= 0.05
    assert ladder_forms.rejected_forms(SIZES, line) == {}  # no bend: the first test is silent
    rejected = ladder_forms.rejected_forms(SIZES, line, 200, 0, 0.01)
    assert set(rejected) == {"power"} and "holdout check" in rejected["power"]
    # every form rejected still leaves a prediction: then all of them are mixed
    forms = ladder_forms.form_draws(SIZES, line, np.array([6 * SIZES[-1]]), 100, 0, 0.01)
    assert prediction.trusted(forms, {"power": "x", "saturating": "y"}) == forms


def test_the_holdout_rule_scales_the_seed_noise_to_each_form_and_ignores_row_order():
    """The saturating form lives on ln(loss), so one run's noise there is sd / loss, not sd
    (0.0026, not 0.01 at L = 3.83): with the unscaled noise its interval would still reach
    a largest size 0.08 nats below the line. And the largest size is the largest N, not
    the last row."""
    line = 4.3 - 0.11 * np.log(SIZES / SIZES[0]) + np.array([0.003, -0.002, 0.002, -0.003, 0])
    line[-1] -= 0.08
    assert set(ladder_forms.rejected_forms(SIZES, line, 200, 0, 0.01)) == {"power", "saturating"}
    order = np.array([3, 0, 4, 1, 2])
    shuffled = ladder_forms.rejected_forms(SIZES[order], line[order], 200, 0, 0.01)
    assert set(shuffled) == {"power", "saturating"}  # the bootstrap's draws differ by order
    assert all("observed 3.826" in why for why in shuffled.values())
