"""What the forms say in words and derive by hand: the power law's 10x line and its legend,
the saturating law's caveat and legend, and the registry's --form choices and help."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit.forms import registry
from scalecli.fit.forms.power import ten_x_text
from scalecli.fit.laws import FitResult

POWER, SATURATING = registry.get("power"), registry.get("saturating")


def test_ten_x_text_names_the_quantities_and_the_direction() -> None:
    # 10^-0.1 = 0.7943: 20.6% lower; b's CI [-0.13, -0.07] -> 14.9% to 25.9% lower
    assert ten_x_text("params_non_embedding", "val_ppl", 10 ** -0.1, (-0.13, -0.07)) == \
        "10x params -> 20.6% lower perplexity (95% CI 14.9-25.9%)"
    assert ten_x_text("flops_6nd", "val_bpb", 10 ** 0.05) == \
        "10x compute -> 12.2% higher bits per byte"
    assert ten_x_text("tokens", "train_loss", 0.5) == "10x tokens -> 50.0% lower training loss"
    assert ten_x_text("my_n", "my_y", 1.005) == "10x my_n -> 0.5% higher my_y"
    assert ten_x_text("flops", "val_loss", 1.0) == "10x compute -> 0.0% higher loss"


def test_power_derives_ten_x_from_b_and_describes_it() -> None:
    point = FitResult("power", np.array([50.0, -0.1]), True, "")
    derived = POWER.derived(point, np.empty((0, 2)), None)
    assert derived["ten_x_factor"] == pytest.approx(10 ** -0.1)
    assert derived["ten_x_change_pct"] == pytest.approx(100 * (10 ** -0.1 - 1))  # -20.57
    result = {"converged": True, "derived": dict(derived),
              "params": {"b": {"value": -0.1, "ci_low": -0.13, "ci_high": -0.07}}}
    POWER.describe(result, "params", "val_ppl")
    assert result["derived"]["ten_x_text"] == \
        "10x params -> 20.6% lower perplexity (95% CI 14.9-25.9%)"
    failed = {"converged": False, "derived": {}, "params": {}}
    POWER.describe(failed, "params", "val_ppl")
    assert failed["derived"] == {}


def test_power_log_predict_is_a_straight_line_in_ln_x() -> None:
    thetas = np.array([[math.e, -0.5], [1.0, 1.0]])
    got = POWER.log_predict(thetas, np.array([1.0, math.e ** 2]))
    assert got.ravel().tolist() == pytest.approx([1.0, 0.0, 0.0, 2.0])


def test_legends_carry_the_fitted_numbers() -> None:
    power = {"y": "val_ppl", "params": {"a": {"value": 1234.5}, "b": {"value": -0.07612}}}
    assert POWER.label(power) == "fit: val_ppl = 1.23e+03 N^-0.076"
    assert POWER.label({**power, "y": None}) == "fit: y = 1.23e+03 N^-0.076"
    assert POWER.label({"params": {}}) == "fit (power)"
    sat = {"y": "val_loss", "params": {"E": {"value": 1.6912}, "A": {"value": 406.4},
                                       "alpha": {"value": 0.3392}}}
    assert SATURATING.label(sat) == "fit: val_loss = 1.69 + 406 N^-0.339"
    assert SATURATING.label({**sat, "y": ""}) == "fit: y = 1.69 + 406 N^-0.339"
    assert SATURATING.label({"params": {"E": {"value": None}}}) == "fit (saturating)"


def test_the_saturating_caveat_names_a_floor_at_zero_and_too_few_sizes() -> None:
    wide = np.geomspace(1e6, 1e9, 10)  # 10 sizes over 1000x: nothing to say
    assert SATURATING.caveat(wide, {"E": (0.5, 1.9)}) is None
    floor = "E's 95% interval reaches 0: these sizes show no floor yet, so E is not measured"
    assert SATURATING.caveat(wide, {"E": (0.0, 1.9)}) == floor
    assert SATURATING.caveat(wide, {}) is None
    narrow = np.geomspace(1e6, 3.6e7, 5)
    few = ("with 5 sizes over 36x the curve's band and predicted intervals are too narrow "
           "(85-91% coverage at 10x the largest size in synthetic sweeps like this)")
    assert SATURATING.caveat(narrow, {"E": (0.5, 1.9)}) == few
    assert SATURATING.caveat(narrow, {"E": (0.0, None)}) == f"{floor}; {few}"
    # 10 sizes over 99x is still too narrow a span; 9 over 1000x too few sizes
    assert SATURATING.caveat(np.geomspace(1e6, 9.9e7, 10), {}).startswith(
        "with 10 sizes over 99x")
    assert SATURATING.caveat(np.geomspace(1e6, 1e9, 9), {}).startswith(
        "with 9 sizes over 1000x")
    assert SATURATING.caveat(np.geomspace(1e6, 1e8, 10), {}) is None  # exactly 100x


def test_the_form_choices_and_their_help() -> None:
    assert registry.choices() == ("power", "saturating", "chinchilla", "all", "isoflop",
                                  "envelope", "compute")
    assert registry.choices_help() == (
        "power | saturating | chinchilla | all (each form, and a table of every exponent "
        "the runs' design supports), or the compute-optimal approaches: envelope (1) | "
        "isoflop (2) | compute (1, 2 and chinchilla side by side). Each form's law and "
        "method: docs/reference/fit-forms.md.")
    assert [f.name for f in registry.by_directness()] == ["isoflop", "chinchilla", "envelope"]
    assert [f.name for f in registry.selected("compute")] == ["envelope", "isoflop",
                                                              "chinchilla"]
    assert [f.name for f in registry.selected("all")] == ["power", "saturating", "chinchilla",
                                                          "isoflop"]
    assert registry.default().name == "power"
    assert registry.default_x("all") == "params_non_embedding"
    assert registry.default_x("compute") == "params"
    with pytest.raises(ScaleError) as caught:
        registry.get("powr")
    assert str(caught.value) == ("--form 'powr' is unknown; use power, saturating, "
                                 "chinchilla, all, isoflop, envelope, compute")
    assert registry.find(None) is None and registry.find("envelope").name == "envelope"
    for name in ("", "all", "compute"):
        with pytest.raises(ValueError) as caught:
            registry.register(type("Bad", (type(POWER),), {"name": name})())
        assert str(caught.value) == "a form needs a name other than 'all' and 'compute'"
    with pytest.raises(ValueError) as caught:
        registry.register(type("Again", (type(POWER),), {})())
    assert str(caught.value) == "a form named 'power' is registered already"


def test_a_second_parametric_form_is_named_in_the_help() -> None:
    class Again(type(registry.get("chinchilla"))):
        name = "chinchilla2"
        approach = "4: parametric again"

    registry.register(Again())
    try:
        assert registry.choices_help().endswith(
            "compute (1, 2 and chinchilla and chinchilla2 side by side). Each form's law "
            "and method: docs/reference/fit-forms.md.")
    finally:
        registry.unregister("chinchilla2")
    assert "chinchilla2" not in registry.names()
