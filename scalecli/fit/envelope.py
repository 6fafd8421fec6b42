"""Approach 1 of Hoffmann et al. (2022): the lower envelope of loss against compute.

Hoffmann et al. took, at each FLOP count, the lowest loss reached by any run's curve and
the N of that run. scalecli uses each run's final point only: its cosine schedule ends
exactly at the run's last step, so an earlier point of the curve is not what a run trained
to that length would reach (the bias Chinchilla itself pointed out), and results.csv holds
final points anyway. So the envelope is over runs: the runs are grouped into budgets (as
approach 2 does), each budget keeps its lowest loss, and a budget is on the envelope when
no smaller budget reached a lower loss. N_opt = k_N C^a and D_opt = k_D C^b over the
envelope (`optimum`). Pure numpy.

Its interval comes from the noise of the losses at fixed sizes (a parametric bootstrap):
each draw adds N(0, sd^2 / n_seeds) to each point's loss and takes the envelope again, with
sd the pooled seed sd where the CSV has seeds, else the scatter of the isoFLOP parabolas
about their points (`isoflop.residual_sd`). Resampling the runs instead (the old bootstrap)
drops a budget's winning size from a third of the draws, and N_opt then jumps to a
neighbour whatever the noise: on an exact law it gave a = 0.452 [0.15, 0.75].
"""

from __future__ import annotations

import numpy as np

from scalecli.finite import finite
from scalecli.fit import optimum
from scalecli.fit.isoflop import Budget, residual_sd

MIN_ENVELOPE = 3  # a line through two points has no check


def frontier(budgets: list[Budget], losses: list[np.ndarray] | None = None
             ) -> list[tuple[float, int, int]]:
    """(C, budget index, point index) of each budget's best run when it lies on the lower
    envelope: its loss is below that of every budget with less compute. `losses` replace
    the budgets' own (a bootstrap draw's)."""
    out: list[tuple[float, int, int]] = []
    best = np.inf
    for k in sorted(range(len(budgets)), key=lambda j: budgets[j].flops):
        loss = budgets[k].loss if losses is None else losses[k]
        i = int(np.argmin(loss))
        if loss[i] < best:
            best = float(loss[i])
            out.append((budgets[k].flops, k, i))
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


def noise_of(budgets: list[Budget], seed_sd: float | None,
             n_seeds: list[np.ndarray] | None) -> tuple[list[np.ndarray] | None, str]:
    """(sd of each point's loss per budget, where it comes from), or (None, why not)."""
    if seed_sd is not None and n_seeds is not None:
        return ([seed_sd / np.sqrt(k) for k in n_seeds],
                f"the pooled seed sd {seed_sd:.3g} / sqrt(seeds of the point)")
    sd = residual_sd(budgets)
    if sd is None:
        return None, "no seeds and no isoFLOP parabola with residuals to measure the noise"
    return ([np.full(b.loss.size, sd) for b in budgets],
            f"the isoFLOP parabolas' residual sd {sd:.3g} (no seeds)")


def analyse_envelope(budgets: list[Budget], n_boot: int = 1000, seed: int = 0,
                     predict: np.ndarray | None = None,
                     reference: float | None = None, seed_sd: float | None = None,
                     n_seeds: list[np.ndarray] | None = None) -> dict:
    """fit.json's `fits.envelope` without the column names. `seed_sd` is the pooled seed sd
    of the loss and `n_seeds` the seeds of each point per budget, where the CSV has seeds."""
    points = frontier(budgets)
    law = law_of(budgets, points)
    sds, noise = noise_of(budgets, seed_sd, n_seeds)
    out = {"form": "envelope", "n_points": int(sum(b.loss.size for b in budgets)),
           "envelope": [{"flops": finite(c), "n": finite(np.exp(budgets[k].log_n[i])),
                         "d": finite(np.exp(budgets[k].log_d[i])),
                         "loss": finite(budgets[k].loss[i])} for c, k, i in points],
           "bootstrap": {"n": int(n_boot), "n_ok": 0, "seed": int(seed)},
           "method": ("final points of the runs; per budget the lowest loss, kept when below "
                      "every smaller budget's; ln N and ln D against ln C by least squares "
                      "(Hoffmann et al. 2022, approach 1); interval: each point's loss plus "
                      f"normal noise of {noise}, the envelope taken again")}
    if law is None:
        return {**out, "converged": False, "params": {}, "exponent": None,
                "message": f"the envelope has {len(points)} budget(s) and "
                           f"{len({budgets[k].log_n[i] for _, k, i in points})} size(s); a "
                           f"law needs {MIN_ENVELOPE} budgets and 2 sizes",
                "derived": {"predictions": []}}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot if sds is not None else 0):
        losses = [b.loss + sd * rng.standard_normal(b.loss.size)
                  for b, sd in zip(budgets, sds, strict=True)]
        boot = law_of(budgets, frontier(budgets, losses))
        if boot is not None:
            draws.append(boot)
    draws_arr = np.array(draws).reshape(-1, 4)
    out["bootstrap"]["n_ok"] = int(draws_arr.shape[0])
    ref = reference if reference is not None else float(np.exp(np.mean(
        np.log([c for c, _, _ in points]))))
    derived = {"k_n": finite(np.exp(law[1])), "k_d": finite(np.exp(law[3])),
               "tokens_per_param": optimum.tokens_per_param(law, draws_arr, ref),
               "predictions": optimum.predictions(law, draws_arr, predict)}
    return {**out, "converged": True, "message": f"{len(points)} budgets on the envelope",
            "params": optimum.law_params(law, draws_arr), "exponent": finite(law[0]),
            "derived": derived}
