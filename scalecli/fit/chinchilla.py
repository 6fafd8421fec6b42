"""The Chinchilla law L = E + A / N^alpha + B / D^beta: model function, fit, bootstrap.

log L_hat = LSE(a - alpha log N, b - beta log D, e); the fit minimises the SUM of
Huber_1e-3(log L_hat - log L) by L-BFGS-B from a 4,500-point grid and keeps the best
(Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", Appendix D.2;
Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", who show that the
sum, not the mean, matters). Pure numpy/scipy, no I/O.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from scalecli.fit.flops_per_token import FlopsPerToken, law_budgets
from scalecli.fit.laws import FitResult

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, Appendix D.2

# ------------------------------------------------------------------------ chinchilla
# Internal parameters p = (a, b, e, alpha, beta) with A = exp(a), B = exp(b), E = exp(e),
# the parametrisation of Hoffmann et al. 2022 (Appendix D.2), which keeps A, B, E > 0.


def chinchilla_grid() -> np.ndarray:
    """The 4,500 starts of Hoffmann et al. 2022: (a, b, e, alpha, beta) per row."""
    alphas = np.arange(0.0, 2.0 + 1e-9, 0.5)
    es = np.arange(-1.0, 1.0 + 1e-9, 0.5)
    abs_ = np.arange(0.0, 25.0 + 1e-9, 5.0)
    grid = itertools.product(abs_, abs_, es, alphas, alphas)
    return np.array(list(grid), dtype=float)


def chinchilla_log_predict(p: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """log L_hat = LSE(a - alpha log N, b - beta log D, e)."""
    a, b, e, alpha, beta = p
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    return logsumexp(terms, axis=0)


def chinchilla_objective(
    p: np.ndarray,
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_l: np.ndarray,
    weights: np.ndarray | None = None,
    delta: float = HUBER_DELTA,
) -> tuple[float, np.ndarray]:
    """Sum of Huber losses of the log residuals, and its analytic gradient.

    The gradient of LSE is the softmax of its terms, so each term's share s_k of the
    predicted loss carries the residual back to its own parameters. `weights` are row
    counts of a bootstrap resample (None = every row once).
    """
    a, b, e, alpha, beta = p
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    m = np.maximum(np.maximum(t1, t2), e)
    x1, x2, x3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    total = x1 + x2 + x3
    r = m + np.log(total) - log_l
    ar = np.abs(r)
    quad = ar <= delta
    loss = np.where(quad, 0.5 * r * r, delta * (ar - 0.5 * delta))
    psi = np.clip(r, -delta, delta)  # Huber derivative
    if weights is not None:
        loss = loss * weights
        psi = psi * weights
    g1, g2, g3 = psi * x1 / total, psi * x2 / total, psi * x3 / total
    # Elementwise sums, not `@`: a BLAS dot on 240 numbers gains nothing, and OpenBLAS
    # threads that spin-wait on a busy 2-core machine made each call ~100x slower.
    grad = np.array(
        [g1.sum(), g2.sum(), g3.sum(), -(g1 * log_n).sum(), -(g2 * log_d).sum()]
    )
    return float(loss.sum()), grad


def chinchilla_objective_many(
    ps: np.ndarray,
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_l: np.ndarray,
    delta: float = HUBER_DELTA,
) -> np.ndarray:
    """The objective at many parameter vectors at once: ps (S, 5) -> (S,), no Python loop."""
    t1 = ps[:, 0:1] - ps[:, 3:4] * log_n  # (S, n)
    t2 = ps[:, 1:2] - ps[:, 4:5] * log_d  # (S, n)
    r = np.logaddexp(np.logaddexp(t1, t2), ps[:, 2:3]) - log_l
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum(axis=1)


CHINCHILLA_TOP_STARTS = 64  # L-BFGS-B runs from this many best grid points, not all 4,500


def _scaled_objective(p, log_n, log_d, log_l, weights):
    """The objective divided by delta, for the optimiser only (same minimiser).

    L-BFGS-B stops when the drop in f is below 2.2e-9 * max(|f|, 1). The Huber sum is
    about 1e-3 at the optimum, so unscaled that test is absolute and stops ~1e-6 short;
    scaled by 1/delta (f ~ sum |r|) it is relative, as intended.
    """
    f, g = chinchilla_objective(p, log_n, log_d, log_l, weights)
    return f / HUBER_DELTA, g / HUBER_DELTA


def _lbfgsb(p0, log_n, log_d, log_l, weights=None, tight: bool = False):
    """One L-BFGS-B run with the analytic gradient; `tight` polishes to ~1e-15 relative.

    The returned `fun` is the unscaled objective.
    """
    options = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000} if tight else {}
    res = minimize(
        _scaled_objective,
        p0,
        args=(log_n, log_d, log_l, weights),
        jac=True,
        method="L-BFGS-B",
        options=options,
    )
    res.fun = float(res.fun) * HUBER_DELTA
    return res


def chinchilla_to_natural(p: np.ndarray) -> np.ndarray:
    """(a, b, e, alpha, beta) -> (E, A, B, alpha, beta)."""
    a, b, e, alpha, beta = p
    return np.array([np.exp(e), np.exp(a), np.exp(b), alpha, beta])


def fit_chinchilla_internal(
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_l: np.ndarray,
    grid: np.ndarray | None = None,
    top: int = CHINCHILLA_TOP_STARTS,
):
    """The best L-BFGS-B optimum over the grid, as (scipy result, starts ranked by f0).

    Running L-BFGS-B from all 4,500 starts (as Hoffmann et al. describe) mostly
    rediscovers the same few optima. We evaluate the objective at every start in one
    vectorised pass, run L-BFGS-B with the analytic gradient from the `top` best starts
    only, and polish the winner with tight tolerances. bench/fit_speed.py checks that this
    reaches the same optimum as the full loop.
    """
    grid = chinchilla_grid() if grid is None else grid
    f0 = chinchilla_objective_many(grid, log_n, log_d, log_l)
    f0 = np.where(np.isfinite(f0), f0, np.inf)
    ranked = np.argsort(f0, kind="stable")
    best = None
    for i in ranked[:top]:
        res = _lbfgsb(grid[i], log_n, log_d, log_l)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    polished = _lbfgsb(best.x, log_n, log_d, log_l, tight=True)
    if np.isfinite(polished.fun) and polished.fun <= best.fun:
        # A polish that ends on a Huber kink may stop "abnormally" after improving; the
        # first run's verdict on convergence still stands.
        polished.success = bool(polished.success or best.success)
        best = polished
    return best, grid[ranked]


def fit_chinchilla(n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> FitResult:
    """Fit L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022; Besiroglu et al. 2024)."""
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(loss)
    res, ranked = fit_chinchilla_internal(log_n, log_d, log_l)
    ok = bool(res.success) and np.all(np.isfinite(res.x))
    message = str(res.message) if not ok else "L-BFGS-B converged"
    return FitResult(
        form="chinchilla",
        theta=chinchilla_to_natural(res.x),
        converged=ok,
        message=message,
        method=(
            f"sum of Huber(delta={HUBER_DELTA}) on log residuals; L-BFGS-B with analytic "
            f"gradient from the {CHINCHILLA_TOP_STARTS} best of the 4,500-point grid "
            "(Hoffmann et al. 2022; Besiroglu et al. 2024)"
        ),
        extra={"internal": res.x, "objective": float(res.fun), "ranked_starts": ranked[:4]},
    )


def bootstrap_chinchilla(
    n: np.ndarray,
    d: np.ndarray,
    loss: np.ndarray,
    point: FitResult,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Refit on resampled rows, warm-started from the point estimate plus 2 grid starts.

    A resample is a vector of row counts, used as weights, so no data are copied. Each
    refit keeps the best of 3 L-BFGS-B runs. Resamples with a single distinct N or D
    cannot separate the terms and are skipped; the count skipped or failed is returned.
    """
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(loss)
    starts = [point.extra["internal"], *point.extra["ranked_starts"][:2]]
    thetas, skipped = [], 0
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n.size, n.size), minlength=n.size).astype(float)
        used = counts > 0
        if np.unique(log_n[used]).size < 2 or np.unique(log_d[used]).size < 2:
            skipped += 1
            continue
        best = None
        for p0 in starts:
            res = _lbfgsb(p0, log_n, log_d, log_l, counts)
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        if best is None or not np.all(np.isfinite(best.x)):
            skipped += 1
            continue
        thetas.append(chinchilla_to_natural(best.x))
    return np.array(thetas).reshape(-1, 5), skipped


def chinchilla_predict(theta: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """L = E + A/N^alpha + B/D^beta."""
    e_, a_, b_, alpha, beta = theta
    return e_ + a_ / np.power(n, alpha) + b_ / np.power(d, beta)


def compute_optimal(theta: np.ndarray, flops: np.ndarray,
                    fpt: FlopsPerToken | None = None) -> dict[str, np.ndarray]:
    """Compute-optimal allocation at budgets C (Hoffmann et al. 2022, Eq. 4 and D.2).

    fpt None, C = 6 N D: the closed form a_opt = beta/(alpha+beta), b_opt = 1 - a_opt,
    G = (alpha A / (beta B))^(1/(alpha+beta)), N_opt = G (C/6)^a_opt, D_opt = (C/6)/N_opt.
    With `fpt`, C = f(N) D as the compute column counts it: N_opt minimises L(N, C / f(N))
    (`optimal_log_n`), D_opt = C / f(N_opt), and a_opt, b_opt are the slopes of
    `chinchilla_law` over the runs' C. G stays the closed form's coefficient.
    """
    _, a_, b_, alpha, beta = theta
    s = alpha + beta
    g = (alpha * a_ / (beta * b_)) ** (1.0 / s)
    n_opt, d_opt, l_opt = (v[0] for v in optimal_many(np.asarray(theta)[None, :],
                                                      np.asarray(flops, dtype=float), fpt))
    law = chinchilla_law(theta, fpt)
    return {"a_opt": law[0], "b_opt": law[2], "G": g, "N_opt": n_opt, "D_opt": d_opt,
            "L_opt": l_opt}


def _columns(thetas: np.ndarray) -> tuple[np.ndarray, ...]:
    """E, A, B, alpha, beta of (S, 5) thetas, each (S, 1), to broadcast over budgets."""
    return tuple(thetas[:, k:k + 1] for k in range(5))


def _reducible(thetas: np.ndarray, log_n: np.ndarray, log_c: np.ndarray,
               fpt: FlopsPerToken) -> np.ndarray:
    """A/N^alpha + B/D^beta at D = C / f(N): L - E along the budget (E changes no argmin,
    and leaving it out keeps the small differences that the search compares)."""
    _, a_, b_, alpha, beta = (v[..., None] if log_n.ndim == 3 else v
                              for v in _columns(thetas))
    log_d = log_c - np.log(6.0) - log_n - fpt.log_ratio_at(log_n)
    return a_ * np.exp(-alpha * log_n) + b_ * np.exp(-beta * log_d)


GRID_POINTS = 61  # the coarse scan of ln N that brackets the minimum
GOLDEN_STEPS = 45  # shrinks the bracket 0.618^45 ~ 4e-10: far below any noise


def optimal_log_n(thetas: np.ndarray, flops: np.ndarray, fpt: FlopsPerToken) -> np.ndarray:
    """ln N_opt (S, K) minimising L(N, C / f(N)) for (S, 5) thetas at K budgets.

    A scan of GRID_POINTS over ln N around the closed form's answer, then golden-section
    search between the neighbours of its lowest point, all vectorised. The scan spans the
    closed form with f / 6N anywhere in the measured range, and 2 / (alpha + beta) more each
    way for the slope of f. A minimum at the scan's edge is no bracket: NaN."""
    _, a_, b_, alpha, beta = _columns(thetas)
    log_c = np.log(flops)[None, :]
    with np.errstate(all="ignore"):
        s = alpha + beta
        log_g = (np.log(alpha * a_) - np.log(beta * b_)) / s
        mid = log_g + beta / s * (log_c - np.log(6.0) - float(np.mean(fpt.log_ratio)))
        half = float(np.ptp(fpt.log_ratio)) + 3.0 + 2.0 / np.minimum(s, 1.0)
        steps = np.linspace(-1.0, 1.0, GRID_POINTS)
        grid = mid[..., None] + half[..., None] * steps  # (S, K, GRID_POINTS)
        values = _reducible(thetas, grid, log_c[..., None], fpt)
        values = np.where(np.isfinite(values), values, np.inf)
        low = np.argmin(values, axis=-1)
        edge = (low == 0) | (low == GRID_POINTS - 1) | ~np.isfinite(mid)
        low = np.clip(low, 1, GRID_POINTS - 2)
        a = np.take_along_axis(grid, (low - 1)[..., None], -1)[..., 0]
        b = np.take_along_axis(grid, (low + 1)[..., None], -1)[..., 0]
        inv = (np.sqrt(5.0) - 1.0) / 2.0
        c, d = b - inv * (b - a), a + inv * (b - a)
        fc, fd = _reducible(thetas, c, log_c, fpt), _reducible(thetas, d, log_c, fpt)
        for _ in range(GOLDEN_STEPS):
            left = fc < fd  # the minimum is in [a, d]: d moves to c
            a, b = np.where(left, a, c), np.where(left, d, b)
            x = np.where(left, b - inv * (b - a), a + inv * (b - a))
            fx = _reducible(thetas, x, log_c, fpt)
            c, fc, d, fd = (np.where(left, x, d), np.where(left, fx, fd),
                            np.where(left, c, x), np.where(left, fc, fx))
        return np.where(edge, np.nan, (a + b) / 2.0)


def optimal_many(thetas: np.ndarray, flops: np.ndarray, fpt: FlopsPerToken | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N_opt, D_opt, L_opt), each (S, K), for (S, 5) thetas at K budgets (`compute_optimal`)."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float)).reshape(-1, 5)
    flops = np.asarray(flops, dtype=float).reshape(-1)
    e_, a_, b_, alpha, beta = _columns(thetas)
    with np.errstate(all="ignore"):
        if fpt is None:
            s = alpha + beta
            n = (alpha * a_ / (beta * b_)) ** (1.0 / s) * (flops[None, :] / 6.0) ** (beta / s)
            d = flops[None, :] / 6.0 / n
        else:
            log_n = optimal_log_n(thetas, flops, fpt)
            n = np.exp(log_n)
            d = flops[None, :] / (6.0 * n * np.exp(fpt.log_ratio_at(log_n)))
        return n, d, e_ + a_ / n ** alpha + b_ / d ** beta


def chinchilla_laws(thetas: np.ndarray, fpt: FlopsPerToken | None = None) -> np.ndarray:
    """compute_optimal as the line pair of approaches 1 and 2 (`optimum`), (S, 4) rows of
    (a, ln k_N, b, ln k_D) with N_opt = k_N C^a and D_opt = k_D C^b.

    fpt None: exact, from N_opt = G (C/6)^a_opt and D_opt = (C/6) / N_opt. With `fpt`,
    N_opt(C) bends where f / 6N changes, so the lines are least squares through N_opt and
    D_opt at `law_budgets` (over the runs' C, where approaches 1 and 2 fit theirs)."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float)).reshape(-1, 5)
    _, a_, b_, alpha, beta = (v[:, 0] for v in _columns(thetas))
    with np.errstate(all="ignore"):
        if fpt is None:
            s = alpha + beta
            a_opt = beta / s
            log_g = (np.log(alpha * a_) - np.log(beta * b_)) / s
            return np.column_stack([a_opt, log_g - a_opt * np.log(6.0), 1.0 - a_opt,
                                    -log_g - (1.0 - a_opt) * np.log(6.0)])
        flops = law_budgets(fpt)
        n, d, _ = optimal_many(thetas, flops, fpt)
        x = np.log(flops) - np.log(flops).mean()
        rows = []
        for y in (np.log(n), np.log(d)):
            slope = (y - y.mean(axis=1, keepdims=True)) @ x / (x @ x)
            rows += [slope, y.mean(axis=1) - slope * np.log(flops).mean()]
        return np.column_stack(rows)


def chinchilla_law(theta: np.ndarray, fpt: FlopsPerToken | None = None) -> np.ndarray:
    """`chinchilla_laws` of one theta: (a, ln k_N, b, ln k_D)."""
    return chinchilla_laws(theta, fpt)[0]
