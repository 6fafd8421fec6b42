"""The fit forms' registry: each form one object, its curve drawn from fit.json alone."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scalecli.errors import ScaleError
from scalecli.fit.forms import registry


def test_every_form_draws_its_law_from_parameter_values_alone():
    x, d = np.array([1e4, 1e6]), np.array([1e6, 1e8])
    power = registry.get("power").curve({"a": 50.0, "b": -0.1}, x)
    assert_allclose(power, 50.0 * x ** -0.1)
    sat = registry.get("saturating").curve({"E": 2.0, "A": 30.0, "alpha": 0.3}, x)
    assert_allclose(sat, 2.0 + 30.0 * x ** -0.3)
    chin = registry.get("chinchilla").curve(
        {"E": 1.7, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}, x, d)
    assert_allclose(chin, 1.7 + 400.0 / x ** 0.34 + 410.0 / d ** 0.28)
    for name in ("isoflop", "envelope"):
        n_opt = registry.get(name).curve({"k_n": 0.1, "a_opt": 0.5}, np.array([1e18]))
        assert_allclose(n_opt, [1e8])


def test_every_form_has_text_for_headings_and_the_reference():
    for form in registry.forms():
        assert form.title and form.doc and form.param_names
        assert form.formula_text({"x": "N", "y": "L", "d": "D"})


def test_capabilities_not_names_pick_the_forms():
    assert [f.name for f in registry.ladder_forms()] == ["power", "saturating"]
    assert [f.approach for f in registry.compute_forms()] == [
        "1: envelope", "2: isoFLOP", "3: parametric"]
    assert registry.default().name == "power"
    assert registry.choices() == ("power", "saturating", "chinchilla", "all", "isoflop",
                                  "envelope", "compute")
    with pytest.raises(ScaleError, match="unknown"):
        registry.get("kaplan")
