"""Coverage of the fit's 95% intervals on synthetic sweeps with known parameters.

    python bench/fit_coverage.py               # ~1 min
    python bench/fit_coverage.py --reps 1000
    python bench/fit_coverage.py --chinchilla  # the Chinchilla form's pairs bootstrap (~1 min)

For a design of sizes (the default ladder's five N, and ten sizes over 400x), draw many
synthetic sweeps from a known law with lognormal noise, fit each, and count how often
the 95% interval holds the truth. Two ways to draw the refits, side by side:
  pairs: resample the (x, y) rows with replacement (the textbook bootstrap, written here
         as the reference);
  fixed: scalecli's own (`laws.bootstrap_power`, `laws.bootstrap_saturating`): the sizes
         stay fixed, each refit gets the fitted curve plus noise whose scale is drawn from
         its chi-square distribution.
The saturating E, A and alpha that `fit` reports use neither: they are profile-likelihood
intervals (`laws.profile_intervals`), counted on their own row.
An honest 95% interval covers about 95%; the binomial sd is printed with each figure.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scalecli.fit import chinchilla, laws

DESIGNS = {
    "5 sizes, 36x (default ladder)": np.array([21720, 84912, 150080, 335712, 793344.0]),
    "10 sizes, 400x": np.geomspace(2e4, 8e6, 10),
}
POWER = np.array([214.0, -0.108])  # the default sweep's fit
SATURATING = np.array([2.0, 4.0, 0.08])  # E, A, alpha: a floor half of the loss


def pairs_power(x, y, n_boot, rng):
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    out = [laws.fit_power(x[i], y[i]).theta for i in idx if np.unique(x[i]).size >= 2]
    return np.array(out)


def pairs_saturating(x, y, point, n_boot, rng):
    lx, ly = np.log(x), np.log(y)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    counts = np.zeros((n_boot, x.size))
    np.add.at(counts, (np.arange(n_boot)[:, None], idx), 1.0)
    keep = np.array([np.unique(lx[c > 0]).size >= 2 for c in counts])
    q0 = np.repeat(point.extra["internal"][None, :], keep.sum(), axis=0)
    q, _, conv = laws.saturating_lm(q0, lx, ly, counts[keep])
    q = q[conv]
    return np.column_stack([np.exp(q[:, 2]), np.exp(q[:, 0]), q[:, 1]])


def covered(boots: np.ndarray, truth: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    return (lo <= truth) & (truth <= hi)


def run(reps: int, n_boot: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sd = 100 * np.sqrt(0.95 * 0.05 / reps)
    print(f"{reps} synthetic sweeps per design, {n_boot} refits each; binomial sd at 95%: "
          f"{sd:.1f} points\n")
    print(f"{'design':32} {'interval':34} {'pairs':>18} {'fixed':>18}")
    for name, x in DESIGNS.items():
        hits = {"pairs": 0.0, "fixed": 0.0}
        for _ in range(reps):
            y = laws.power_predict(POWER, x) * np.exp(rng.normal(0, 0.005, x.size))
            hits["pairs"] += covered(pairs_power(x, y, n_boot, rng)[:, 1], POWER[1])
            hits["fixed"] += covered(laws.bootstrap_power(x, y, n_boot, rng)[0][:, 1], POWER[1])
        print(f"{name:32} {'power: b':34} {100 * hits['pairs'] / reps:>17.1f}% "
              f"{100 * hits['fixed'] / reps:>17.1f}%", flush=True)

        xq = 10 * x.max()
        yq = laws.saturating_predict(SATURATING, xq)
        par = {"pairs": np.zeros(3), "fixed": np.zeros(3)}
        curve = {"pairs": 0, "fixed": 0}
        fitted = 0
        profiled = np.zeros(3)
        for _ in range(reps):
            y = laws.saturating_predict(SATURATING, x) * np.exp(rng.normal(0, 0.003, x.size))
            point = laws.fit_saturating(x, y)
            if not point.converged:
                continue
            fitted += 1
            for j, (lo, hi) in enumerate(laws.profile_intervals(x, y, point).values()):
                truth = SATURATING[j]  # E, A, alpha: the order of profile_intervals
                profiled[j] += (lo is None or lo <= truth) and (hi is None or truth <= hi)
            draws = {"pairs": pairs_saturating(x, y, point, n_boot, rng),
                     "fixed": laws.bootstrap_saturating(x, y, point, n_boot, rng)[0]}
            for kind, boots in draws.items():
                par[kind] += covered(boots, SATURATING)
                with np.errstate(over="ignore"):
                    curve[kind] += covered(laws.saturating_predict(boots.T, xq), yq)
        params = {k: ", ".join(f"{100 * v / fitted:.0f}" for v in par[k]) + "%" for k in par}
        curves = {k: f"{100 * curve[k] / fitted:.1f}%" for k in curve}
        print(f"{name:32} {'saturating: E, A, alpha':34} {params['pairs']:>18} "
              f"{params['fixed']:>18}")
        print(f"{name:32} {'saturating: curve at 10x the largest':34} {curves['pairs']:>18} "
              f"{curves['fixed']:>18}", flush=True)
        reported = ", ".join(f"{100 * v / fitted:.0f}" for v in profiled) + "%"
        print(f"{name:32} {'saturating: E, A, alpha, profile F':34} {'':>18} {reported:>18}")
        print(f"{'':32} ({fitted} of {reps} saturating fits converged)")


def run_chinchilla(reps: int, n_boot: int, seed: int) -> None:
    """Sweeps of 60 random (N, D) points from Hoffmann et al.'s own fit, 1% noise."""
    rng = np.random.default_rng(seed)
    theta = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
    hits, fitted = np.zeros(5), 0
    for _ in range(reps):
        n = np.exp(rng.uniform(np.log(1e6), np.log(1e9), 60))
        d = np.exp(rng.uniform(np.log(1e8), np.log(1e11), 60))
        loss = chinchilla.chinchilla_predict(theta, n, d) * np.exp(rng.normal(0, 0.01, 60))
        point = chinchilla.fit_chinchilla(n, d, loss)
        if point.converged:
            boots, _ = chinchilla.bootstrap_chinchilla(n, d, loss, point, n_boot, rng)
            hits += covered(boots, theta)
            fitted += 1
    cover = ", ".join(f"{100 * h / fitted:.0f}%" for h in hits)
    print(f"chinchilla, 60 points, pairs bootstrap: E, A, B, alpha, beta covered {cover} "
          f"({fitted} sweeps, {n_boot} refits each; binomial sd at 95%: "
          f"{100 * np.sqrt(0.95 * 0.05 / fitted):.1f} points)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, help="sweeps per design (default 300; chinchilla 40)")
    parser.add_argument("--boot", type=int, help="refits per sweep (default 400; chinchilla 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chinchilla", action="store_true",
                        help="the Chinchilla form's pairs bootstrap instead")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow in far-out refits' exp
    if args.chinchilla:
        run_chinchilla(args.reps or 40, args.boot or 100, args.seed)
    else:
        run(args.reps or 300, args.boot or 400, args.seed)


if __name__ == "__main__":
    main()
