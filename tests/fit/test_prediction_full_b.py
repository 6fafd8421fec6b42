"""The prediction's texts and fit.json block on cases worked out by hand: the 10x line's
interval when b's CI touches "no change" or stays within 1%, a form whose point fit lies
outside its own bootstrap interval (not a disagreement), and prediction.points for a form
with exactly MIN_DRAWS draws next to one with too few for an interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import prediction
from scalecli.fit.forms.power import ten_x_text
from scalecli.fit.prediction import FormDraws


def test_the_ten_x_interval_is_signed_when_it_reaches_no_change_and_unsigned_within_one_sign(
) -> None:
    # b's CI (-0.05, 0): 10^-0.05 - 1 = -10.87%, 10^0 - 1 = 0 exactly. An end at "no
    # change" has no sign, so the interval is written with signs, not as "% lower".
    assert ten_x_text("params", "val_ppl", 10 ** -0.02, (-0.05, 0.0)) == (
        "10x params -> 4.5% lower perplexity (95% CI -10.9% to +0.0%)")
    # the same from above: 10^0.02 - 1 = +4.71%
    assert ten_x_text("params", "val_ppl", 10 ** 0.01, (0.0, 0.02)) == (
        "10x params -> 2.3% higher perplexity (95% CI +0.0% to +4.7%)")
    # one sign, both ends under 1% (their product, 0.5 %^2, is below 1): still "% higher"
    # with the smaller end first
    b_ci = (math.log10(1.01), math.log10(1.005))
    assert ten_x_text("params", "val_ppl", 1.007, b_ci) == (
        "10x params -> 0.7% higher perplexity (95% CI 0.5-1.0%)")


def _draws(form: str, ys: list[float], lo: float, hi: float) -> FormDraws:
    """41 draws per point whose 2.5 and 97.5 percentiles are exactly lo and hi (three
    copies at each end, so np.percentile's interpolation at sorted index 1 and 39 lands
    between equal values), the same at every point; the point fit's y per point."""
    body = np.linspace(lo, hi, 37)[1:-1]
    col = np.concatenate([[lo] * 3, body, [hi] * 3])
    return FormDraws(form, np.array(ys), np.tile(col[:, None], (1, len(ys))))


def test_a_point_fit_outside_its_own_interval_is_no_disagreement() -> None:
    # The point fit can lie outside its own bootstrap interval (a skewed bootstrap). That
    # is no disagreement between forms: the saturating form's y 1.2 is in the power law's
    # interval [0.5, 1.5] and the power law's y 1.0 in the saturating one's [0.8, 1.1].
    power = _draws("power", [1.0], 0.5, 1.5)
    sat = _draws("saturating", [1.2], 0.8, 1.1)
    assert prediction.disagree([sat], 0) is False
    assert prediction.disagree([power, sat], 0) is False
    assert prediction.disagree([sat, power], 0) is False
    (alone,) = prediction.points_json(np.array([1e7]), [None], ["default"], [sat], "r")
    assert alone["combined"]["disagree"] is False
    (both,) = prediction.points_json(np.array([1e7]), [None], ["default"], [power, sat], "r")
    assert both["combined"]["disagree"] is False


def test_points_json_with_exactly_min_draws_and_with_too_few() -> None:
    assert prediction.MIN_DRAWS == 10  # the hand-worked numbers below assume it
    xs = np.array([1e7, 2e7])
    # power: exactly 10 draws, 3.00, 3.01, ..., 3.09 at the first point, +1 at the second
    ten = 3.0 + 0.01 * np.arange(10)
    power = FormDraws("power", np.array([3.04, 4.05]), np.column_stack([ten, ten + 1.0]))
    # saturating: 9 draws, too few for an interval; its point fit's y is still shown
    sat = FormDraws("saturating", np.array([3.5, 3.4]), np.full((9, 2), 3.5))
    points = prediction.points_json(xs, ["a", None], ["predict", "default"],
                                    [power, sat], "why")
    assert [p["x"] for p in points] == [1e7, 2e7]
    assert [p["label"] for p in points] == ["a", None]
    assert [p["source"] for p in points] == ["predict", "default"]
    for j, p in enumerate(points):
        shift = float(j)  # the second point's draws are the first's + 1
        # np.percentile (linear) over 10 sorted draws: the 2.5% at index 0.225, the 97.5%
        # at index 8.775, between draws 0.01 apart
        assert p["forms"]["power"] == pytest.approx(
            {"y": [3.04, 4.05][j], "low": 3.00225 + shift, "high": 3.08775 + shift})
        assert p["forms"]["saturating"] == {"y": [3.5, 3.4][j], "low": None, "high": None}
        combined = p["combined"]
        # the mixture is the power law alone (nine draws are too few to be mixed), read
        # with the midpoint rule: draw k sits at (k + 0.5) / 10, so the median is halfway
        # between 3.04 and 3.05, and the 2.5 and 97.5% lie outside 0.05..0.95: the ends
        assert combined["forms"] == ["power"]
        assert combined["y"] == pytest.approx(3.045 + shift)
        assert combined["low"] == pytest.approx(3.00 + shift)
        assert combined["high"] == pytest.approx(3.09 + shift)
        assert combined["reason"] == "why"
        assert combined["method"] == prediction.METHOD
