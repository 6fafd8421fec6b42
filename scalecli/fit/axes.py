"""Laws along D and C, not N: `--x tokens` on several sizes, `--x flops` on the frontier.

`--x tokens` (the --d column as x) on runs of several sizes: a law of loss in D holds at
one N, so each size with a token grid gets its own fit (`by_size`, its exponent the data
exponent at that size); the fit over every run pools sizes whose losses differ at the same
D, and says so in its caveat. `--x flops` (a compute column as x): the loss that C buys is
the lowest that any run reached with at most that compute, so the fit takes the compute
frontier, each run whose loss is below that of every run with less compute (Kaplan et al.
2020's L(C_min)), not the runs that spent C on a size too large or too small for it. The
frontier is over budgets, not runs: the runs of one budget differ in C by their tokens'
rounding to whole steps (under 1%), and a run is no better a point of L(C) for spending
0.5% more. So each budget (`budget_flops`, else C within FRONTIER_REL_TOL) gives at most one
point, its best run, at the budget's C. Pure numpy on the driver's arrays, one point per
configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scalecli.errors import ScaleError
from scalecli.finite import finite
from scalecli.fit import seeds
from scalecli.fit.isoflop import REL_TOL, group_budgets

COMPUTE_X = ("flops", "flops_6nd")
FRONTIER_METHOD = ("; fitted on the compute frontier: per FLOP budget its best run, at the "
                   "budget's C, kept when its loss is below that of every smaller budget "
                   "(Kaplan et al. 2020, L(C_min))")
# Runs whose C agree within 5% are one budget, as for approach 2 (`isoflop.REL_TOL`):
# rounding tokens to whole optimiser steps moves C by 1-2% at the largest size of a
# budget (its fewest steps), and the budgets of a design are further apart than 5%.
FRONTIER_REL_TOL = REL_TOL
SIZE_COLUMNS = ("params_non_embedding", "params")  # the N a size is shown by, first found


def frontier_points(c: np.ndarray, y: np.ndarray, nominal: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(indices, C): per budget on the lower envelope of y against C, its lowest-y point
    and the budget's C (the geometric mean of its points' C), in ascending index order.
    Budgets are `budget_flops` (`nominal`) where every point has one, else C within
    FRONTIER_REL_TOL. y may be loss or perplexity: a monotone map has the same frontier."""
    found, best = [], np.inf
    for g in group_budgets(c, nominal, FRONTIER_REL_TOL):  # smallest C first
        i = int(g[np.argmin(y[g])])
        if y[i] < best:
            found.append((i, float(np.exp(np.mean(np.log(c[g]))))))
            best = float(y[i])
    found.sort()
    return (np.array([i for i, _ in found], dtype=int),
            np.array([v for _, v in found], dtype=float))


def frontier(c: np.ndarray, y: np.ndarray, nominal: np.ndarray | None = None) -> np.ndarray:
    """Indices (ascending) of the frontier's points, one per budget (`frontier_points`)."""
    return frontier_points(c, y, nominal)[0]


def nominal_budgets(rows: list[dict[str, str]], header: list[str], lad: seeds.Ladder
                    ) -> np.ndarray | None:
    """budget_flops per point (NaN where blank), or None when the CSV has no such column."""
    if "budget_flops" not in header:
        return None
    return lad.first(np.array([seeds.cell(r, "budget_flops") for r in rows]))


def on_frontier(form: str, x_col: str, x: np.ndarray, y: np.ndarray, need: int,
                nominal: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`frontier_points` (indices, each budget's C), or a ScaleError when they are fewer
    than the form needs."""
    keep, c = frontier_points(x, y, nominal)
    if keep.size < need:
        budgets = len(group_budgets(x, nominal, FRONTIER_REL_TOL))
        raise ScaleError(f"the compute frontier of {x_col!r} has {keep.size} of {x.size} "
                         f"points ({budgets} FLOP budgets); the {form} form needs at least "
                         f"{need}. Runs that trade N against D at each budget (an isoFLOP or "
                         "token grid) widen it")
    return keep, c


def level_on(level: Callable | None, keep: np.ndarray) -> Callable | None:
    """The power bootstrap's seed level (`seeds.seed_level`) for the kept points only."""
    if level is None:
        return None

    def kept(n_boot: int, rng: np.random.Generator) -> np.ndarray | None:
        drawn = level(n_boot, rng)
        return None if drawn is None else drawn[:, keep]
    return kept


def sizes(rows: list[dict[str, str]], header: list[str], lad: seeds.Ladder
          ) -> tuple[np.ndarray, np.ndarray]:
    """(label, N) per point: the model name (else N) and the first SIZE_COLUMNS there is."""
    column = next((c for c in SIZE_COLUMNS if c in header), None)
    n = lad.first(np.array([seeds.cell(r, column) if column else np.nan for r in rows]))
    names = lad.first(np.array([r.get("model") or "" for r in rows], dtype=object))
    labels = np.array([str(m) if m else f"{v:g}" for m, v in zip(names, n, strict=True)],
                      dtype=object)
    return labels, n


def by_size(form: str, x: np.ndarray, y: np.ndarray, labels: np.ndarray, n: np.ndarray,
            need: int, fit_one: Callable[[np.ndarray, np.ndarray], dict]) -> list[dict]:
    """One entry per size, smallest N first: its fit along x (`fit_one`), or why not."""
    out = []
    order = sorted(set(labels), key=lambda s: (np.nanmin(n[labels == s]), str(s)))
    for size in order:
        g = np.flatnonzero(labels == size)
        entry = {"size": str(size), "n": finite(n[g[0]]), "n_points": int(g.size)}
        if g.size < need or np.unique(x[g]).size < 2:
            out.append({**entry, "converged": False, "exponent": None, "params": {},
                        "message": f"{np.unique(x[g]).size} distinct x; the {form} form "
                                   f"needs {need} points"})
            continue
        result = fit_one(x[g], y[g])
        out.append({**entry, **{k: result[k] for k in (
            "converged", "message", "exponent", "params", "r2_log", "rmse_log",
            "extrapolation_note")}})
    return out


def pooled_caveat(entries: list[dict], x_col: str) -> str:
    return (f"this fit pools {len(entries)} sizes, whose losses differ at the same "
            f"{x_col}; the data exponent of each size is in by_size")


