"""Approach 2's vertex rule: bias and sd of a over synthetic isoFLOP designs.

    python bench/isoflop_window.py                 # 20 seeds per design (~5 s)
    python bench/isoflop_window.py --seeds 100

Hoffmann et al.'s law (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28; true a = 0.4516),
C = 6 N D, 1% multiplicative noise, 5 budgets over 2 decades (1e18 to 1e20). Two designs:
  dense: 7 sizes over +-0.6 decades of the true optimum (a factor 1.58 apart);
  far:   the dense 7 plus sizes out to 2,187x on the side the budget's fixed ladder reaches
         (the design the window exists for; tests/fit/test_isoflop.py).
Three vertex rules per budget, each fitted by least squares in ln N:
  argmin window: the lowest point and up to 3 sizes on each side of it (the old rule);
  all points:    one parabola through every size;
  re-centred:    the window re-centred on the size nearest the parabola's vertex until it
                 stops moving (isoflop.window, the rule fit uses).
Printed: mean error (bias), sd and median |error| of a, per design and rule.
"""

from __future__ import annotations

import argparse

import numpy as np

from scalecli.fit import chinchilla, isoflop

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
A_TRUE = 0.28 / 0.62
FLOPS = np.geomspace(1e18, 1e20, 5)


def design(seed: int, far: bool) -> list[isoflop.Budget]:
    rng = np.random.default_rng(seed)
    n_opt = chinchilla.compute_optimal(THETA, FLOPS)["N_opt"]
    out = []
    for i, (c, n0) in enumerate(zip(FLOPS, n_opt, strict=True)):
        k = np.linspace(-0.6, 0.6, 7) * np.log(10)
        if far:  # a fixed ladder: far above the optimum at low C, far below at high C
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


def a_of(budgets: list[isoflop.Budget], rule) -> float:
    old = isoflop.window
    isoflop.window = rule
    try:
        fit = isoflop.analyse_isoflop(budgets, n_boot=0)
    finally:
        isoflop.window = old
    return fit["params"]["a_opt"]["value"] if fit["converged"] else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print(f"true a = {A_TRUE:.4f}; {args.seeds} seeds per design; error = a_hat - a")
    print(f"{'design':8s} {'rule':15s} {'bias':>8s} {'sd':>7s} {'median|err|':>12s} "
          f"{'max|err|':>9s}")
    for far in (False, True):
        for name, rule in RULES.items():
            err = np.array([a_of(design(s, far), rule) for s in range(args.seeds)]) - A_TRUE
            print(f"{'far' if far else 'dense':8s} {name:15s} {np.nanmean(err):+8.4f} "
                  f"{np.nanstd(err, ddof=1):7.4f} {np.nanmedian(np.abs(err)):12.4f} "
                  f"{np.nanmax(np.abs(err)):9.4f}")


if __name__ == "__main__":
    main()
