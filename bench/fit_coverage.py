"""Coverage of the fit's 95% intervals on synthetic sweeps with known parameters.

    python bench/fit_coverage.py               # 300 sweeps per design (~6 min on 2 cores)
    python bench/fit_coverage.py --reps 1000
    python bench/fit_coverage.py --chinchilla  # the Chinchilla form's pairs bootstrap
    python bench/fit_coverage.py --tiny        # 3 sweeps, 20 refits: a smoke run for CI
    python bench/fit_coverage.py --seeded      # only the ladders with seeds and an lr grid
    python bench/fit_coverage.py --isoflop     # approach 2's a: 100 isoFLOP designs (~30 s)

For a design of sizes (the default ladder's five N, and ten sizes over 400x), draw many
synthetic sweeps from a known law with lognormal noise, fit each, and count how often
the 95% interval holds the truth. Two ways to draw the refits, side by side:
  pairs: resample the (x, y) rows with replacement (the textbook bootstrap, written here
         as the reference);
  fixed: scalecli's own (`laws.bootstrap_power`, `laws.bootstrap_saturating`): the sizes
         stay fixed, each refit gets the fitted curve plus noise whose scale is drawn from
         its chi-square distribution.
The saturating E, A and alpha that `fit` reports use neither: they are profile-likelihood
intervals (`laws.profile_intervals`), counted on their own row, followed by how many of
those intervals had an end the data did not reach (an upper end reported as null, or a
lower end reported as 0 for E and A, or null for alpha): see `profile_hits`.
Every rate divides by all the sweeps drawn: a fit that does not converge reports no
interval, so it counts as a miss. An honest 95% interval covers about 95%; the binomial
sd is printed with each figure.

Then ladders with seeds and an lr grid (`seeded_rows`): every size runs a grid of
learning rates, each with several seeds, and the loss is the law plus a quadratic penalty in
log(lr / lr_opt) plus seed noise; the grid's centre misses each size's optimum by a random
fraction of a grid step, so picking the best lr is noisy as well. The power law's b is
fitted four ways, each with the fixed-design bootstrap:
  naive:      each size's best single run (the lowest loss over every lr and seed);
  every seed: each seed's best-lr run, every seed a point (what `fit` did before seeds
              were averaged);
  means:      each size's best lr by seed mean, the mean over its seeds one point; the
              bootstrap's noise from the residuals alone;
  fit:        the same points, with the seed level (`seeds.seed_level`): what `fit` does.
Each gets its coverage and its median interval width: a wider interval covers more easily.

The last line is machine-readable, per design tag (5: the default ladder, 10: ten sizes);
coverage in percent, counts out of --reps:
  power_b_5=<%> profile_E_5=<%> profile_A_5=<%> profile_alpha_5=<%> unbounded_E_5=<n>
  unbounded_A_5=<n> unbounded_alpha_5=<n> not_converged_5=<n> ... (then the same for 10)
then per seeded design tag (5, 5lr, 5het, 10) and method (naive, every, means, fit):
  seeds_b_<method>_<tag>=<%> seeds_width_<method>_<tag>=<median width of b's interval>
(--seeded prints only those). With --chinchilla: chinchilla_E=<%> ... chinchilla_beta=<%>
not_converged=<n>. With --isoflop: isoflop_a=<%> isoflop_b=<%> isoflop_a_bias=<mean error>
isoflop_a_sd=<sd of the estimates> isoflop_width=<median width of a's interval> not_converged=<n>.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scalecli.fit import chinchilla, isoflop, laws, seeds

# tag -> (name, sizes); the tag names the design in the last line's keys.
DESIGNS = {
    "5": ("5 sizes, 36x (default ladder)", np.array([21720, 84912, 150080, 335712, 793344.0])),
    "10": ("10 sizes, 400x", np.geomspace(2e4, 8e6, 10)),
}
PARAMS = ("E", "A", "alpha")  # the order of SATURATING and of laws.profile_intervals
POWER = np.array([214.0, -0.108])  # the default sweep's fit
SATURATING = np.array([2.0, 4.0, 0.08])  # E, A, alpha: a floor half of the loss


def pairs_power(x: np.ndarray, y: np.ndarray, n_boot: int,
                rng: np.random.Generator) -> np.ndarray:
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    out = [laws.fit_power(x[i], y[i]).theta for i in idx if np.unique(x[i]).size >= 2]
    return np.array(out)


def pairs_saturating(x: np.ndarray, y: np.ndarray, point: laws.FitResult, n_boot: int,
                     rng: np.random.Generator) -> np.ndarray:
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


def profile_hits(lo: float | None, hi: float | None, truth: float) -> tuple[bool, bool]:
    """(covers, open) for one profile-likelihood interval as `fit` reports it.

    An end the data do not reach is reported as null (an upper end, or alpha's lower end)
    or, for the lower ends of E and A, as 0. Decision: such an end counts as what the user
    is shown, unbounded (0 is the end of the domain of E and A), so the interval covers
    only if the truth is on the right side of its bounded end; [lo, inf) covers iff
    lo <= truth. That is the honest coverage of the reported interval, but an interval
    that is open on one side is easy to cover and says little, so `open` flags it and the
    table reports how many there were next to the coverage, never folded into it.
    """
    open_end = lo is None or hi is None or lo == 0.0
    covers = (lo is None or lo <= truth) and (hi is None or truth <= hi)
    return bool(covers), open_end


def pct(hits: float | np.ndarray, reps: int) -> str:
    values = np.atleast_1d(np.asarray(hits, dtype=float)) * 100 / reps
    return ", ".join(f"{v:.0f}" for v in values) + "%"


def power_rows(tag: str, name: str, x: np.ndarray, reps: int, n_boot: int,
               rng: np.random.Generator) -> dict[str, float]:
    """Coverage of the exponent b of the power law, pairs and fixed-design bootstrap."""
    hits = {"pairs": 0.0, "fixed": 0.0}
    for _ in range(reps):
        y = laws.power_predict(POWER, x) * np.exp(rng.normal(0, 0.005, x.size))
        hits["pairs"] += covered(pairs_power(x, y, n_boot, rng)[:, 1], POWER[1])
        hits["fixed"] += covered(laws.bootstrap_power(x, y, n_boot, rng)[0][:, 1], POWER[1])
    print(f"{name:32} {'power: b':34} {100 * hits['pairs'] / reps:>17.1f}% "
          f"{100 * hits['fixed'] / reps:>17.1f}%", flush=True)
    return {f"power_b_{tag}": 100 * hits["fixed"] / reps}


def saturating_rows(tag: str, name: str, x: np.ndarray, reps: int, n_boot: int,
                    rng: np.random.Generator) -> dict[str, float]:
    """Coverage of E, A, alpha and the curve at 10x; a fit that does not converge is a miss.

    `fit` reports no numbers for a fit that does not converge, so that sweep's intervals
    held nothing: every rate divides by all `reps` sweeps, not by the converged ones.
    """
    xq = 10 * x.max()
    yq = laws.saturating_predict(SATURATING, xq)
    par = {"pairs": np.zeros(3), "fixed": np.zeros(3)}
    curve = {"pairs": 0, "fixed": 0}
    profiled, closed, open_ends = np.zeros(3), np.zeros(3), np.zeros(3, dtype=int)
    fitted = 0
    for _ in range(reps):
        y = laws.saturating_predict(SATURATING, x) * np.exp(rng.normal(0, 0.003, x.size))
        point = laws.fit_saturating(x, y)
        if not point.converged:
            continue  # a miss for every interval: nothing is added to the hits
        fitted += 1
        for j, (lo, hi) in enumerate(laws.profile_intervals(x, y, point).values()):
            covers, open_end = profile_hits(lo, hi, SATURATING[j])  # E, A, alpha, in order
            profiled[j] += covers
            closed[j] += covers and not open_end
            open_ends[j] += open_end
        draws = {"pairs": pairs_saturating(x, y, point, n_boot, rng),
                 "fixed": laws.bootstrap_saturating(x, y, point, n_boot, rng)[0]}
        for kind, boots in draws.items():
            if len(boots) == 0:
                continue  # no refit converged: no interval, a miss
            par[kind] += covered(boots, SATURATING)
            with np.errstate(over="ignore"):
                curve[kind] += covered(laws.saturating_predict(boots.T, xq), yq)
    print(f"{name:32} {'saturating: E, A, alpha':34} {pct(par['pairs'], reps):>18} "
          f"{pct(par['fixed'], reps):>18}")
    print(f"{name:32} {'saturating: curve at 10x the largest':34} "
          f"{100 * curve['pairs'] / reps:>17.1f}% {100 * curve['fixed'] / reps:>17.1f}%")
    print(f"{name:32} {'saturating: E, A, alpha, profile F':34} {'':>18} "
          f"{pct(profiled, reps):>18}")
    counts = ", ".join(str(n) for n in open_ends) + f" of {reps}"
    print(f"{name:32} {'  intervals with an unbounded end':34} {'':>18} {counts:>18}")
    print(f"{name:32} {'  profile F, unbounded = miss':34} {'':>18} {pct(closed, reps):>18}")
    print(f"{'':32} ({fitted} of {reps} saturating fits converged; the others count as "
          "misses)", flush=True)
    out = {f"profile_{k}_{tag}": 100 * profiled[j] / reps for j, k in enumerate(PARAMS)}
    out.update({f"unbounded_{k}_{tag}": float(open_ends[j]) for j, k in enumerate(PARAMS)})
    out[f"not_converged_{tag}"] = float(reps - fitted)
    return out


# tag -> (name, sizes, (lowest, highest) seed sd in nats, lr penalty in nats per (ln lr)^2).
# Seeds of one size disagreed by up to 0.04 nats on Shakespeare (DESIGN.md): an sd of about
# 0.015. A factor 2 off the best lr costs 0.06 ln(2)^2 = 0.03 nats; "5lr" has a sharp
# optimum (0.14 nats for a factor 2) and quiet seeds, so that the lr pick is most of the
# noise; in "5het" each size's seed sd is drawn log-uniform between the two ends.
SEEDED = {
    "5": ("5 sizes, 5 lrs, 3 seeds", DESIGNS["5"][1], (0.015, 0.015), 0.06),
    "5lr": ("5 sizes, sharp lr optimum", DESIGNS["5"][1], (0.005, 0.005), 0.3),
    "5het": ("5 sizes, seed sd per size", DESIGNS["5"][1], (0.003, 0.06), 0.06),
    "10": ("10 sizes, 5 lrs, 3 seeds", DESIGNS["10"][1], (0.015, 0.015), 0.06),
}
N_SEEDS = 3
LR_STEPS = np.log(2.0) * np.arange(-2, 3)  # the grid: 5 lrs a factor 2 apart
SEEDED_METHODS = ("naive", "every", "means", "fit")


def seeded_sweep(x: np.ndarray, seed_sd: tuple[float, float], curvature: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[dict[str, str]]]:
    """One synthetic sweep: loss (sizes, lrs, seeds) and its rows as results.csv strings."""
    # The grid's centre misses lr_opt by up to half a step, at random per size.
    off = rng.uniform(-0.5, 0.5, (x.size, 1)) * np.log(2.0) + LR_STEPS  # ln(lr / lr_opt)
    law = np.log(POWER[0]) + POWER[1] * np.log(x)  # ln ppl = loss
    sd = np.exp(rng.uniform(*np.log(seed_sd), (x.size, 1, 1)))  # per size
    loss = (law[:, None, None] + curvature * off[:, :, None] ** 2
            + sd * rng.standard_normal((x.size, LR_STEPS.size, N_SEEDS)))
    rows = [{"model": f"m{i}", "params_non_embedding": repr(float(x[i])), "tokens": "2e6",
             "lr": repr(float(1e-2 * np.exp(off[i, k]))), "seed": str(s),
             "val_loss": repr(float(loss[i, k, s])), "val_ppl": repr(float(np.exp(loss[i, k, s])))}
            for i in range(x.size) for k in range(LR_STEPS.size) for s in range(N_SEEDS)]
    return loss, rows


def seeded_intervals(x: np.ndarray, loss: np.ndarray, rows: list[dict[str, str]], n_boot: int,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """b's bootstrap draws by each method (SEEDED_METHODS) for one sweep."""
    header = list(rows[0])
    naive = np.exp(loss.reshape(x.size, -1).min(axis=1))
    every = np.exp(loss.min(axis=1))  # (sizes, seeds): each seed's best lr
    # The fit's own path (driver._form_data and driver._seed_level): configurations, the
    # best lr by seed mean, one point per configuration.
    lad = seeds.ladder(rows, header, "params_non_embedding", "tokens")
    fitted = [rows[i] for i in lad.fitted_rows()]
    xp = lad.first(np.array([float(r["params_non_embedding"]) for r in fitted]))
    yp = lad.mean(np.array([float(r["val_ppl"]) for r in fitted]))
    log_y = np.log([float(r["val_ppl"]) for r in rows])
    level = seeds.seed_level(lad, log_y, n_boot, rng)
    return {
        "naive": laws.bootstrap_power(x, naive, n_boot, rng)[0][:, 1],
        "every": laws.bootstrap_power(np.repeat(x, N_SEEDS), every.ravel(), n_boot, rng)[0][:, 1],
        "means": laws.bootstrap_power(xp, yp, n_boot, rng)[0][:, 1],
        "fit": laws.bootstrap_power(xp, yp, n_boot, rng, level)[0][:, 1],
    }


def seeded_rows(tag: str, name: str, x: np.ndarray, seed_sd: tuple[float, float],
                curvature: float,
                reps: int, n_boot: int, rng: np.random.Generator) -> dict[str, float]:
    """Coverage and median width of b's 95% interval by each method, on seeded ladders."""
    hits = dict.fromkeys(SEEDED_METHODS, 0.0)
    widths: dict[str, list[float]] = {m: [] for m in SEEDED_METHODS}
    for _ in range(reps):
        loss, rows = seeded_sweep(x, seed_sd, curvature, rng)
        for method, draws in seeded_intervals(x, loss, rows, n_boot, rng).items():
            lo, hi = np.percentile(draws, [2.5, 97.5])
            hits[method] += lo <= POWER[1] <= hi
            widths[method].append(hi - lo)
    cover = " ".join(f"{100 * hits[m] / reps:>9.1f}%" for m in SEEDED_METHODS)
    width = " ".join(f"{np.median(widths[m]):>10.4f}" for m in SEEDED_METHODS)
    sd = f"{seed_sd[0]:g}" + (f"-{seed_sd[1]:g}" if seed_sd[1] != seed_sd[0] else "")
    print(f"{name:27} {'sd ' + sd + ' c ' + f'{curvature:g}':20} {'b covered':13} {cover}")
    print(f"{'':27} {'':20} {'median width':13} {width}", flush=True)
    out = {f"seeds_b_{m}_{tag}": 100 * hits[m] / reps for m in SEEDED_METHODS}
    out.update({f"seeds_width_{m}_{tag}": float(np.median(widths[m])) for m in SEEDED_METHODS})
    return out


def run_seeded(reps: int, n_boot: int, rng: np.random.Generator) -> dict[str, float]:
    print(f"\nseeded ladders: {N_SEEDS} seeds x {LR_STEPS.size} lrs per size, {reps} sweeps "
          f"each; power law b, fixed-design bootstrap ({n_boot} refits)")
    print(f"{'design':27} {'noise (nats)':20} {'':13} "
          + " ".join(f"{m:>10}" for m in SEEDED_METHODS))
    figures: dict[str, float] = {}
    for tag, (name, x, seed_sd, curvature) in SEEDED.items():
        figures.update(seeded_rows(tag, name, x, seed_sd, curvature, reps, n_boot, rng))
    return figures


def last_line(figures: dict[str, float]) -> str:
    def text(key: str, value: float) -> str:
        if key.startswith(("seeds_width", "isoflop_a_", "isoflop_width")):
            return f"{key}={value:.4f}"
        if key.startswith(("power", "profile", "chinchilla", "seeds_b", "isoflop")):
            return f"{key}={value:.1f}"
        return f"{key}={value:.0f}"

    return " ".join(text(k, v) for k, v in figures.items())


def run(reps: int, n_boot: int, seed: int, designs: dict[str, tuple[str, np.ndarray]],
        seeded_only: bool = False) -> None:
    rng = np.random.default_rng(seed)
    if seeded_only:
        print(last_line(run_seeded(reps, n_boot, rng)))
        return
    sd = 100 * np.sqrt(0.95 * 0.05 / reps)
    print(f"{reps} synthetic sweeps per design, {n_boot} refits each; binomial sd at 95%: "
          f"{sd:.1f} points\n")
    print(f"{'design':32} {'interval':34} {'pairs':>18} {'fixed':>18}")
    figures: dict[str, float] = {}
    for tag, (name, x) in designs.items():
        figures.update(power_rows(tag, name, x, reps, n_boot, rng))
        figures.update(saturating_rows(tag, name, x, reps, n_boot, rng))
    figures.update(run_seeded(reps, n_boot, rng))
    print(last_line(figures))


def run_chinchilla(reps: int, n_boot: int, seed: int) -> None:
    """Sweeps of 60 random (N, D) points from Hoffmann et al.'s own fit, 1% noise.

    As above, a fit that does not converge counts as a miss for all five parameters.
    """
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
            if len(boots):
                hits += covered(boots, theta)
            fitted += 1
    cover = ", ".join(f"{100 * h / reps:.0f}%" for h in hits)
    print(f"chinchilla, 60 points, pairs bootstrap: E, A, B, alpha, beta covered {cover} "
          f"({reps} sweeps, {fitted} converged, the others count as misses; {n_boot} refits "
          f"each; binomial sd at 95%: {100 * np.sqrt(0.95 * 0.05 / reps):.1f} points)")
    names = ("E", "A", "B", "alpha", "beta")
    figures = {f"chinchilla_{k}": 100 * h / reps for k, h in zip(names, hits, strict=True)}
    figures["not_converged"] = float(reps - fitted)
    print(last_line(figures))


def run_isoflop(reps: int, n_boot: int, seed: int) -> None:
    """Approach 2 on the design of the issue's bar: Hoffmann et al.'s law, C = 6ND, 1%
    noise, 5 budgets over 2 decades, 7 sizes a factor 3 apart centred on the optimum."""
    rng = np.random.default_rng(seed)
    theta = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
    truth = np.array([0.28, 0.34]) / 0.62  # a = beta / (alpha + beta), b = alpha / (...)
    flops = np.geomspace(1e18, 1e20, 5)
    n_opt = chinchilla.compute_optimal(theta, flops)["N_opt"]
    hits, errors, widths, fitted = np.zeros(2), [], [], 0
    for r in range(reps):
        budgets = []
        for c, n0 in zip(flops, n_opt, strict=True):
            n = n0 * 3.0 ** np.arange(-3, 4)
            loss = chinchilla.chinchilla_predict(theta, n, c / (6 * n)) * np.exp(
                rng.normal(0, 0.01, n.size))
            budgets.append(isoflop.Budget(float(c), None, np.log(n), loss, np.log(c / (6 * n))))
        fit = isoflop.analyse_isoflop(budgets, n_boot=n_boot, seed=seed * 100_000 + r)
        if not fit["converged"] or fit["params"]["a_opt"]["ci_low"] is None:
            continue  # no interval: a miss
        fitted += 1
        for j, name in enumerate(("a_opt", "b_opt")):
            p = fit["params"][name]
            hits[j] += p["ci_low"] <= truth[j] <= p["ci_high"]
        a = fit["params"]["a_opt"]
        errors.append(a["value"] - truth[0])
        widths.append(a["ci_high"] - a["ci_low"])
    print(f"isoflop (approach 2), 5 budgets x 7 sizes, 1% noise: a covered "
          f"{100 * hits[0] / reps:.1f}%, b {100 * hits[1] / reps:.1f}% ({reps} designs, "
          f"{fitted} fitted, the others count as misses; {n_boot} refits each; binomial sd at "
          f"95%: {100 * np.sqrt(0.95 * 0.05 / reps):.1f} points); a - truth: mean "
          f"{np.mean(errors):+.4f}, sd {np.std(errors):.4f}, max |.| {np.max(np.abs(errors)):.4f}")
    print(last_line({"isoflop_a": 100 * hits[0] / reps, "isoflop_b": 100 * hits[1] / reps,
                     "isoflop_a_bias": float(np.mean(errors)), "isoflop_a_sd": float(np.std(
                         errors)), "isoflop_width": float(np.median(widths)),
                     "not_converged": float(reps - fitted)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, help="sweeps per design (default 300; chinchilla 40)")
    parser.add_argument("--boot", type=int, help="refits per sweep (default 400; chinchilla 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chinchilla", action="store_true",
                        help="the Chinchilla form's pairs bootstrap instead")
    parser.add_argument("--seeded", action="store_true",
                        help="only the ladders with seeds and an lr grid (a few minutes)")
    parser.add_argument("--tiny", action="store_true",
                        help="3 sweeps, 20 refits (chinchilla: 1 sweep, 5 refits): a smoke run")
    parser.add_argument("--isoflop", action="store_true",
                        help="approach 2's a and b on isoFLOP designs (default 100 designs)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow in far-out refits' exp
    if args.isoflop:
        run_isoflop(args.reps or (3 if args.tiny else 100), args.boot or (20 if args.tiny
                    else 400), args.seed)
    elif args.chinchilla:
        run_chinchilla(args.reps or (1 if args.tiny else 40),
                       args.boot or (5 if args.tiny else 100), args.seed)
    else:
        run(args.reps or (3 if args.tiny else 300), args.boot or (20 if args.tiny else 400),
            args.seed, DESIGNS, args.seeded)


if __name__ == "__main__":
    main()
