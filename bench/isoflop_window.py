"""Approach 2's vertex rule: bias and sd of a over synthetic isoFLOP designs.

    python bench/isoflop_window.py                 # 20 seeds per design (~3 s)
    python bench/isoflop_window.py --seeds 100

Hoffmann et al.'s law (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28; true a = 0.4516),
C = 6 N D, 1% multiplicative noise, 5 budgets over 2 decades (1e18 to 1e20). Three designs:
  dense: 7 sizes over +-0.6 decades of the true optimum (a factor 1.58 apart);
  far:   the dense 7 plus sizes out to 2,187x on the side the budget's fixed ladder reaches
         (the design the window exists for; tests/fit/test_isoflop.py);
  wide:  7 sizes a factor 3 apart (+-1.4 decades), tests/fit/test_isoflop.py's `synthetic`.
Three vertex rules per budget, each fitted by least squares in ln N:
  argmin window: the lowest point and up to 3 sizes on each side of it (the old rule);
  all points:    one parabola through every size;
  re-centred:    the window re-centred on the size nearest the parabola's vertex until it
                 stops moving (isoflop.window, the rule fit uses).
and three ways to weigh the vertices in the line ln N_opt against ln C:
  equal:      ordinary least squares (the old line);
  precision:  1 / Var(ln N_opt), the delta method on the parabola's covariance with one
              noise variance shared by the budgets (isoflop.law_from, the line fit uses);
  own sigma:  the same with each budget's own residual variance (RSS / (points - 3)).
Printed: mean error (bias), sd and median |error| of a, per design, rule and line.
"""

from __future__ import annotations

import argparse

import numpy as np

from scalecli.fit import chinchilla, isoflop, optimum

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
A_TRUE = 0.28 / 0.62
FLOPS = np.geomspace(1e18, 1e20, 5)


def design(seed: int, kind: str) -> list[isoflop.Budget]:
    rng = np.random.default_rng(seed)
    n_opt = chinchilla.compute_optimal(THETA, FLOPS)["N_opt"]
    out = []
    for i, (c, n0) in enumerate(zip(FLOPS, n_opt, strict=True)):
        k = np.linspace(-0.6, 0.6, 7) * np.log(10)
        if kind == "wide":
            k = np.arange(-3, 4) * np.log(3.0)
        if kind == "far":  # a fixed ladder: far above the optimum at low C, far below at high C
            step = np.log(10) * 0.2
            extra = np.arange(4, 8 - i) if i < 4 else np.arange(-3 - i, -3)
            k = np.sort(np.concatenate([k, step * extra]))
        n = n0 * np.exp(k)
        d = c / (6 * n)
        loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(rng.normal(0, 0.01, n.size))
        out.append(isoflop.Budget(float(c), None, np.log(n), loss, np.log(d)))
    return out


def argmin_window(log_n: np.ndarray, loss: np.ndarray, *_) -> np.ndarray:
    low = int(np.argmin(loss))
    return np.arange(max(0, low - isoflop.WINDOW_SIDE), min(log_n.size, low +
                                                            isoflop.WINDOW_SIDE + 1))


def every_point(log_n: np.ndarray, loss: np.ndarray, *_) -> np.ndarray:
    return np.arange(log_n.size)


RULES = {"argmin window": argmin_window, "all points": every_point,
         "re-centred": isoflop.window}


LINES = ("equal", "precision", "own sigma")


def own_variance(b: isoflop.Budget) -> float:
    """RSS / dof of the budget's windowed parabola (nan with no degree of freedom)."""
    keep = isoflop.window(b.log_n, b.loss)
    if keep.size < 4:
        return float("nan")
    u = b.log_n[keep] - b.log_n[keep].mean()
    c0, c1, c2 = isoflop.parabola(u, b.loss[keep], np.ones(keep.size))
    return float(np.sum((b.loss[keep] - (c0 + c1 * u + c2 * u * u)) ** 2) / (keep.size - 3))


def a_of(budgets: list[isoflop.Budget], rule, line: str) -> float:
    old = isoflop.window
    isoflop.window = rule
    try:
        pairs = [(b, isoflop.fit_vertex(b)) for b in budgets]
        pairs = [(b, v) for b, v in pairs if v.reason is None]
        if len(pairs) < isoflop.MIN_BUDGETS:
            return float("nan")
        weights = None
        if line != "equal":
            weights = 1.0 / np.array([v.spread for _, v in pairs])
        if line == "own sigma":
            weights = weights / np.array([own_variance(b) for b, _ in pairs])
        if weights is not None and not np.all(np.isfinite(weights) & (weights > 0)):
            return float("nan")
        law = optimum.fit_law(np.log([b.flops for b, _ in pairs]),
                              np.array([v.log_n for _, v in pairs]),
                              np.array([v.log_d for _, v in pairs]), weights)
    finally:
        isoflop.window = old
    return float(law[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print(f"true a = {A_TRUE:.4f}; {args.seeds} seeds per design; error = a_hat - a")
    print(f"{'design':8s} {'rule':15s} {'line':10s} {'bias':>8s} {'sd':>7s} "
          f"{'median|err|':>12s} {'max|err|':>9s} {'failed':>6s}")
    for kind in ("dense", "far", "wide"):
        designs = [design(s, kind) for s in range(args.seeds)]
        for name, rule in RULES.items():
            for line in LINES:
                err = np.array([a_of(b, rule, line) for b in designs]) - A_TRUE
                print(f"{kind:8s} {name:15s} {line:10s} "
                      f"{np.nanmean(err):+8.4f} {np.nanstd(err, ddof=1):7.4f} "
                      f"{np.nanmedian(np.abs(err)):12.4f} {np.nanmax(np.abs(err)):9.4f} "
                      f"{int(np.isnan(err).sum()):6d}")


if __name__ == "__main__":
    main()
