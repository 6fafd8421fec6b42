"""Scaling-law fits: pure model functions, fitters, bootstrap and derived quantities.

No I/O here: every function takes numpy arrays and returns numbers, so it can be tested
on synthetic data with known parameters. `fit_run.py` reads the CSV and writes fit.json.

Forms (x, N and D are positive; everything is fitted in log space so that a 1% error
weighs the same at every scale):
- power:       y = a * x^b, least squares on log y against log x (a straight line).
- saturating:  L = E + A * x^-alpha, log L_hat = LSE(log A - alpha log x, log E),
               least squares on log L (the MLE under multiplicative lognormal noise).
- chinchilla:  L = E + A / N^alpha + B / D^beta,
               log L_hat = LSE(a - alpha log N, b - beta log D, e), minimise the SUM of
               Huber_1e-3(log L_hat - log L) by L-BFGS-B from a 4,500-point grid and keep
               the best (Hoffmann et al. 2022, "Training Compute-Optimal Large Language
               Models", Appendix D.2; Besiroglu et al. 2024, "Chinchilla Scaling: A
               replication attempt", who show that the sum, not the mean, matters).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, Appendix D.2
N_PARAMS = {"power": 2, "saturating": 3, "chinchilla": 5}
PARAM_NAMES = {
    "power": ("a", "b"),
    "saturating": ("E", "A", "alpha"),
    "chinchilla": ("E", "A", "B", "alpha", "beta"),
}


@dataclass
class FitResult:
    """One fitted form. `theta` holds the natural parameters in PARAM_NAMES order."""

    form: str
    theta: np.ndarray
    converged: bool
    message: str
    se: np.ndarray | None = None
    method: str = ""
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- power


def power_predict(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y = a * x^b."""
    a, b = theta
    return a * np.power(x, b)


def fit_power(x: np.ndarray, y: np.ndarray) -> FitResult:
    """Ordinary least squares of log y on log x; closed form, so it always converges.

    The standard errors are the textbook OLS ones (residual variance / Sxx); the error of
    a comes from that of log a by the delta method (se(a) = a * se(log a)).
    """
    lx, ly = np.log(x), np.log(y)
    n = lx.size
    mx = lx.mean()
    sxx = np.sum((lx - mx) ** 2)
    b = np.sum((lx - mx) * (ly - ly.mean())) / sxx
    log_a = ly.mean() - b * mx
    resid = ly - (log_a + b * lx)
    dof = n - 2
    s2 = float(np.sum(resid**2) / dof) if dof > 0 else float("nan")
    se_b = np.sqrt(s2 / sxx)
    se_log_a = np.sqrt(s2 * (1.0 / n + mx**2 / sxx))
    a = float(np.exp(log_a))
    return FitResult(
        form="power",
        theta=np.array([a, b]),
        converged=True,
        message="closed-form least squares",
        se=np.array([a * se_log_a, se_b]),
        method="OLS on log y vs log x",
    )


def bootstrap_power(
    x: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """All bootstrap refits of the power form at once, as (n_ok, 2) thetas.

    One (n_boot, n) index matrix resamples the rows; the OLS slope of every resample is
    a few vectorised sums, so 10,000 refits take milliseconds. Resamples whose x are all
    equal have no slope and are skipped; the count of skipped ones is returned.
    """
    lx, ly = np.log(x), np.log(y)
    idx = rng.integers(0, lx.size, size=(n_boot, lx.size))
    bx, by = lx[idx], ly[idx]  # (n_boot, n)
    mx = bx.mean(axis=1, keepdims=True)
    my = by.mean(axis=1, keepdims=True)
    sxx = np.sum((bx - mx) ** 2, axis=1)
    ok = sxx > 1e-12 * max(1.0, float(np.sum((lx - lx.mean()) ** 2)))
    b = np.sum((bx - mx) * (by - my), axis=1)[ok] / sxx[ok]
    log_a = my[ok, 0] - b * mx[ok, 0]
    return np.column_stack([np.exp(log_a), b]), int(n_boot - ok.sum())


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


def compute_optimal(theta: np.ndarray, flops: np.ndarray) -> dict[str, np.ndarray]:
    """Compute-optimal allocation under C = 6 N D (Hoffmann et al. 2022, Eq. 4 and D.2).

    a_opt = beta/(alpha+beta), b_opt = alpha/(alpha+beta),
    G = (alpha A / (beta B))^(1/(alpha+beta)), N_opt = G (C/6)^a_opt, D_opt = (C/6)/N_opt.
    """
    _, a_, b_, alpha, beta = theta
    s = alpha + beta
    a_opt, b_opt = beta / s, alpha / s
    g = (alpha * a_ / (beta * b_)) ** (1.0 / s)
    n_opt = g * np.power(flops / 6.0, a_opt)
    d_opt = (flops / 6.0) / n_opt
    return {
        "a_opt": a_opt,
        "b_opt": b_opt,
        "G": g,
        "N_opt": n_opt,
        "D_opt": d_opt,
        "L_opt": chinchilla_predict(theta, n_opt, d_opt),
    }


# ------------------------------------------------------------------------ saturating
# Internal parameters q = (log A, alpha, log E), so that A and E stay positive.


def saturating_predict(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """L = E + A * x^-alpha."""
    e_, a_, alpha = theta
    return e_ + a_ * np.power(x, -alpha)


def _saturating_residuals(q: np.ndarray, lx: np.ndarray, ly: np.ndarray):
    """Batched log residuals and Jacobians: q (B, 3) -> r (B, n), J (B, n, 3)."""
    t1 = q[:, 0:1] - q[:, 1:2] * lx  # log(A x^-alpha)
    t2 = q[:, 2:3]  # log E
    lse = np.logaddexp(t1, t2)
    s1 = np.exp(t1 - lse)  # share of the power term in L_hat (softmax of LSE)
    jac = np.stack([s1, -s1 * lx, 1.0 - s1], axis=-1)
    return lse - ly, jac


def saturating_lm(
    q0: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    weights: np.ndarray | None = None,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt on many problems at once: starts q0 (B, 3), row weights (B, n).

    Minimises 0.5 * sum_i w_i r_i^2 for every row of q0 in lockstep with its own damping,
    so 1,000 bootstrap refits cost about as much as one Python loop of ~50 numpy steps.
    Returns (q, cost, converged) per problem.
    """
    q = np.array(q0, dtype=float, copy=True)
    w = np.ones((q.shape[0], lx.size)) if weights is None else weights
    r, jac = _saturating_residuals(q, lx, ly)
    cost = 0.5 * np.sum(w * r * r, axis=1)
    lam = np.full(q.shape[0], 1e-3)
    done = np.zeros(q.shape[0], dtype=bool)
    scale = np.sum(w, axis=1)  # cost tolerance relative to the number of rows
    for _ in range(max_iter):
        grad = np.einsum("bn,bnk->bk", w * r, jac)
        hess = np.einsum("bn,bnk,bnl->bkl", w, jac, jac)
        diag = np.einsum("bkk->bk", hess) + 1e-12
        step = -np.linalg.solve(
            hess + (lam[:, None] * diag)[:, :, None] * np.eye(3), grad[:, :, None]
        )[:, :, 0]
        step[done] = 0.0
        q_new = q + step
        r_new, jac_new = _saturating_residuals(q_new, lx, ly)
        cost_new = 0.5 * np.sum(w * r_new * r_new, axis=1)
        better = np.isfinite(cost_new) & (cost_new <= cost) & ~done
        small = (cost - cost_new) <= 1e-14 * scale + 1e-12 * cost
        done |= better & small
        done |= (~better) & (lam > 1e12)
        q[better], r[better], jac[better], cost[better] = (
            q_new[better],
            r_new[better],
            jac_new[better],
            cost_new[better],
        )
        lam = np.where(better, lam / 3.0, lam * 4.0)
        if done.all():
            break
    grad = np.einsum("bn,bnk->bk", w * r, jac)
    gnorm = np.sqrt(np.sum(grad**2 / (np.einsum("bkk->bk", hess) + 1e-300), axis=1))
    converged = np.all(np.isfinite(q), axis=1) & (gnorm <= 1e-6 * np.sqrt(scale))
    return q, cost, converged


def _saturating_starts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Starts for (log A, alpha, log E): E a fraction of min(y), alpha on a grid, A solved."""
    lx = np.log(x)
    starts = []
    for frac in (0.0, 0.5, 0.9, 0.99):
        e_ = frac * y.min()
        for alpha in (0.05, 0.1, 0.3, 0.7, 1.5):
            # Least squares for log A given E and alpha: mean of log(y - E) + alpha log x.
            log_a = float(np.mean(np.log(np.maximum(y - e_, 1e-12 * y)) + alpha * lx))
            starts.append([log_a, alpha, np.log(max(e_, 1e-6 * y.min()))])
    return np.array(starts)


def _saturating_message(ok: bool, qb: np.ndarray, y: np.ndarray) -> str:
    if not ok:
        return "no start converged"
    if np.exp(qb[2]) < 1e-6 * y.min():
        # The optimum lies on the boundary E -> 0: the data show no floor yet.
        return "Levenberg-Marquardt converged with E -> 0: no floor visible; power fits as well"
    return "Levenberg-Marquardt converged"


def fit_saturating(x: np.ndarray, y: np.ndarray) -> FitResult:
    """Fit L = E + A x^-alpha by least squares on log L from 20 starts; keep the best."""
    lx, ly = np.log(x), np.log(y)
    q, cost, conv = saturating_lm(_saturating_starts(x, y), lx, ly)
    cost = np.where(conv, cost, np.inf)
    best = int(np.argmin(cost))
    ok = bool(np.isfinite(cost[best]))
    if not ok:  # report the least bad, marked as not converged
        best = int(np.nanargmin(np.where(np.isfinite(q).all(axis=1), 0.0, np.inf)))
    qb = q[best]
    return FitResult(
        form="saturating",
        theta=np.array([np.exp(qb[2]), np.exp(qb[0]), qb[1]]),
        converged=ok,
        message=_saturating_message(ok, qb, y),
        method="least squares on log L, log L_hat = LSE(log A - alpha log x, log E); "
        "Levenberg-Marquardt from 20 starts",
        extra={"internal": qb},
    )


def bootstrap_saturating(
    x: np.ndarray, y: np.ndarray, point: FitResult, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """All refits at once: row counts as weights, warm-started at the point estimate.

    Resamples with all x equal are skipped; refits that do not converge are dropped too.
    Returns ((n_ok, 3) thetas, n_skipped_or_failed).
    """
    lx, ly = np.log(x), np.log(y)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    counts = np.zeros((n_boot, x.size))
    np.add.at(counts, (np.arange(n_boot)[:, None], idx), 1.0)
    distinct = np.array([np.unique(lx[c > 0]).size for c in counts])
    keep = distinct >= 2
    if not keep.any():
        return np.empty((0, 3)), n_boot
    q0 = np.repeat(point.extra["internal"][None, :], keep.sum(), axis=0)
    q, _, conv = saturating_lm(q0, lx, ly, counts[keep])
    q = q[conv]
    thetas = np.column_stack([np.exp(q[:, 2]), np.exp(q[:, 0]), q[:, 1]])
    return thetas, int(n_boot - thetas.shape[0])


# ------------------------------------------------------------------- one form, end to end

BAND_POINTS = 60


def num(value) -> float | None:
    """A float for JSON, or None for NaN/inf (fit.json must be strict JSON)."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def min_points(form: str) -> int:
    """A form with k parameters needs k + 1 points, so that at least one is a check."""
    return N_PARAMS[form] + 1


def degenerate_reason(form: str, x: np.ndarray, d: np.ndarray | None) -> str | None:
    """Why these points cannot identify the form, or None if they can."""
    if x.size < min_points(form):
        return f"{x.size} points, {form} needs at least {min_points(form)}"
    if np.unique(x).size < 2:
        return "all x are equal"
    if form == "chinchilla" and (d is None or np.unique(d).size < 2):
        return "all D are equal"
    return None


def fit_form(form: str, x: np.ndarray, y: np.ndarray, d: np.ndarray | None = None) -> FitResult:
    """Point estimate of one form."""
    if form == "power":
        return fit_power(x, y)
    if form == "saturating":
        return fit_saturating(x, y)
    if form == "chinchilla":
        return fit_chinchilla(x, d, y)
    raise ValueError(f"unknown form {form!r}")


def predict_form(form: str, theta: np.ndarray, x: np.ndarray, d: np.ndarray | None = None):
    """y at x (and D for chinchilla)."""
    if form == "power":
        return power_predict(theta, x)
    if form == "saturating":
        return saturating_predict(theta, x)
    return chinchilla_predict(theta, x, d)


def bootstrap_form(form, x, y, d, point: FitResult, n_boot: int, rng) -> tuple[np.ndarray, int]:
    """Bootstrap thetas (n_ok, k) over rows, and how many resamples were skipped."""
    if n_boot <= 0 or not point.converged:
        return np.empty((0, N_PARAMS[form])), n_boot
    if form == "power":
        return bootstrap_power(x, y, n_boot, rng)
    if form == "saturating":
        return bootstrap_saturating(x, y, point, n_boot, rng)
    return bootstrap_chinchilla(x, d, y, point, n_boot, rng)


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    """95% percentile interval, or (None, None) with too few samples to mean anything."""
    if samples.shape[0] < 10:
        return None, None
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
    return num(lo), num(hi)


def goodness(y: np.ndarray, y_hat: np.ndarray) -> tuple[float, float]:
    """R^2 and RMSE of log y: the space the fits live in, so they compare across scales."""
    res = np.log(y) - np.log(y_hat)
    ss_tot = np.sum((np.log(y) - np.log(y).mean()) ** 2)
    r2 = 1.0 - np.sum(res**2) / ss_tot if ss_tot > 0 else float("nan")
    return float(r2), float(np.sqrt(np.mean(res**2)))


def extrapolation_check(form, x, y, d, holdout: int) -> tuple[dict | None, str]:
    """Refit without the `holdout` largest x and predict them: the honest test of a law."""
    if holdout <= 0:
        return None, "extrapolation check off (--holdout 0)"
    order = np.argsort(x, kind="stable")
    train, test = order[:-holdout], order[-holdout:]
    if test.size >= x.size:
        return None, f"skipped: --holdout {holdout} leaves no points to fit"
    d_train = None if d is None else d[train]
    reason = degenerate_reason(form, x[train], d_train)
    if reason:
        return None, f"skipped: without the {holdout} largest x, {reason}"
    refit = fit_form(form, x[train], y[train], d_train)
    if not refit.converged:
        return None, f"skipped: the refit without the {holdout} largest x did not converge"
    pred = predict_form(form, refit.theta, x[test], None if d is None else d[test])
    rel = (pred - y[test]) / y[test]
    check = {
        "held_out": int(holdout),
        "x": [num(v) for v in x[test]],
        "predicted": [num(v) for v in pred],
        "observed": [num(v) for v in y[test]],
        "rel_error": [num(v) for v in rel],
    }
    note = (
        f"refit without the {holdout} largest x; mean |relative error| "
        f"{100 * float(np.mean(np.abs(rel))):.2f}%"
    )
    return check, note


def _params_block(form, point: FitResult, boots: np.ndarray) -> dict:
    names = PARAM_NAMES[form]
    out = {}
    for k, name in enumerate(names):
        if not point.converged:
            out[name] = {"value": None, "se": None, "ci_low": None, "ci_high": None}
            continue
        if point.se is not None:
            se = num(point.se[k])
        else:
            se = num(np.std(boots[:, k], ddof=1)) if boots.shape[0] >= 10 else None
        lo, hi = _interval(boots[:, k]) if boots.size else (None, None)
        out[name] = {"value": num(point.theta[k]), "se": se, "ci_low": lo, "ci_high": hi}
    return out


def _derived(form, point: FitResult, boots: np.ndarray, predict: np.ndarray | None) -> dict:
    """Quantities a reader wants: 10x factor for power; compute-optimal split for chinchilla;
    predictions at the requested x (or FLOPs) with bootstrap intervals."""
    derived: dict = {}
    if form == "power":
        factor = 10.0 ** point.theta[1]
        derived["ten_x_factor"] = num(factor)
        derived["ten_x_change_pct"] = num(100.0 * (factor - 1.0))
    if form == "chinchilla":
        opt = compute_optimal(point.theta, np.asarray(predict if predict is not None else []))
        derived.update(a_opt=num(opt["a_opt"]), b_opt=num(opt["b_opt"]), G=num(opt["G"]))
        derived["optimal"] = [
            {"C": num(c), "N_opt": num(n), "D_opt": num(dd)}
            for c, n, dd in zip(
                predict if predict is not None else [], opt["N_opt"], opt["D_opt"], strict=True
            )
        ]
    if predict is None or len(predict) == 0:
        derived["predictions"] = []
        return derived
    if form == "chinchilla":
        y_hat = compute_optimal(point.theta, predict)["L_opt"]
        samples = np.array([compute_optimal(t, predict)["L_opt"] for t in boots])
    else:
        y_hat = predict_form(form, point.theta, predict)
        samples = np.array([predict_form(form, t, predict) for t in boots])
    samples = samples.reshape(-1, predict.size)
    enough = samples.shape[0] >= 10
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=0) if enough else (None, None)
    derived["predictions"] = [
        {
            "x": num(predict[i]),
            "y": num(y_hat[i]),
            "ci_low": num(lo[i]) if enough else None,
            "ci_high": num(hi[i]) if enough else None,
        }
        for i in range(predict.size)
    ]
    return derived


def _band(form, point: FitResult, boots: np.ndarray, x: np.ndarray) -> dict | None:
    """The fitted curve from min(x) to 10 max(x) with its 95% bootstrap band (1-D forms)."""
    if form == "chinchilla" or not point.converged:
        return None
    grid = np.logspace(np.log10(x.min()), np.log10(10.0 * x.max()), BAND_POINTS)
    y_hat = predict_form(form, point.theta, grid)
    if boots.shape[0] >= 10:
        curves = np.array([predict_form(form, t, grid) for t in boots])
        low, high = np.percentile(curves, [2.5, 97.5], axis=0)
        low_l, high_l = [num(v) for v in low], [num(v) for v in high]
    else:
        low_l = high_l = [None] * BAND_POINTS
    return {"x": [num(v) for v in grid], "y": [num(v) for v in y_hat], "low": low_l, "high": high_l}


def analyse(
    form: str,
    x: np.ndarray,
    y: np.ndarray,
    d: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    predict: np.ndarray | None = None,
    holdout: int = 1,
) -> dict:
    """Everything fit.json holds about one form, except the column names and text."""
    point = fit_form(form, x, y, d)
    rng = np.random.default_rng(seed)
    boots, _ = bootstrap_form(form, x, y, d, point, n_boot, rng)
    if point.converged:
        r2, rmse = goodness(y, predict_form(form, point.theta, x, d))
        extrapolation, note = extrapolation_check(form, x, y, d, holdout)
        derived = _derived(form, point, boots, predict)
    else:
        r2 = rmse = float("nan")
        extrapolation, note, derived = None, "skipped: the fit did not converge", {}
    exponent = None
    if point.converged and form == "power":
        exponent = num(point.theta[1])
    elif point.converged and form == "saturating":
        exponent = num(-point.theta[2])
    return {
        "form": form,
        "n_points": int(x.size),
        "converged": bool(point.converged),
        "message": point.message,
        "params": _params_block(form, point, boots),
        "exponent": exponent,
        "r2_log": num(r2),
        "rmse_log": num(rmse),
        "extrapolation": extrapolation,
        "extrapolation_note": note,
        "derived": derived,
        "band": _band(form, point, boots, x),
        # n - n_ok resamples were skipped: all x equal (degenerate) or the refit failed.
        "bootstrap": {"n": int(n_boot), "n_ok": int(boots.shape[0]), "seed": int(seed)},
        "method": point.method,
    }
