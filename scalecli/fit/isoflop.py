"""Approach 2 of Hoffmann et al. (2022): isoFLOP profiles. Pure numpy, no I/O.

Per FLOP budget, the loss of each size is a slice through the loss surface at fixed
compute; a parabola of loss in ln N near its lowest point gives N_opt(C). Over the budgets
that pass the checks, N_opt = k_N C^a and D_opt = k_D C^b (`optimum`), each vertex
weighted by its precision (`law_from`).

Why a window. A slice that spans 100x in N is not a parabola: tiny models trained on many
tokens and huge ones on few bend away from it, and a parabola through all of them puts
its vertex where the ends pull it. Only the WINDOW_SIDE sizes on each side of the size
nearest the vertex are fitted (`window`), so points far from the minimum never enter it.

Why the checks. A parabola can open downward, or have its vertex beyond the sizes that
were sampled, and then its "minimum" is an extrapolation (public tools rarely check).
A budget is rejected, with a named reason, when it has fewer than MIN_POINTS sizes
(`too_few_points`), its curvature is not positive (`not_convex`), its vertex lies outside
the sampled sizes (`minimum_outside`), or fewer than MIN_SIDE sizes lie on either side of
the vertex (`one_sided`).

Uncertainty: a bootstrap over runs (each budget's points resampled with replacement, the
window and parabola refitted, then a and b), and a leave-one-budget-out refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalecli.finite import finite
from scalecli.fit import optimum

MIN_POINTS = 5
MIN_SIDE = 2
WINDOW_SIDE = 3  # up to 7 points: the size nearest the vertex and 3 on each side of it
REL_TOL = 0.05  # runs whose flops agree within 5% are one budget (without budget_flops)
MIN_BUDGETS = 2  # two points make a line; its interval needs more


@dataclass
class Budget:
    """One budget's points (one per size, seeds averaged), sorted by N."""

    flops: float  # C: the geometric mean of its runs' flops column
    nominal: float | None  # budget_flops, when the CSV has it
    log_n: np.ndarray
    loss: np.ndarray
    log_d: np.ndarray  # ln tokens
    n_seeds: np.ndarray | None = None  # seeds averaged into each point, where counted


@dataclass
class Vertex:
    """A parabola's result for one budget; `reason` is None when accepted."""

    log_n: float
    log_d: float
    loss: float
    curvature: float  # d^2 loss / d(ln N)^2, nats
    points: int  # sizes in the fitted window
    reason: str | None
    detail: str = ""
    # Var(ln N_opt) over the noise variance of one point: the line's weight is its inverse
    spread: float = float("nan")


def group_budgets(flops: np.ndarray, nominal: np.ndarray | None = None,
                  rel_tol: float = REL_TOL) -> list[np.ndarray]:
    """Indices of each budget, smallest C first: by `budget_flops` where it is set, else
    chains of runs whose flops agree within rel_tol of the chain's first (smallest) run."""
    order = np.argsort(flops, kind="stable")
    groups: list[list[int]] = []
    if nominal is not None and np.all(np.isfinite(nominal)):
        for value in np.unique(nominal):
            groups.append([int(i) for i in order if nominal[i] == value])
        return [np.array(g) for g in groups]
    start = None
    for i in order:
        if start is None or flops[i] > start * (1.0 + rel_tol):
            groups.append([])
            start = flops[i]
        groups[-1].append(int(i))
    return [np.array(g) for g in groups]


def parabola(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(c0, c1, c2) of y = c0 + c1 u + c2 u^2 by weighted least squares (w = row counts)."""
    design = np.column_stack([np.ones_like(u), u, u * u]) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)
    return coef


def vertex_spread(u: np.ndarray, w: np.ndarray, c1: float, c2: float) -> float:
    """Var(u_min) / sigma^2 of the vertex u_min = -c1 / (2 c2) of a least-squares parabola:
    the delta method on the coefficients' covariance sigma^2 (X'WX)^-1. In units of one
    point's noise variance, which the budgets share, so it ranks their precision: a flat
    slice (small c2, as at high C, where the reducible loss is small) or a window off-centre
    pins its vertex less well."""
    design = np.column_stack([np.ones_like(u), u, u * u])
    cov = np.linalg.pinv(design.T @ (design * w[:, None]))
    grad = np.array([0.0, -1.0 / (2 * c2), c1 / (2 * c2 * c2)])
    return float(grad @ cov @ grad)


def window(log_n: np.ndarray, loss: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Indices (into sorted sizes) of the WINDOW_SIDE sizes on each side of the vertex.

    It starts at the lowest point and is re-centred on the size nearest its parabola's
    vertex until it stops moving. Centred on the noisy argmin alone, 1% noise on a flat
    slice moves the window off the optimum and drops sizes on one side: on 7 sizes over
    +-0.6 decades that raised the sd of a from 0.035 to 0.044 over 200 seeds, with no bias
    either way (bench/isoflop_window.py). Re-centred, a well-centred design keeps every
    size, and sizes far from the optimum still stay out."""
    w = np.ones(log_n.size) if w is None else w
    centre, seen = int(np.argmin(loss)), set()
    while True:
        keep = np.arange(max(0, centre - WINDOW_SIDE), min(log_n.size, centre + WINDOW_SIDE + 1))
        if keep.size < 3:
            return keep
        mid = float(log_n[keep].mean())
        _, c1, c2 = parabola(log_n[keep] - mid, loss[keep], w[keep])
        if not c2 > 0:
            return keep
        nearest = int(np.argmin(np.abs(log_n - (mid - c1 / (2 * c2)))))
        if nearest == centre or nearest in seen:  # settled, or a cycle: stop where it is
            return keep
        seen.add(centre)
        centre = nearest


def fit_vertex(b: Budget, counts: np.ndarray | None = None, strict: bool = True) -> Vertex:
    """The windowed parabola of one budget and the verdict of the checks.

    `counts` are a bootstrap resample's row counts (None: every point once). A resample has
    fewer distinct sizes than the design by construction, so with `strict=False` only the
    shape checks apply (positive curvature, vertex inside the sampled sizes)."""
    w = np.ones(b.log_n.size) if counts is None else counts.astype(float)
    present = np.flatnonzero(w > 0)
    nan = float("nan")
    if strict and present.size < MIN_POINTS:
        return Vertex(nan, nan, nan, nan, int(present.size), "too_few_points",
                      f"{present.size} sizes, at least {MIN_POINTS} are needed")
    if present.size < 3:  # a parabola has three coefficients
        return Vertex(nan, nan, nan, nan, int(present.size), "too_few_points", "")
    keep = present[window(b.log_n[present], b.loss[present], w[present])]
    centre = float(b.log_n[keep].mean())  # centred, so the normal equations stay conditioned
    u = b.log_n[keep] - centre
    c0, c1, c2 = parabola(u, b.loss[keep], w[keep])
    if not c2 > 0:
        return Vertex(nan, nan, nan, 2 * c2, keep.size, "not_convex",
                      f"the parabola opens downward (curvature {2 * c2:.3g})")
    u_min = -c1 / (2 * c2)
    log_n = centre + u_min
    lo, hi = b.log_n[present].min(), b.log_n[present].max()
    # D at the vertex: interpolated in log-log between the runs' own tokens, so D_opt is
    # C / (flops per token at N_opt) in the flops column's own count. C / (6 N) would mix in
    # a second convention: at these sizes the embeddings and attention make flops per token
    # 1.2x to 2.3x 6N (DESIGN.md). With C = 6ND the two agree exactly.
    log_d = float(np.interp(log_n, b.log_n, b.log_d))
    vertex = Vertex(float(log_n), log_d, float(c0 - c1 * c1 / (4 * c2)),
                    float(2 * c2), int(keep.size), None,
                    spread=vertex_spread(u, w[keep], c1, c2))
    if not lo <= log_n <= hi:
        vertex.reason = "minimum_outside"
        vertex.detail = (f"the vertex N = {np.exp(log_n):.3g} lies outside the sampled sizes "
                         f"{np.exp(lo):.3g} to {np.exp(hi):.3g}")
    elif strict:
        left = int(np.sum(b.log_n[present] < log_n))
        right = int(np.sum(b.log_n[present] > log_n))
        if min(left, right) < MIN_SIDE:
            vertex.reason = "one_sided"
            vertex.detail = (f"{left} sizes below and {right} above the vertex; at least "
                             f"{MIN_SIDE} are needed on each side")
    return vertex


def residual_sd(budgets: list[Budget]) -> float | None:
    """The scatter of the points about their budgets' windowed parabolas: sqrt(RSS / dof)
    pooled over the budgets, or None when no window has more than 3 points. It holds the
    noise of a point and the parabola's misfit (0.018 nats on an exact Chinchilla law with
    7 sizes 3x apart, about 0.6% of the loss), so it errs wide."""
    rss, dof = 0.0, 0
    for b in budgets:
        if b.log_n.size < 4:
            continue
        keep = window(b.log_n, b.loss)  # 4 or more: the centre and 3 on its wider side
        u = b.log_n[keep] - b.log_n[keep].mean()
        coef = parabola(u, b.loss[keep], np.ones(keep.size))
        rss += float(np.sum((b.loss[keep] - (coef[0] + coef[1] * u + coef[2] * u * u)) ** 2))
        dof += keep.size - 3
    return float(np.sqrt(rss / dof)) if dof else None


def law_from(budgets: list[Budget], vertices: list[Vertex]) -> np.ndarray | None:
    """(a, ln k_N, b, ln k_D) over the accepted vertices, or None with too few.

    Each vertex weighs by its precision, 1 / Var(ln N_opt) (`vertex_spread`): at high C the
    slice is flatter in nats, so under the same noise its vertex is looser, and an
    unweighted line lets it pull a as hard as the sharp ones. On 5 budgets with 7 sizes
    over +-0.6 decades and 1% noise this lowered the sd of a from 0.035 to 0.031 over 200
    seeds (bench/isoflop_window.py). ln D_opt is interpolated at ln N_opt, so its line
    takes the same weights."""
    ok = [(b, v) for b, v in zip(budgets, vertices, strict=True) if v.reason is None]
    if len(ok) < MIN_BUDGETS:
        return None
    spread = np.array([v.spread for _, v in ok])
    weights = 1.0 / spread if np.all(np.isfinite(spread) & (spread > 0)) else None
    return optimum.fit_law(np.log([b.flops for b, _ in ok]), np.array([v.log_n for _, v in ok]),
                           np.array([v.log_d for _, v in ok]), weights)


def bootstrap(budgets: list[Budget], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_ok, 4) draws of the law: each budget's runs resampled with replacement, its
    parabola refitted, a and b refitted. A budget whose refit fails the shape checks sits
    that draw out; a draw with fewer than MIN_BUDGETS budgets left is skipped."""
    draws = []
    for _ in range(n_boot):
        vertices = []
        for b in budgets:
            counts = np.bincount(rng.integers(0, b.log_n.size, b.log_n.size),
                                 minlength=b.log_n.size)
            vertices.append(fit_vertex(b, counts, strict=False))
        law = law_from(budgets, vertices)
        if law is not None and np.all(np.isfinite(law)):
            draws.append(law)
    return np.array(draws).reshape(-1, 4)


def leave_one_out(budgets: list[Budget], vertices: list[Vertex], law: np.ndarray) -> dict:
    """a and b refitted without each accepted budget in turn (needs three or more)."""
    ok = [i for i, v in enumerate(vertices) if v.reason is None]
    if len(ok) <= MIN_BUDGETS:
        return {"budgets": [], "max_shift_a": None, "max_shift_b": None}
    rows = []
    for i in ok:
        rest = [k for k in ok if k != i]
        refit = law_from([budgets[k] for k in rest], [vertices[k] for k in rest])
        rows.append({"flops": finite(budgets[i].flops), "a_opt": finite(refit[0]),
                     "b_opt": finite(refit[2])})
    return {"budgets": rows,
            "max_shift_a": finite(max(abs(r["a_opt"] - law[0]) for r in rows)),
            "max_shift_b": finite(max(abs(r["b_opt"] - law[2]) for r in rows))}


def budget_json(b: Budget, v: Vertex) -> dict:
    """One entry of fit.json's `budgets`."""
    out = {"flops": finite(b.flops), "budget_flops": finite(b.nominal),
           "n_opt": finite(np.exp(v.log_n)), "d_opt": finite(np.exp(v.log_d)),
           "loss_opt": finite(v.loss), "curvature": finite(v.curvature),
           "points": int(b.log_n.size), "window": v.points, "accepted": v.reason is None}
    if v.reason is not None:
        out.update(reason=v.reason, reason_text=v.detail)
    # the points themselves, so that the report draws the slice and its parabola
    out["n"] = [finite(x) for x in np.exp(b.log_n)]
    out["loss"] = [finite(x) for x in b.loss]
    return out


def analyse_isoflop(budgets: list[Budget], n_boot: int = 1000, seed: int = 0,
                    predict: np.ndarray | None = None,
                    reference: float | None = None) -> dict:
    """fit.json's `fits.isoflop` without the column names: params a_opt and b_opt, the
    budgets with their verdicts, the leave-one-budget-out check and predictions."""
    vertices = [fit_vertex(b) for b in budgets]
    law = law_from(budgets, vertices)
    accepted = [b for b, v in zip(budgets, vertices, strict=True) if v.reason is None]
    out = {"form": "isoflop", "n_points": int(sum(b.log_n.size for b in budgets)),
           "budgets": [budget_json(b, v) for b, v in zip(budgets, vertices, strict=True)],
           "bootstrap": {"n": int(n_boot), "n_ok": 0, "seed": int(seed)},
           "method": (f"per budget, least squares parabola of loss in ln N over the size "
                      f"nearest its vertex and up to {WINDOW_SIDE} sizes on each side; ln "
                      "N_opt and ln D_opt against ln C by least squares over the accepted "
                      "budgets, each weighted by its vertex's precision (1 / Var(ln N_opt) "
                      "from its parabola's covariance); bootstrap over "
                      "runs within each budget (Hoffmann et al. 2022, approach 2)")}
    if law is None:
        return {**out, "converged": False, "params": {},
                "message": f"{len(accepted)} budget(s) accepted; a law needs {MIN_BUDGETS}",
                "exponent": None, "derived": {"predictions": []}}
    draws = bootstrap(accepted, n_boot, np.random.default_rng(seed)) if n_boot > 0 \
        else np.empty((0, 4))
    out["bootstrap"]["n_ok"] = int(draws.shape[0])
    ref = reference if reference is not None else float(np.exp(np.mean(
        np.log([b.flops for b in accepted]))))
    derived = {"k_n": finite(np.exp(law[1])), "k_d": finite(np.exp(law[3])),
               "tokens_per_param": optimum.tokens_per_param(law, draws, ref),
               "predictions": optimum.predictions(law, draws, predict)}
    return {**out, "converged": True, "message": f"{len(accepted)} of {len(budgets)} budgets "
            "accepted", "params": optimum.law_params(law, draws), "exponent": finite(law[0]),
            "leave_one_out": leave_one_out(budgets, vertices, law), "derived": derived}
