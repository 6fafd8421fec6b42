"""Approach 1's envelope by hand: budgets whose best run sits exactly on N_opt = 0.1 C^0.4
(so D_opt = C / 6 N_opt = C^0.6 / 0.6), the points it keeps, the law through them, its
texts, and the noise its interval draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.envelope import analyse_envelope, frontier, law_of, noise_of
from scalecli.fit.isoflop import Budget, residual_sd

E = 0.001
# Four sizes 3x apart, equally spaced in ln N: the cubic (-1, 3, -3, 1) is orthogonal to
# 1, u and u^2 there, so a parabola leaves exactly E times it as residuals: RSS = 20 E^2
# on 1 degree of freedom per budget, a residual sd of sqrt(20) E = 0.004472.
CUBIC = np.array([-1.0, 3.0, -3.0, 1.0])


def budget(c: float, best_loss: float) -> Budget:
    """Sizes N_opt (1/3, 1, 3, 9), N_opt = 0.1 C^0.4; the second (N_opt) has the lowest loss."""
    n = 0.1 * c ** 0.4 * 3.0 ** np.arange(-1.0, 3.0)
    loss = best_loss + 0.05 * np.array([1.0, 0.0, 1.0, 4.0]) + E * CUBIC
    return Budget(c, None, np.log(n), loss, np.log(c / (6 * n)))


FLOPS = [1e18, 1e19, 1e20, 1e21]


def ladder() -> list[Budget]:
    return [budget(c, 3.0 - 0.2 * k) for k, c in enumerate(FLOPS)]


def test_the_envelope_keeps_budgets_below_every_cheaper_one_in_order_of_c() -> None:
    budgets = ladder()
    budgets.insert(1, budget(5e18, 3.5))  # worse than the 1e18 budget: off the envelope
    shuffled = [budgets[k] for k in (3, 0, 4, 1, 2)]
    points = frontier(shuffled)
    assert [(c, i) for c, _, i in points] == [(1e18, 1), (1e19, 1), (1e20, 1), (1e21, 1)]
    assert [shuffled[k].flops for _, k, _ in points] == FLOPS
    # a bootstrap draw's losses replace the budgets' own
    losses = [b.loss for b in shuffled]
    losses[0] = np.array([1.0, 5.0, 5.0, 5.0])  # the 1e20 budget's smallest size wins, and
    assert [(c, i) for c, _, i in frontier(shuffled, losses)] == [(1e18, 1), (1e19, 1),
                                                                 (1e20, 0)]
    # a tie with the best so far is not below it
    tie = [budget(1e18, 3.0), budget(1e19, 3.0)]
    assert len(frontier(tie)) == 1


def test_the_law_through_the_envelope_is_exact() -> None:
    budgets = ladder()
    law = law_of(budgets, frontier(budgets))
    assert law == pytest.approx([0.4, math.log(0.1), 0.6, math.log(1 / 0.6)])
    assert law_of(budgets[:2], frontier(budgets[:2])) is None  # two points: no check
    same = [Budget(c, None, np.log([1e6, 1e7]), np.array([3.0 - k, 4.0]), np.log([1.0, 1.0]))
            for k, c in enumerate(FLOPS)]
    assert law_of(same, frontier(same)) is None  # one size throughout


def test_analyse_envelope_on_the_exact_law() -> None:
    fit = analyse_envelope(ladder(), n_boot=0, seed=5, predict=np.array([1e22]))
    assert fit["converged"] is True and fit["form"] == "envelope"
    assert fit["message"] == "4 budgets on the envelope"
    assert fit["n_points"] == 16
    assert fit["bootstrap"] == {"n": 0, "n_ok": 0, "seed": 5}
    assert fit["exponent"] == pytest.approx(0.4)
    assert fit["params"]["a_opt"]["value"] == pytest.approx(0.4)
    assert fit["params"]["b_opt"]["value"] == pytest.approx(0.6)
    assert fit["derived"]["k_n"] == pytest.approx(0.1)
    assert fit["derived"]["k_d"] == pytest.approx(1 / 0.6)
    first = fit["envelope"][0]
    assert first == {"flops": 1e18, "n": pytest.approx(0.1 * 1e18 ** 0.4),
                     "d": pytest.approx(1e18 ** 0.6 / 0.6), "loss": pytest.approx(3.003)}
    # tokens per param at the budgets' geometric mean C = 10^19.5, where D/N = C^0.2 / 0.06
    ratio = fit["derived"]["tokens_per_param"]
    assert ratio["flops"] == pytest.approx(10 ** 19.5)
    assert ratio["value"] == pytest.approx(10 ** (19.5 * 0.2) / 0.06)
    (row,) = fit["derived"]["predictions"]
    assert row["n_opt"]["value"] == pytest.approx(0.1 * 1e22 ** 0.4)
    assert fit["method"].endswith(
        "interval: each point's loss plus normal noise of the isoFLOP parabolas' residual "
        "sd 0.00447 (no seeds), the envelope taken again")


def test_too_few_budgets_is_said_with_the_counts() -> None:
    fit = analyse_envelope(ladder()[:2], n_boot=10)
    assert fit["converged"] is False
    assert fit["params"] == {} and fit["exponent"] is None
    assert fit["derived"] == {"predictions": []}
    assert fit["message"] == ("the envelope has 2 budget(s) and 2 size(s); a law needs 3 "
                              "budgets and 2 sizes")
    assert fit["method"].startswith(
        "final points of the runs; per budget the lowest loss, kept when below every smaller "
        "budget's; ln N and ln D against ln C by least squares (Hoffmann et al. 2022, "
        "approach 1); interval: ")


def test_the_noise_comes_from_the_seeds_or_the_parabolas() -> None:
    budgets = ladder()
    sds, text = noise_of(budgets, 0.04, [np.array([1, 4, 16, 64])] * 4)
    assert [s.tolist() for s in sds] == [[0.04, 0.02, 0.01, 0.005]] * 4
    assert text == "the pooled seed sd 0.04 / sqrt(seeds of the point)"
    # no seeds (or no count of them): the parabolas' residual sd, sqrt(20) E
    sds, text = noise_of(budgets, 0.04, None)
    assert text == "the isoFLOP parabolas' residual sd 0.00447 (no seeds)"
    assert [s.tolist() for s in sds] == [pytest.approx([math.sqrt(20) * E] * 4)] * 4
    # a parabola through 3 points has no residuals
    three = [Budget(b.flops, None, b.log_n[:3], b.loss[:3], b.log_d[:3]) for b in budgets]
    sds, text = noise_of(three, None, None)
    assert sds is None
    assert text == "no seeds and no isoFLOP parabola with residuals to measure the noise"


def test_the_residual_sd_pools_every_budget_with_four_points_or_more() -> None:
    budgets = ladder()
    three = Budget(1e17, None, budgets[0].log_n[:3], budgets[0].loss[:3],
                   budgets[0].log_d[:3])
    # a budget too small for residuals first does not stop the others from counting
    assert residual_sd([three, *budgets]) == pytest.approx(math.sqrt(20) * E)
    # one budget with twice the cubic: RSS 20 E^2 + 80 E^2 on 2 dof -> sqrt(50) E
    double = Budget(2e21, None, budgets[0].log_n, budgets[0].loss + E * CUBIC,
                    budgets[0].log_d)
    assert residual_sd([budgets[0], double]) == pytest.approx(math.sqrt(50) * E)
    assert residual_sd([three]) is None
