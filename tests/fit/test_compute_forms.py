"""The compute forms (approaches 1 and 2) as fit.json sees them: what `Form.analyse` hands
on (the bootstrap count, its seed, --predict-flops, the reference budget, the seed noise)
shows in the entry's numbers, and `ComputeForm`'s curve and tokens are k C^a."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scalecli.fit import chinchilla
from scalecli.fit.forms import registry
from scalecli.fit.forms.base import ComputeForm
from tests.fit.test_isoflop import THETA, synthetic

REFERENCE = 1e23  # far from the budgets' geometric mean (1e19): D/N differs by 2.4x there
PREDICT = np.array([1e21, 1e22])


def analysed(name: str, n_boot: int = 40, seed: int = 3, noise: tuple = (None, None)) -> dict:
    budgets = synthetic(seed=0, noise=0.01)
    return registry.get(name).analyse(budgets, n_boot, seed, PREDICT, REFERENCE, noise)


@pytest.mark.parametrize("name", ["isoflop", "envelope"])
def test_the_bootstrap_count_and_seed_given_are_the_ones_used(name: str) -> None:
    fit = analysed(name, n_boot=40, seed=3)
    assert fit["converged"] is True
    assert fit["bootstrap"]["n"] == 40 and fit["bootstrap"]["seed"] == 3
    assert 30 <= fit["bootstrap"]["n_ok"] <= 40
    # The seed reaches the draws: another seed, another interval; the same, the same.
    again, other = analysed(name, seed=3), analysed(name, seed=4)
    assert again["params"]["a_opt"]["ci_low"] == fit["params"]["a_opt"]["ci_low"]
    assert other["params"]["a_opt"]["ci_low"] != fit["params"]["a_opt"]["ci_low"]
    assert analysed(name, n_boot=12)["bootstrap"]["n"] == 12


@pytest.mark.parametrize("name", ["isoflop", "envelope"])
def test_tokens_per_param_are_at_the_reference_budget_given(name: str) -> None:
    fit = analysed(name)
    ratio = fit["derived"]["tokens_per_param"]
    assert ratio["flops"] == REFERENCE
    # D_opt / N_opt = (k_D / k_N) C^(b - a) from the entry's own published numbers...
    p, d = fit["params"], fit["derived"]
    by_hand = d["k_d"] / d["k_n"] * REFERENCE ** (p["b_opt"]["value"] - p["a_opt"]["value"])
    assert ratio["value"] == pytest.approx(by_hand, rel=1e-9)
    if name == "isoflop":  # ...and, from the parabolas' vertices, the law's own, 4
        # decades past the budgets, where D/N is 2.4x its value at their centre (1e19)
        truth = chinchilla.compute_optimal(THETA, np.array([REFERENCE, 1e19]))
        true_ratio = truth["D_opt"] / truth["N_opt"]
        assert ratio["ci_low"] < true_ratio[0] < ratio["ci_high"]
        assert ratio["value"] > 1.5 * true_ratio[1]


@pytest.mark.parametrize("name", ["isoflop", "envelope"])
def test_predictions_are_at_the_predict_flops_given(name: str) -> None:
    fit = analysed(name)
    got = fit["derived"]["predictions"]
    assert [p["flops"] for p in got] == list(PREDICT)
    k_n, a = fit["derived"]["k_n"], fit["params"]["a_opt"]["value"]
    for p in got:
        assert p["n_opt"]["value"] == pytest.approx(k_n * p["flops"] ** a, rel=1e-9)
        assert p["n_opt"]["ci_low"] < p["n_opt"]["value"] < p["n_opt"]["ci_high"]


def test_the_envelope_takes_its_noise_from_the_seeds_when_given() -> None:
    budgets = synthetic(seed=0, noise=0.01)
    n_seeds = [np.full(b.loss.size, 4) for b in budgets]
    seeded = analysed("envelope", noise=(0.02, n_seeds))
    assert "normal noise of the pooled seed sd 0.02 / sqrt(seeds of the point)" \
        in seeded["method"]
    # Without seeds, the parabolas' residual sd (about the 1% noise) is used instead.
    plain = analysed("envelope")
    said = re.search(r"normal noise of the isoFLOP parabolas' residual sd ([0-9.]+) "
                     r"\(no seeds\)", plain["method"])
    assert said and 0.015 < float(said.group(1)) < 0.05  # 1% of a loss of 2.2 to 3.5
    assert plain["bootstrap"]["n_ok"] > 0 and seeded["bootstrap"]["n_ok"] > 0


def test_compute_forms_curve_and_tokens_are_k_c_to_the_exponent() -> None:
    form = registry.get("isoflop")
    assert isinstance(form, ComputeForm)
    params = {"k_n": 2.0, "a_opt": 0.5, "k_d": 3.0, "b_opt": 0.25}
    assert form.curve(params, [4, 9]).tolist() == [4.0, 6.0]
    assert form.tokens(params, [16, 81]).tolist() == [6.0, 9.0]
    fit = {"params": {"a_opt": {"value": 0.5}, "b_opt": {"value": 0.25}},
           "derived": {"k_n": 2.0, "k_d": 3.0}}
    assert form.values(fit) == params


def test_isoflop_method_and_a_law_it_cannot_fit() -> None:
    budgets = synthetic(seed=0, noise=0.01)
    fit = analysed("isoflop")
    assert fit["method"] == (
        "per budget, least squares parabola of loss in ln N over the size nearest its "
        "vertex and up to 3 sizes on each side; ln N_opt and ln D_opt against ln C by least "
        "squares over the accepted budgets, each weighted by its vertex's precision "
        "(1 / Var(ln N_opt) from its parabola's covariance); bootstrap over runs within "
        "each budget (Hoffmann et al. 2022, approach 2)")
    assert fit["message"] == "5 of 5 budgets accepted"
    one = registry.get("isoflop").analyse(budgets[:1], 10, 0, PREDICT, REFERENCE, (None, None))
    assert one["converged"] is False and one["params"] == {} and one["exponent"] is None
    assert one["message"] == "1 budget(s) accepted; a law needs 2"
    assert one["derived"] == {"predictions": []}
    assert one["bootstrap"] == {"n": 10, "n_ok": 0, "seed": 0}
