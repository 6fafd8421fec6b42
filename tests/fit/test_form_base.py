"""forms.base: what every form does the same way, by hand on the power and saturating
laws: values from fit.json, the drawn curve, the formula with its columns, the exponent
and its interval (flipped for -alpha), the degenerate designs, predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.forms import registry
from scalecli.fit.forms.base import _field
from scalecli.fit.laws import FitResult
from scalecli.fit.schema.shapes import Estimate

POWER, SATURATING, CHINCHILLA = (registry.get(n) for n in ("power", "saturating",
                                                            "chinchilla"))
ISOFLOP = registry.get("isoflop")


def test_field_reads_a_dict_or_a_record() -> None:
    assert _field({"value": 2.0}, "value") == 2.0
    assert _field(Estimate(value=3.0), "value") == 3.0
    assert _field(Estimate(value=3.0), "nothing") is None
    assert _field({}, "value") is None


def test_values_and_the_drawn_curve() -> None:
    fit = {"params": {"a": {"value": 100.0}, "b": {"value": -0.5}}}
    assert POWER.values(fit) == {"a": 100.0, "b": -0.5}
    assert POWER.values({"params": {"a": None}}) == {"a": None}
    assert POWER.values({}) == {}
    assert POWER.draw(fit, [1, 4, 100]).tolist() == pytest.approx([100.0, 50.0, 10.0])
    sat = {"params": {"E": {"value": 2.0}, "A": {"value": 8.0}, "alpha": {"value": 0.5}}}
    assert SATURATING.draw(sat, [4, 16]).tolist() == pytest.approx([6.0, 4.0])
    assert POWER.curve({"a": 2.0, "b": 1.0}, [3]).tolist() == [6.0]
    # chinchilla reads D: E + A / N^alpha + B / D^beta
    chin = {"E": 1.0, "A": 4.0, "B": 9.0, "alpha": 0.5, "beta": 0.5}
    assert CHINCHILLA.curve(chin, [4, 16], [9, 81]).tolist() == pytest.approx([6.0, 3.0])
    fit = {"params": {k: {"value": v} for k, v in chin.items()}}
    assert CHINCHILLA.draw(fit, [16], [81]).tolist() == pytest.approx([3.0])


def test_theta_min_points_and_the_exponent() -> None:
    assert POWER.theta({"b": -0.5, "a": 100.0}).tolist() == [100.0, -0.5]
    assert POWER.min_points == 3 and SATURATING.min_points == 4 and CHINCHILLA.min_points == 6
    assert POWER.exponent(np.array([100.0, -0.07])) == -0.07
    assert SATURATING.exponent(np.array([1.7, 400.0, 0.34])) == -0.34
    assert ISOFLOP.exponent_param == "a_opt"


def test_the_exponent_interval_is_flipped_for_minus_alpha() -> None:
    assert POWER.exponent_interval({"b": {"ci_low": -0.08, "ci_high": -0.06}}) == (-0.08,
                                                                                    -0.06)
    sat = {"alpha": {"ci_low": 0.3, "ci_high": 0.4}}
    assert SATURATING.exponent_interval(sat) == (-0.4, -0.3)
    assert SATURATING.exponent_interval({"alpha": {"ci_low": 0.3, "ci_high": None}}) == (
        None, -0.3)
    assert SATURATING.exponent_interval({"alpha": Estimate(ci_low=None, ci_high=0.4)}) == (
        -0.4, None)
    assert POWER.exponent_interval({}) == (None, None)


def test_formula_label_and_approach_row() -> None:
    fit = {"x": "params", "y": "val_loss", "d": "tokens"}
    assert POWER.formula_text(fit) == "val_loss = a * params^b"
    assert CHINCHILLA.formula_text(fit) == ("val_loss = E + A / N^alpha + B / D^beta   "
                                            "(N = params, D = tokens)")
    assert CHINCHILLA.label(fit) == "fit (chinchilla)"
    params, rows = ISOFLOP.approach_row({"params": {"a_opt": 1}, "derived": {
        "predictions": [2]}})
    assert (params, rows) == ({"a_opt": 1}, [2])
    assert ISOFLOP.approach_row({}) == ({}, None)
    params, rows = CHINCHILLA.approach_row({"derived": {"intervals": {"a_opt": 3},
                                                        "compute_optimal": [4]}})
    assert (params, rows) == ({"a_opt": 3}, [4])
    assert repr(POWER) == "<form power>"


def test_degenerate_designs_say_why() -> None:
    x = np.array([1.0, 2.0, 4.0])
    assert POWER.degenerate(x, None) is None
    assert POWER.degenerate(x[:2], None) == "2 points, power needs at least 3"
    assert POWER.degenerate(np.array([2.0, 2.0, 2.0]), None) == "all x are equal"
    assert POWER.degenerate(np.array([1.0, 2.0, 2.0]), None) is None  # two x make a line
    six = np.arange(1.0, 7.0)
    assert CHINCHILLA.degenerate(six, None) == "all D are equal"
    assert CHINCHILLA.degenerate(six, np.full(6, 5.0)) == "all D are equal"
    assert CHINCHILLA.degenerate(six, six) is None
    assert CHINCHILLA.degenerate(six, np.array([1.0, 1, 1, 2, 2, 2])) is None  # two D do
    assert POWER.degenerate(x, np.full(3, 5.0)) is None  # power does not read D


def test_predictions_and_log_predict_at_x() -> None:
    point = FitResult("saturating", np.array([2.0, 8.0, 0.5]), True, "")
    boots = np.array([[2.0, 8.0, 0.5], [1.0, 8.0, 0.5]])
    value, samples = SATURATING.predictions(point, boots, np.array([4.0, 16.0]))
    assert value.tolist() == pytest.approx([6.0, 4.0])
    assert samples.tolist()[1] == pytest.approx([5.0, 3.0])
    got = SATURATING.log_predict(boots, np.array([4.0, 16.0]))
    assert got.shape == (2, 2)
    assert got.ravel().tolist() == pytest.approx([math.log(v) for v in (6, 4, 5, 3)])
