"""Approach 1's bootstrap on cases known by hand: its defaults when it cannot fit, the one
point whose noise decides each draw, and noise counts that do not match the budgets."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit.envelope import analyse_envelope
from scalecli.fit.isoflop import Budget

FLOPS = (1e18, 1e19, 1e20)
# The last budget's best run beats the middle budget's by MARGIN; only its noise is drawn
MARGIN = 1e-9
SD = 0.01
QUIET = 1e30  # seeds of a point whose noise is nil: sd / sqrt(1e30) = 1e-17 SD


def budgets(best: list[float]) -> list[Budget]:
    """Two sizes per budget, N_opt = 0.1 C^0.4 and 3 N_opt, the first with loss `best`."""
    out = []
    for c, loss in zip(FLOPS, best, strict=True):
        n = 0.1 * c ** 0.4 * np.array([1.0, 3.0])
        out.append(Budget(c, None, np.log(n), np.array([loss, loss + 0.5]), np.log(c / (6 * n))))
    return out


def test_the_envelope_without_a_law_reports_the_clis_default_bootstrap_and_no_draws() -> None:
    # `scalecli fit --bootstrap` defaults to 1000 and --seed to 0; the library called with
    # neither must say the same in fit.json, and with two budgets (no law) nothing was drawn
    fit = analyse_envelope(budgets([3.0, 2.8, 2.6])[:2])
    assert fit["converged"] is False
    assert fit["bootstrap"] == {"n": 1000, "n_ok": 0, "seed": 0}


def test_each_draw_adds_the_seeds_normal_noise_to_the_losses() -> None:
    # The last budget's best loss is MARGIN below the middle one's, and only it is noisy
    # (sd SD; the others' sd is ~0). A draw keeps it on the envelope, and so has three
    # budgets and a law, exactly when its noise SD z is below MARGIN. Draws take
    # default_rng(seed)'s standard normals budget by budget, point by point: that point's
    # is the 5th of each draw's 6. Subtracting the noise instead would keep the draws with
    # z > -MARGIN / SD: with an odd number of draws the two counts always differ.
    n_boot, seed = 41, 11
    grid = budgets([3.0, 2.8, 2.8 - MARGIN])
    n_seeds = [np.array([QUIET, QUIET]), np.array([QUIET, QUIET]), np.array([1.0, QUIET])]
    fit = analyse_envelope(grid, n_boot=n_boot, seed=seed, seed_sd=SD, n_seeds=n_seeds)
    assert fit["converged"] is True and fit["exponent"] == pytest.approx(0.4)
    z = np.random.default_rng(seed).standard_normal((n_boot, 6))[:, 4]
    kept = int(np.sum(SD * z < MARGIN))
    assert 0 < kept < n_boot  # both outcomes occur, so the count says which way noise went
    assert fit["bootstrap"] == {"n": n_boot, "n_ok": kept, "seed": seed}
    # every kept draw has the same three points, so the same law: a = 0.4 exactly
    a_opt = fit["params"]["a_opt"]
    assert a_opt["ci_low"] == pytest.approx(0.4) and a_opt["ci_high"] == pytest.approx(0.4)


def test_seed_counts_not_one_for_one_with_the_budgets_are_refused() -> None:
    # One count too many (say a budget dropped upstream but its seeds kept) would pair
    # each budget with its neighbour's noise; it must fail, not draw from the wrong sd
    grid = budgets([3.0, 2.8, 2.6])
    counts = [np.array([1.0, 4.0])] * 4
    with pytest.raises(ValueError, match="zip"):
        analyse_envelope(grid, n_boot=5, seed_sd=SD, n_seeds=counts)
