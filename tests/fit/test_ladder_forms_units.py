"""ladder_forms on exact laws: the forms the ladder rejects (with the numbers their reason
quotes, known by hand) and the draws of a form given exactly its minimum of points."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import ladder_forms

X = np.geomspace(22e3, 2e6, 6)
LAW = 3.71 + 11.6 * X ** -0.3  # the saturating law: 3.8593 at 2e6 (11.6 * 2e6^-0.3 = 0.1493)


def test_a_largest_size_far_below_the_law_rejects_the_forms_by_their_holdout() -> None:
    y = LAW.copy()
    y[-1] -= 0.3  # observed 3.5593
    rejected = ladder_forms.rejected_forms(X, y, n_boot=100, seed=0, seed_sd=0.01)
    assert list(rejected) == ["power", "saturating"]
    # the saturating refit on the other five sizes is exact: it predicts the law's 3.859,
    # in nats (not in perplexity)
    said = rejected["saturating"]
    assert said.startswith("its refit without the largest size predicted it at 3.859 [")
    assert said.endswith("], observed 3.559 (holdout check)")
    low, high = (float(v) for v in said.split("[")[1].split("]")[0].split(", "))
    assert low < 3.859 < high and high < 3.9
    assert rejected["power"].endswith("observed 3.559 (holdout check)")
    power_at = float(rejected["power"].split("predicted it at ")[1].split(" ")[0])
    assert 3.6 < power_at < 4.0  # in nats too: ln of its perplexity


def test_a_bending_ladder_rejects_the_straight_line_only() -> None:
    rejected = ladder_forms.rejected_forms(X, LAW.copy(), n_boot=100, seed=0, seed_sd=0.01)
    assert list(rejected) == ["power"]
    assert rejected["power"].startswith(
        "the ladder bends away from the power law's straight line (quadratic term p = ")
    assert rejected["power"].endswith(", poor_fit)")
    # without a bootstrap only the bend is tested: one low point does not bend the line
    y = LAW.copy()
    y[-1] -= 0.3
    assert ladder_forms.rejected_forms(X, y) == {}
    assert list(ladder_forms.rejected_forms(X, LAW.copy())) == ["power"]


def test_a_form_with_exactly_its_minimum_of_points_gets_draws() -> None:
    x, y = X[:3], LAW[:3]
    (power,) = ladder_forms.form_draws(x, y, np.array([1e6]), 40, 0, 0.0)
    assert power.form == "power"
    assert power.draws.shape[0] >= 30 and power.interval() is not None
    assert power.y[0] == pytest.approx(float(np.log(power_ppl_at(x, y, 1e6))), rel=1e-9)


def power_ppl_at(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """ppl = a N^b by least squares of ln ppl (= the loss) on ln N, by the normal equations."""
    lx = np.log(x)
    b = np.sum((lx - lx.mean()) * (y - y.mean())) / np.sum((lx - lx.mean()) ** 2)
    return float(np.exp(y.mean() + b * (np.log(at) - lx.mean())))


def test_the_power_law_draws_the_seed_level_it_is_given() -> None:
    asked = []

    def level(n_boot: int, rng: np.random.Generator) -> None:
        asked.append(n_boot)
        return None  # as seeds.seed_level does without seeds

    drawn = ladder_forms.form_draws(X, LAW, np.array([1e7]), 40, 0, 0.0, level)
    assert [d.form for d in drawn] == ["power", "saturating"]
    assert asked == [40]  # the power law's bootstrap only (saturating has no seed level)


def test_ladder_points_are_one_per_size_and_none_for_an_isoflop_design() -> None:
    from scalecli.fit import seeds

    rows = [{"model": f"s{k}", "params_non_embedding": repr(float(n)), "tokens": "1e9",
             "seed": str(s), "val_loss": repr(float(y + 0.01 * s)), "budget_flops": ""}
            for k, (n, y) in enumerate(zip(X[:4], LAW[:4], strict=True)) for s in (0, 1)]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, "params_non_embedding", "tokens")
    x, y, _ = ladder_forms.ladder_points(lad, rows)
    assert x.tolist() == pytest.approx(X[:4].tolist())
    assert y.tolist() == pytest.approx((LAW[:4] + 0.005).tolist())  # the seeds' mean
    grid = [{**r, "budget_flops": "1e18"} for r in rows]
    assert ladder_forms.ladder_points(seeds.ladder(grid, header, "params_non_embedding",
                                                   "tokens"), grid) is None
    assert ladder_forms.ladder_points(lad, []) is None
