"""Approach 1 of Hoffmann et al. (2022): the lower envelope of loss against compute.

Hoffmann et al. took, at each FLOP count, the lowest loss reached by any run's curve and
the N of that run. scalecli uses each run's final point only: its cosine schedule ends
exactly at the run's last step, so an earlier point of the curve is not what a run trained
to that length would reach (the bias Chinchilla itself pointed out), and results.csv holds
final points anyway. So the envelope is over runs: the runs are grouped into budgets (as
approach 2 does), each budget keeps its lowest loss, and a budget is on the envelope when
no smaller budget reached a lower loss. N_opt = k_N C^a and D_opt = k_D C^b over the
envelope (`optimum`), with a bootstrap over the runs within each budget. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from scalecli.fit import optimum
from scalecli.fit.isoflop import Budget

MIN_ENVELOPE = 3  # a line through two points has no check


def frontier(budgets: list[Budget], counts: list[np.ndarray] | None = None
             ) -> list[tuple[float, int, int]]:
    """(C, budget index, point index) of each budget's best run when it lies on the lower
    envelope: its loss is below that of every budget with less compute. `counts` are a
    bootstrap's row counts per budget (a point drawn 0 times is not there)."""
    out: list[tuple[float, int, int]] = []
    best = np.inf
    for k in sorted(range(len(budgets)), key=lambda j: budgets[j].flops):
        b = budgets[k]
        present = np.ones(b.loss.size, bool) if counts is None else counts[k] > 0
        if not present.any():
            continue
        i = int(np.flatnonzero(present)[np.argmin(b.loss[present])])
        if b.loss[i] < best:
            best = float(b.loss[i])
            out.append((b.flops, k, i))
    return out


def law_of(budgets: list[Budget], points: list[tuple[float, int, int]]) -> np.ndarray | None:
    """(a, ln k_N, b, ln k_D) through the envelope, or None when it has too few points or
    one size throughout (then nothing says how N_opt moves)."""
    if len(points) < MIN_ENVELOPE:
        return None
    log_n = np.array([budgets[k].log_n[i] for _, k, i in points])
    if np.unique(log_n).size < 2:
        return None
    log_d = np.array([budgets[k].log_d[i] for _, k, i in points])
    return optimum.fit_law(np.log([c for c, _, _ in points]), log_n, log_d)


def analyse_envelope(budgets: list[Budget], n_boot: int = 1000, seed: int = 0,
                     predict: np.ndarray | None = None,
                     reference: float | None = None) -> dict:
    """fit.json's `fits.envelope` without the column names."""
    points = frontier(budgets)
    law = law_of(budgets, points)
    out = {"form": "envelope", "n_points": int(sum(b.loss.size for b in budgets)),
           "envelope": [{"flops": optimum.num(c), "n": optimum.num(np.exp(budgets[k].log_n[i])),
                         "d": optimum.num(np.exp(budgets[k].log_d[i])),
                         "loss": optimum.num(budgets[k].loss[i])} for c, k, i in points],
           "bootstrap": {"n": int(n_boot), "n_ok": 0, "seed": int(seed)},
           "method": ("final points of the runs; per budget the lowest loss, kept when below "
                      "every smaller budget's; ln N and ln D against ln C by least squares; "
                      "bootstrap over runs within each budget (Hoffmann et al. 2022, "
                      "approach 1)")}
    if law is None:
        return {**out, "converged": False, "params": {}, "exponent": None,
                "message": f"the envelope has {len(points)} budget(s) and "
                           f"{len({budgets[k].log_n[i] for _, k, i in points})} size(s); a "
                           f"law needs {MIN_ENVELOPE} budgets and 2 sizes",
                "derived": {"predictions": []}}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        counts = [np.bincount(rng.integers(0, b.loss.size, b.loss.size), minlength=b.loss.size)
                  for b in budgets]
        boot = law_of(budgets, frontier(budgets, counts))
        if boot is not None:
            draws.append(boot)
    draws_arr = np.array(draws).reshape(-1, 4)
    out["bootstrap"]["n_ok"] = int(draws_arr.shape[0])
    ref = reference if reference is not None else float(np.exp(np.mean(
        np.log([c for c, _, _ in points]))))
    derived = {"k_n": optimum.num(np.exp(law[1])), "k_d": optimum.num(np.exp(law[3])),
               "tokens_per_param": optimum.tokens_per_param(law, draws_arr, ref),
               "predictions": optimum.predictions(law, draws_arr, predict)}
    return {**out, "converged": True, "message": f"{len(points)} budgets on the envelope",
            "params": optimum.law_params(law, draws_arr), "exponent": optimum.num(law[0]),
            "derived": derived}
