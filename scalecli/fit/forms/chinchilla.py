"""The Chinchilla law L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, approach 3).

A law in two variables, fitted point by point like the 1-D laws, and a compute-optimal
approach: N_opt(C) minimises L(N, C / flops_per_token(N)) on the compute column's C
(`chinchilla.compute_optimal`). The maths stays in `scalecli.fit.chinchilla`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from scalecli.finite import finite
from scalecli.fit import optimum
from scalecli.fit.flops_per_token import FlopsPerToken, method_text
from scalecli.fit.forms.base import LawForm
from scalecli.fit.laws import FitResult


def _maths():
    """scalecli.fit.chinchilla, imported when first used: it loads scipy, and the CLI
    reads the registry for --help."""
    from scalecli.fit import chinchilla

    return chinchilla


class Chinchilla(LawForm):
    name = "chinchilla"
    title = "Chinchilla law (approach 3, parametric)"
    formula = "{y} = E + A / N^alpha + B / D^beta   (N = {x}, D = {d})"
    doc = ("Sum of Huber(delta = 1e-3) on log residuals, log L_hat = LSE(a - alpha log N, "
           "b - beta log D, e), by L-BFGS-B from the best points of a 4,500-point grid "
           "(Hoffmann et al. 2022; Besiroglu et al. 2024); bootstrap over runs. Derives the "
           "compute-optimal N_opt, D_opt and loss at --predict FLOP budgets, solved on the "
           "compute column's C.")
    param_names = ("E", "A", "B", "alpha", "beta")
    x = "params"  # every parameter, as C (the flops column) counts them
    reads_d = compute = in_all = True
    approach = "3: parametric"
    directness = 2
    band = False
    # Each refit is an L-BFGS-B run, so the holdout check's interval costs at most this
    # many more (a 95% interval from 200 draws moves by a few percent of its width).
    holdout_boot = 200
    marker, colour = "^", "C4"

    def fit(self, x, y, d=None) -> FitResult:
        return _maths().fit_chinchilla(x, d, y)

    def predict(self, theta, x, d=None) -> np.ndarray:
        return _maths().chinchilla_predict(theta, x, d)

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        return _maths().bootstrap_chinchilla(x, d, y, point, n_boot, rng)

    def derived(self, point, boots, predict, reference=None, fpt=None) -> dict:
        """The compute-optimal split on C = fpt(N) D (`chinchilla.compute_optimal`)."""
        budgets = np.asarray(predict if predict is not None else [], dtype=float)
        opt = _maths().compute_optimal(point.theta, budgets, fpt)
        derived = {key: finite(opt[key]) for key in ("a_opt", "b_opt", "G")}
        derived["optimal"] = [{"C": finite(c), "N_opt": finite(n), "D_opt": finite(dd)}
                              for c, n, dd in zip(budgets, opt["N_opt"], opt["D_opt"],
                                                  strict=True)]
        derived.update(optimum_intervals(point, boots, predict, reference, fpt))
        return derived

    def predictions(self, point, boots, predict, fpt=None):
        """L_opt at each --predict FLOP budget: the values are C, not N."""
        optimal_many = _maths().optimal_many
        return optimal_many(point.theta, predict, fpt)[2][0], optimal_many(boots, predict, fpt)[2]

    def method_suffix(self, fpt) -> str:
        return "; " + method_text(fpt)

    def approach_row(self, fit: Mapping) -> tuple[dict, list | None]:
        derived = fit.get("derived") or {}
        return derived.get("intervals") or {}, derived.get("compute_optimal")


def optimum_intervals(point: FitResult, boots: np.ndarray, predict: np.ndarray | None,
                      reference: float | None, fpt: FlopsPerToken | None = None) -> dict:
    """The chinchilla law as approaches 1 and 2 report theirs (`optimum`): a_opt and b_opt
    with intervals, tokens per parameter at `reference` FLOPs, N_opt, D_opt and L_opt at
    each `predict` budget, so that `fit --form compute` can put the three side by side.
    All on C = fpt(N) D (None: 6 N D), solved at each budget, each bootstrap theta alike."""
    chinchilla_laws, optimal_many = _maths().chinchilla_laws, _maths().optimal_many
    boots = boots.reshape(-1, 5)
    law, draws = chinchilla_laws(point.theta, fpt)[0], chinchilla_laws(boots, fpt)
    out: dict = {"intervals": optimum.law_params(law, draws)}
    at = partial(optimal_many, fpt=fpt)  # solved at each budget, not read off the line
    if reference is not None:
        out["tokens_per_param"] = optimum.tokens_per_param(point.theta, boots, reference, at)
    rows = optimum.predictions(point.theta, boots, predict, at)
    if rows:  # and L_opt, which approaches 1 and 2 do not give
        loss, samples = at(point.theta, predict)[2], at(boots, predict)[2]
        for i, row in enumerate(rows):
            row["loss"] = optimum.estimate(loss[0, i], samples[:, i])
    out["compute_optimal"] = rows
    return out


FORM = Chinchilla()
