"""The law forms' own glue, pinned where the maths modules' tests cannot see it: the power
form hands the seed level to its bootstrap, approach 3's `method` joins its convention
with "; ", and `registry.find` of no name finds no form."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import registry
from scalecli.fit.forms.base import LawForm


def test_power_bootstrap_draws_the_seed_level_it_is_given() -> None:
    """On an exact power law (no residuals) the size-level noise is zero, so each refit is
    the fitted line plus its seed-level draw: a draw of c (ln x - mean ln x) adds exactly c
    to b and pivots ln a about the mean ln x (ln a - c mean ln x). Without the seed level
    every refit would be the line itself (b = -0.1)."""
    form = registry.get("power")
    x = np.array([1e6, 3e6, 1e7, 3e7, 1e8])
    y = 50.0 * x ** -0.1
    lx = np.log(x)
    tilt = lx - lx.mean()
    slopes = np.array([0.02, -0.03])
    levels = slopes[:, None] * tilt[None, :]
    point = form.fit(x, y)
    boots, dropped = form.bootstrap(x, y, None, point, 2, np.random.default_rng(0),
                                    seed_level=levels)
    assert dropped == 0
    assert boots[:, 1] == pytest.approx(-0.1 + slopes, abs=1e-9)
    assert boots[:, 0] == pytest.approx(50.0 * np.exp(-slopes * lx.mean()), rel=1e-9)


def test_approach_3_method_adds_its_convention_after_a_semicolon() -> None:
    """fit.json's method is the fit's sentence, "; ", then how N_opt(C) was solved."""
    form = registry.get("chinchilla")
    assert form.method_suffix(None) == (
        "; N_opt(C) = G (C/6)^a (Hoffmann et al. 2022, Eq. 4), exact here: C is 6 N D in "
        "this N (the runs' flops per token is 6 N, or the CSV has no compute column)")
    fpt = FlopsPerToken(np.log([1e6, 1e8]), np.log([1.25, 1.1]), (1e18, 1e20))
    assert form.method_suffix(fpt).startswith(
        "; N_opt(C) minimises L(N, C / flops_per_token(N)) on the compute column's C, "
        "flops_per_token / 6N going from 1.25 at the smallest N to 1.1 at the largest")
    # the 1-D laws solve no optimum: nothing is added to theirs
    assert registry.get("power").method_suffix(None) == ""
    assert registry.get("saturating").method_suffix(fpt) == ""


class _Odd(LawForm):
    """A plugin form with an unusual name, to show `find` of no name matches no form."""

    name = "XXXX"
    param_names = ("a",)


@pytest.fixture
def odd_form():
    form = registry.register(_Odd())
    yield form
    registry.unregister(form.name)


def test_find_of_no_name_is_none_whatever_is_registered(odd_form) -> None:
    """An entry without a form name (another version's fit.json) has no form, even when
    plugins with any names are registered; a named one finds its own."""
    assert registry.find(None) is None
    assert registry.find("") is None
    assert registry.find("XXXX") is odd_form
    assert registry.find("power") is registry.get("power")
    assert registry.find("no-such-form") is None

