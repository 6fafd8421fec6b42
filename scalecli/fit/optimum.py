"""The compute-optimal law shared by approaches 1 and 2: N_opt = k_N C^a, D_opt = k_D C^b.

Each approach finds points (C, N_opt, D_opt), one per FLOP budget, and fits both lines by
least squares in log-log space. Its bootstrap yields draws of (a, ln k_N, b, ln k_D); this
module turns them into fit.json's `params`, the tokens per parameter at a reference budget,
and predictions at `--predict-flops` budgets. Pure numpy, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scalecli.finite import finite

# fewer than 10 draws give percentiles that mean nothing (as analysis._interval)
MIN_DRAWS = 10


def fit_law(log_c: np.ndarray, log_n: np.ndarray, log_d: np.ndarray,
            weights: np.ndarray | None = None) -> np.ndarray:
    """(a, ln k_N, b, ln k_D): the two straight lines ln N_opt and ln D_opt against ln C,
    by least squares, each point weighted by `weights` (inverse variances; None: equal)."""
    w = None if weights is None else np.sqrt(weights)  # polyfit weighs residuals by 1/sd
    a, kn = np.polyfit(log_c, log_n, 1, w=w)
    b, kd = np.polyfit(log_c, log_d, 1, w=w)
    return np.array([a, kn, b, kd])


def interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    """The 95% percentile interval, or (None, None) with too few draws."""
    samples = samples[np.isfinite(samples)]
    if samples.size < MIN_DRAWS:
        return None, None
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return finite(lo), finite(hi)


def estimate(value: float, samples: np.ndarray) -> dict[str, float | None]:
    """{value, se, ci_low, ci_high}: se is the bootstrap sd, the CI its percentiles."""
    kept = samples[np.isfinite(samples)]
    lo, hi = interval(kept)
    se = finite(np.std(kept, ddof=1)) if kept.size >= MIN_DRAWS else None
    return {"value": finite(value), "se": se, "ci_low": lo, "ci_high": hi}


def law_params(law: np.ndarray, draws: np.ndarray) -> dict[str, dict]:
    """fit.json's params: a_opt and b_opt, the names the chinchilla form uses in `derived`."""
    return {"a_opt": estimate(law[0], draws[:, 0]), "b_opt": estimate(law[2], draws[:, 2])}


def optimal_at(law: np.ndarray, flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N_opt, D_opt) at budgets C; `law` may be one row or (S, 4) draws -> (S, len(C))."""
    law = np.atleast_2d(law)
    log_c = np.log(np.asarray(flops, dtype=float))[None, :]
    n = np.exp(law[:, 1:2] + law[:, 0:1] * log_c)
    d = np.exp(law[:, 3:4] + law[:, 2:3] * log_c)
    return n, d


def tokens_per_param(law: np.ndarray, draws: np.ndarray, flops: float,
                     at: Callable = optimal_at) -> dict:
    """D_opt / N_opt at one budget, with its interval. Unless a = b it changes with C, so
    the approaches are compared at one shared C (`compute.reference_flops`). `at(law or
    draws, C) -> (N_opt, D_opt, ...)` solves the law (default: the line pair); approach 3
    passes its own solver, with its thetas as `law` and `draws`."""
    n, d = at(law, np.array([flops]))[:2]
    ratio = float(d[0, 0] / n[0, 0])
    if draws.shape[0] == 0:
        return {"flops": finite(flops), **estimate(ratio, np.empty(0))}
    nb, db = at(draws, np.array([flops]))[:2]
    return {"flops": finite(flops), **estimate(ratio, (db / nb)[:, 0])}


def predictions(law: np.ndarray, draws: np.ndarray, flops: np.ndarray | None,
                at: Callable = optimal_at) -> list[dict]:
    """N_opt and D_opt at each `--predict-flops` budget, each {value, se, ci_low, ci_high};
    `at` as in `tokens_per_param`."""
    if flops is None or len(flops) == 0:
        return []
    n, d = at(law, flops)[:2]
    nb, db = at(draws, flops)[:2] if draws.shape[0] else (np.empty((0, len(flops))),) * 2
    return [{"flops": finite(c), "n_opt": estimate(n[0, i], nb[:, i]),
             "d_opt": estimate(d[0, i], db[:, i]), "loss": None}
            for i, c in enumerate(flops)]
