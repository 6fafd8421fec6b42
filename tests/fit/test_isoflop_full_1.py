"""isoflop.bootstrap counted by hand: a draw in which too few budgets survive their refit is
skipped (not kept as a hole), and every draw kept is the law itself when the slices are
exact parabolas.

The design: two budgets of three sizes each, each an exact parabola in ln N with its vertex
on N_opt = K C^A and D = C / (6 N). A resample keeps a budget only when it draws all three
sizes (a parabola needs three; strict=False applies only the shape checks), which happens
with probability 3! / 3^3 = 2/9; a draw needs both budgets (MIN_BUDGETS = 2), so it is
kept with probability (2/9)^2 = 4/81, and its parabolas, through the same three exact points
each with equal weights, give the exact vertices and the exact law."""

from __future__ import annotations

import math

import numpy as np

from scalecli.fit.isoflop import Budget, bootstrap

A, K = 0.5, 0.1  # N_opt = K C^A
FLOPS = (1e18, 1e20)
N_BOOT = 1000
P_KEPT = (2 / 9) ** 2


def budget(c: float, level: float) -> Budget:
    log_opt = math.log(K) + A * math.log(c)
    log_n = log_opt + np.array([-0.7, 0.0, 0.7])
    loss = level + 0.1 * (log_n - log_opt) ** 2
    return Budget(c, c, log_n, loss, math.log(c / 6) - log_n)


def test_a_draw_with_too_few_budgets_left_is_skipped_and_the_rest_are_exact() -> None:
    draws = bootstrap([budget(FLOPS[0], 3.0), budget(FLOPS[1], 2.6)], N_BOOT,
                      np.random.default_rng(3))
    # kept draws: Binomial(1000, 4/81), mean 49.4, sd 6.9; five sd either side
    sd = math.sqrt(N_BOOT * P_KEPT * (1 - P_KEPT))
    assert draws.shape[1] == 4
    assert abs(draws.shape[0] - N_BOOT * P_KEPT) < 5 * sd, draws.shape
    # (a, ln k_N, b, ln k_D): D_opt = C / (6 N_opt) = C^(1 - A) / (6 K)
    law = np.array([A, math.log(K), 1 - A, -math.log(6 * K)])
    assert np.allclose(draws, law, rtol=0, atol=1e-9)
