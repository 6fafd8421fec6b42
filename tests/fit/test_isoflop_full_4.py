"""analyse_isoflop's whole fit.json block (fits.isoflop), by hand, on exact isoFLOP slices.

The design: three budgets C = 1e18, 1e19, 1e20, each with 15 sizes half a step off a vertex
on N_opt = K C^A, the loss an exact parabola in ln N there, D = C / (6 N); and a fourth
budget, C = 1e21, with 3 sizes (too few, rejected). Every vertex is then the law itself, so
a_opt = A, ln k_N = ln K, and D_opt = C / (6 N_opt) = C^(1 - A) / (6 K) gives b_opt = 1 - A,
k_D = 1 / (6 K); D_opt / N_opt = C^(1 - 2A) / (6 K^2), which with A = 0.45 changes with C,
so the tokens per parameter name their C: by default the geometric mean of the accepted
budgets' C (1e19, not 10^19.5 with the rejected one).

A bootstrap draw keeps a budget unless its resample holds fewer than 3 distinct sizes or
lies wholly on one side of the vertex (8 sizes below it, 7 above): probability at most
(8/15)^15 + (7/15)^15 + 105 (2/15)^15 < 1e-4. A draw needs two of the three budgets, so it
is kept with probability above 1 - 3e-8, and then it is the exact law again.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit.isoflop import Budget, analyse_isoflop

A, K = 0.45, 0.1  # N_opt = K C^A
FLOPS = (1e18, 1e19, 1e20)
FEW = 1e21  # 3 sizes: too few
STEP = math.log(1.5)
OFFSETS = STEP * (np.arange(15) - 7.5)  # ln N - ln N_opt: 8 sizes below, 7 above
CURVE = 0.1  # loss = level + CURVE (ln N - ln N_opt)^2, so the curvature is 0.2
METHOD = ("per budget, least squares parabola of loss in ln N over the size nearest its "
          "vertex and up to 3 sizes on each side; ln N_opt and ln D_opt against ln C by "
          "least squares over the accepted budgets, each weighted by its vertex's precision "
          "(1 / Var(ln N_opt) from its parabola's covariance); bootstrap over runs within "
          "each budget (Hoffmann et al. 2022, approach 2)")


def n_opt(c: float) -> float:
    return K * c ** A


def level(c: float) -> float:
    return 3.0 - 0.1 * math.log10(c / 1e18)


def budget(c: float, offsets: np.ndarray) -> Budget:
    log_n = math.log(n_opt(c)) + offsets
    return Budget(c, c, log_n, level(c) + CURVE * offsets ** 2, math.log(c / 6) - log_n)


def accepted_block(c: float) -> dict:
    b = budget(c, OFFSETS)
    return {"flops": c, "budget_flops": c,
            "n_opt": pytest.approx(n_opt(c), rel=1e-9),
            "d_opt": pytest.approx(c / (6 * n_opt(c)), rel=1e-9),
            "loss_opt": pytest.approx(level(c), rel=1e-12),
            "curvature": pytest.approx(2 * CURVE, rel=1e-9),
            # the nearest size (one of the two either side) and 3 on each side of it
            "points": 15, "window": 7, "accepted": True,
            "n": pytest.approx(np.exp(b.log_n).tolist(), rel=1e-12),
            "loss": pytest.approx(b.loss.tolist(), rel=1e-12)}


def rejected_block() -> dict:
    b = budget(FEW, OFFSETS[6:9])
    return {"flops": FEW, "budget_flops": FEW, "n_opt": None, "d_opt": None,
            "loss_opt": None, "curvature": None, "points": 3, "window": 3, "accepted": False,
            "reason": "too_few_points", "reason_text": "3 sizes, at least 5 are needed",
            "n": pytest.approx(np.exp(b.log_n).tolist(), rel=1e-12),
            "loss": pytest.approx(b.loss.tolist(), rel=1e-12)}


def no_interval(value: float) -> dict:
    # fewer than MIN_DRAWS = 10 draws: no se and no interval
    return {"value": pytest.approx(value, rel=1e-9), "se": None, "ci_low": None,
            "ci_high": None}


def designed() -> list[Budget]:
    return [budget(c, OFFSETS) for c in FLOPS] + [budget(FEW, OFFSETS[6:9])]


@pytest.mark.parametrize("n_boot", [0, 1])
def test_the_whole_block_of_exact_slices_with_a_rejected_budget(n_boot: int) -> None:
    # n_ok counts the draws kept: none without a bootstrap, the single one with one draw
    predict = np.array([1e22])
    out = analyse_isoflop(designed(), n_boot=n_boot, seed=7, predict=predict)
    ref = 1e19  # the geometric mean of 1e18, 1e19, 1e20
    assert out == {
        "form": "isoflop", "n_points": 48,
        "budgets": [accepted_block(c) for c in FLOPS] + [rejected_block()],
        "bootstrap": {"n": n_boot, "n_ok": n_boot, "seed": 7},
        "method": METHOD, "converged": True, "message": "3 of 4 budgets accepted",
        "params": {"a_opt": no_interval(A), "b_opt": no_interval(1 - A)},
        "exponent": pytest.approx(A, rel=1e-9),
        # any two of the exact vertices give the law again: no shift
        "leave_one_out": {
            "budgets": [{"flops": c, "a_opt": pytest.approx(A, rel=1e-9),
                         "b_opt": pytest.approx(1 - A, rel=1e-9)} for c in FLOPS],
            "max_shift_a": pytest.approx(0.0, abs=1e-9),
            "max_shift_b": pytest.approx(0.0, abs=1e-9)},
        "derived": {
            "k_n": pytest.approx(K, rel=1e-9), "k_d": pytest.approx(1 / (6 * K), rel=1e-9),
            "tokens_per_param": {"flops": pytest.approx(ref, rel=1e-12),
                                 **no_interval(ref ** (1 - 2 * A) / (6 * K * K))},
            "predictions": [{"flops": 1e22, "n_opt": no_interval(n_opt(1e22)),
                             "d_opt": no_interval(1e22 / (6 * n_opt(1e22))), "loss": None}]},
    }


def test_a_given_reference_budget_names_the_tokens_per_parameter() -> None:
    got = analyse_isoflop(designed(), n_boot=0, reference=1e21)["derived"]["tokens_per_param"]
    assert got == {"flops": 1e21, **no_interval(1e21 ** (1 - 2 * A) / (6 * K * K))}


def test_without_a_law_the_block_says_why_and_the_bootstrap_defaults_to_1000() -> None:
    # one budget accepted, one with too few sizes: no line, and no bootstrap run
    out = analyse_isoflop([budget(FLOPS[0], OFFSETS), budget(FEW, OFFSETS[6:9])])
    assert out == {
        "form": "isoflop", "n_points": 18,
        "budgets": [accepted_block(FLOPS[0]), rejected_block()],
        "bootstrap": {"n": 1000, "n_ok": 0, "seed": 0},  # the CLI's --bootstrap default
        "method": METHOD, "converged": False, "params": {},
        "message": "1 budget(s) accepted; a law needs 2", "exponent": None,
        "derived": {"predictions": []},
    }
