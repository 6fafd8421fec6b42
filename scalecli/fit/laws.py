"""The power and saturating laws: model functions, fitters and bootstraps (pure numpy).

- power:       y = a * x^b, least squares on log y against log x (a straight line).
- saturating:  L = E + A * x^-alpha, log L_hat = LSE(log A - alpha log x, log E),
               least squares on log L (the MLE under multiplicative lognormal noise).

Both are fitted in log space so that a 1% error weighs the same at every scale. The
Chinchilla form lives in chinchilla.py; analysis.py takes any form end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FitResult:
    """One fitted form. `theta` holds the natural parameters in its form's
    `param_names` order (`forms`)."""

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


def noise_scales(rss: float, dof: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the log-space noise scale: sigma* = sqrt(RSS / chi2_dof), one per refit.

    With five sizes and two or three parameters, RSS / dof rests on two or three degrees
    of freedom and is itself very uncertain. Drawing the scale from its sampling
    distribution, instead of plugging in the estimate, makes the bootstrap intervals of a
    linear fit the exact Student-t ones, and keeps those of the saturating fit honest.
    """
    return np.sqrt(rss / rng.chisquare(dof, size=n_boot))


def bootstrap_power(
    x: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator,
    seed_level: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """All bootstrap refits of the power form at once, as (n_boot, 2) thetas.

    A parametric bootstrap on the sizes that were trained: the x are the experiment's
    design, not a sample, so they stay fixed; each refit gets the fitted line plus
    Gaussian noise in log y with a scale drawn by `noise_scales`. On synthetic five-size
    sweeps the 95% interval of the exponent covered the truth 95.0-95.3% of the time,
    against 91.7-92.0% when resampling (x, y) pairs (`bench/fit_coverage.py`). Needs at
    least 3 points and 2 distinct x; else no refits.

    With seeds, each point is a mean over its seeds, and `seed_level` holds (n_boot, n)
    draws of how far each point moves when its seeds are resampled and its lr re-picked
    (`seeds.seed_level`). The residuals already hold that noise, since it is independent
    from size to size, so adding both would count it twice. The total noise of a point is
    split instead: a refit gets the seed-level draw plus size-level noise with the variance
    the residuals leave over, scale^2 - v_seed (v_seed the seed level's mean variance per
    point), or none when the drawn scale is below what the seeds alone show. So each
    refit's noise is at least the measured seed noise, and the residuals, on n - 2 degrees
    of freedom, still carry what seeds cannot show: a size that sits off the law, an lr
    grid that misses one size's optimum by more than another's. That floor makes the
    interval conservative when seed noise dominates (the chi-square draws below it were
    part of the exact t interval): on synthetic ladders of 5 or 10 sizes x 5 lrs x 3 seeds
    it held b in 94.3-98.5% of 2,000 sweeps per design, against 94.1-95.4% without the seed
    level and 93.5-96.1% for each size's best single run, whose interval is 2-85% wider
    (`bench/fit_coverage.py --seeded`, seeds 0 and 1).
    """
    lx, ly = np.log(x), np.log(y)
    dof = lx.size - 2
    if dof < 1 or np.unique(lx).size < 2:
        return np.empty((0, 2)), n_boot
    point = fit_power(x, y)
    fitted = np.log(point.theta[0]) + point.theta[1] * lx
    rss = float(np.sum((ly - fitted) ** 2))
    scales = noise_scales(rss, dof, n_boot, rng)
    z = rng.standard_normal((n_boot, lx.size))
    if seed_level is None:
        by = fitted + scales[:, None] * z
    else:
        v_seed = float(np.mean(np.var(seed_level, axis=0, ddof=1)))
        size_sd = np.sqrt(np.maximum(scales**2 - v_seed, 0.0))
        by = fitted + seed_level + size_sd[:, None] * z
    mx = lx.mean()
    sxx = np.sum((lx - mx) ** 2)
    b = (by - by.mean(axis=1, keepdims=True)) @ (lx - mx) / sxx
    log_a = by.mean(axis=1) - b * mx
    return np.column_stack([np.exp(log_a), b]), 0


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
    fixed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt on many problems at once: starts q0 (B, 3), targets ly (n,) or
    (B, n), row weights (B, n); `fixed` holds one coordinate of q at its start value.

    Minimises 0.5 * sum_i w_i r_i^2 for every row of q0 in lockstep with its own damping,
    so 1,000 bootstrap refits cost about as much as one Python loop of ~50 numpy steps.
    Returns (q, cost, converged) per problem.
    """
    q = np.array(q0, dtype=float, copy=True)
    w = np.ones((q.shape[0], lx.size)) if weights is None else weights

    def residuals(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, jac = _saturating_residuals(q, lx, ly)
        if fixed is not None:
            jac[:, :, fixed] = 0.0  # no gradient along the held coordinate: it never moves
        return r, jac

    r, jac = residuals(q)
    cost = 0.5 * np.sum(w * r * r, axis=1)
    lam = np.full(q.shape[0], 1e-3)
    done = np.zeros(q.shape[0], dtype=bool)
    scale = np.sum(w, axis=1)  # cost tolerance relative to the number of rows
    for _ in range(max_iter):
        grad = np.einsum("bn,bnk->bk", w * r, jac)
        hess = np.einsum("bn,bnk,bnl->bkl", w, jac, jac)
        if fixed is not None:
            hess[:, fixed, fixed] = 1.0  # keeps the system solvable; its step is 0
        diag = np.einsum("bkk->bk", hess) + 1e-12
        step = -np.linalg.solve(
            hess + (lam[:, None] * diag)[:, :, None] * np.eye(3), grad[:, :, None]
        )[:, :, 0]
        step[done] = 0.0
        q_new = q + step
        r_new, jac_new = residuals(q_new)
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


# How far from the estimate to look for the ends of each profile interval, in the internal
# coordinates (log A, alpha, log E): factors of e^12 (1.6e5) for A and E, 3 for alpha.
PROFILE_SPAN = (12.0, 3.0, 12.0)


def profile_interval(
    x: np.ndarray, y: np.ndarray, point: FitResult, k: int, level: float = 0.95
) -> tuple[float | None, float | None]:
    """The profile-likelihood interval of internal coordinate k of (log A, alpha, log E).

    For each value of the coordinate the other two are refitted; the value is in the
    interval while the profile's residual sum of squares stays below
    RSS_min * (1 + F(level; 1, n-3) / (n-3)), the interval that is exact for a linear model
    and, unlike the bootstrap, keeps its coverage with few sizes (`bench/fit_coverage.py`).
    Returns the ends in internal coordinates; an end not reached within PROFILE_SPAN[k] of
    the estimate is None: the data do not bound the parameter on that side.
    """
    from scipy.stats import f as f_dist

    lx, ly = np.log(x), np.log(y)
    dof = lx.size - 3
    if dof < 1 or not point.converged:
        return None, None
    q_hat = point.extra["internal"]

    def rss(values: np.ndarray) -> np.ndarray:
        q0 = np.repeat(q_hat[None, :], values.size, axis=0)
        q0[:, k] = values
        _, cost, _ = saturating_lm(q0, lx, ly, fixed=k)
        return 2.0 * cost

    rss_min = float(rss(np.array([q_hat[k]]))[0])
    limit = rss_min * (1.0 + f_dist.ppf(level, 1, dof) / dof)
    ends: list[float | None] = []
    for side in (-1.0, 1.0):
        coarse = q_hat[k] + side * np.linspace(0.0, PROFILE_SPAN[k], 65)
        values = rss(coarse)
        outside = np.nonzero(values > limit)[0]
        if outside.size == 0:
            ends.append(None)
            continue
        j = int(outside[0])
        fine = np.linspace(coarse[max(j - 1, 0)], coarse[j], 33)
        fine_values = rss(fine)
        i = max(int(np.nonzero(fine_values > limit)[0][0]), 1)
        # Linear interpolation of the profile between the last point in and the first out.
        a0, a1, v0, v1 = fine[i - 1], fine[i], fine_values[i - 1], fine_values[i]
        ends.append(float(a0 + (a1 - a0) * (limit - v0) / (v1 - v0)) if v1 > v0 else float(a1))
    return ends[0], ends[1]


def profile_intervals(x: np.ndarray, y: np.ndarray, point: FitResult
                      ) -> dict[str, tuple[float | None, float | None]]:
    """Profile-likelihood 95% intervals of E, A and alpha in natural units.

    An unreached end is None (unbounded), except the lower ends of E and A: there the
    data allow values down to 0, which is the end reported.
    """
    if x.size - 3 < 1 or not point.converged:
        return {name: (None, None) for name in ("E", "A", "alpha")}
    log_a = profile_interval(x, y, point, 0)
    alpha = profile_interval(x, y, point, 1)
    log_e = profile_interval(x, y, point, 2)

    def natural(ends: tuple[float | None, float | None]) -> tuple[float | None, float | None]:
        lo, hi = ends
        return (0.0 if lo is None else float(np.exp(lo)),
                None if hi is None else float(np.exp(hi)))

    return {"E": natural(log_e), "A": natural(log_a), "alpha": alpha}


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
        "Levenberg-Marquardt from 20 starts; 95% CIs: profile likelihood (F); band and "
        "predictions: fixed-design bootstrap",
        extra={"internal": qb},
    )


def bootstrap_saturating(
    x: np.ndarray, y: np.ndarray, point: FitResult, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """All refits at once, warm-started at the point estimate, on the fixed design.

    The parametric bootstrap of `bootstrap_power`: the fitted curve plus lognormal noise
    whose scale is drawn by `noise_scales` (n - 3 degrees of freedom). With five sizes,
    resampling (x, y) pairs leaves most resamples with three or four distinct sizes, which
    three parameters fit almost exactly: its intervals held the true E, A and alpha in
    59-66% of synthetic five-size sweeps, these in 69-83%, still too narrow, so `fit`
    reports profile intervals for the parameters (`profile_intervals`) and uses these
    refits for the band and predictions only. Refits that do not converge are dropped.
    Returns ((n_ok, 3) thetas, n_dropped).
    """
    lx = np.log(x)
    dof = lx.size - 3
    if dof < 1 or np.unique(lx).size < 3:
        return np.empty((0, 3)), n_boot
    fitted = np.log(saturating_predict(point.theta, x))
    rss = float(np.sum((np.log(y) - fitted) ** 2))
    noise = noise_scales(rss, dof, n_boot, rng)[:, None] * rng.standard_normal((n_boot, lx.size))
    q0 = np.repeat(point.extra["internal"][None, :], n_boot, axis=0)
    q, _, conv = saturating_lm(q0, lx, fitted[None, :] + noise)
    q = q[conv]
    with np.errstate(over="ignore"):  # a refit that ran off to E or A = inf is dropped
        thetas = np.column_stack([np.exp(q[:, 2]), np.exp(q[:, 0]), q[:, 1]])
    thetas = thetas[np.all(np.isfinite(thetas), axis=1)]
    return thetas, int(n_boot - thetas.shape[0])
