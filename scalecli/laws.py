"""The power and saturating laws: model functions, fitters and bootstraps (pure numpy).

- power:       y = a * x^b, least squares on log y against log x (a straight line).
- saturating:  L = E + A * x^-alpha, log L_hat = LSE(log A - alpha log x, log E),
               least squares on log L (the MLE under multiplicative lognormal noise).

Both are fitted in log space so that a 1% error weighs the same at every scale. The
Chinchilla form lives in chinchilla.py; fit.py takes any form end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


