"""When not to trust a fit: one small rule per diagnostic code, and `diagnose` to run them.

A rule whose inputs are missing says so once (code `skipped`); one that does not apply (one
seed, no lr grid) says nothing. Sizes are compared within one token budget; a size's loss is
the mean over seeds at the lr whose seed mean is the lowest (the runs the fit keeps)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from scalecli.epochs import epochs_note
from scalecli.fit.findings import Diagnostic, Evidence, listing, skipped
from scalecli.fit.laws import fit_power
from scalecli.fit.seeds import MIN_SEEDS_OUTLIER, OUTLIER_Z, best_config, pooled_sd, robust_z

# Two seed sds, about the 95% range of one run: sizes closer than this are not ordered.
NOISE_SDS = 2.0
# Compute-optimal training sees ~20 tokens per parameter (Hoffmann et al. 2022).
OPTIMAL_TOKENS_PER_PARAM = 20.0
# Fewer than three learning rates cannot show an optimum inside the grid.
MIN_LR_GRID = 3
# Healthy sweeps here gave R^2 (log) 0.99-0.999, broken ones 0.87 and 0.53 (DESIGN.md,
# "Measured on this machine"); 0.95 sits between the two.
MIN_R2 = 0.95
# The usual 5% level; a quadratic's three coefficients need four sizes for one dof.
CURVE_ALPHA = 0.05
MIN_SIZES_CURVE = 4
# fit.json's band and the measured interval coverage stop at 10x the largest size
# (analysis._band, bench/fit_coverage.py); nothing checks a law further out.
FAR_FACTOR = 10.0
# Leaving one of four sizes out still leaves a line with a degree of freedom.
MIN_SIZES_LOO = 4


def num(cell: object) -> float | None:
    """A finite float, or None for a blank, non-numeric or non-finite cell."""
    try:
        value = float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def loss_column(ev: Evidence) -> str:
    """The loss rules compare val_loss (nats) when the CSV has it, else the fitted y."""
    return "val_loss" if "val_loss" in ev.header else ev.y_col


@dataclass(frozen=True)
class Run:
    """One row with the numbers the rules group and compare by."""

    x: float
    loss: float
    budget: float | None  # the tokens column
    lr: float | None
    row: dict[str, str]


@dataclass(frozen=True)
class Size:
    """One size at one budget: every run, the runs of its best lr, and their mean loss."""

    x: float
    label: str  # model name(s), else x; with the budget when a sweep has several
    loss: float
    best: list[Run]
    runs: list[Run]


def runs(ev: Evidence) -> list[Run]:
    """Rows with a numeric x and loss (blank or non-numeric cells are missing); the others
    cannot be placed on the law."""
    cells = ((row, num(row.get(ev.x_col)), num(row.get(loss_column(ev)))) for row in ev.rows)
    return [Run(x, loss, num(row.get("tokens")), num(row.get("lr")), row)
            for row, x, loss in cells if x is not None and loss is not None]


def group(items: list[Run], key: Callable[[Run], object]) -> dict:
    out: dict = {}
    for r in items:
        out.setdefault(key(r), []).append(r)
    return out


def sizes_by_budget(items: list[Run]) -> dict[float | None, list[Size]]:
    """Per token budget, its sizes in order of x."""
    by_size = group(items, lambda r: (r.budget, r.x))
    several = len({budget for budget, _ in by_size}) > 1
    out: dict[float | None, list[Size]] = {}
    for (budget, x), members in sorted(by_size.items(), key=lambda kv: kv[0][1]):
        # The lr the fit picks (seeds.best_config: seed means, paired on shared seeds);
        # without a seed column there are no seeds to average: the best single run.
        if any("seed" in r.row for r in members):
            per_lr = list(group(members, lambda r: r.lr).values())
            best = per_lr[best_config([seed_losses(rs) for rs in per_lr])]
        else:
            best = [min(members, key=lambda r: r.loss)]
        models = sorted({r.row.get("model", "") for r in members} - {""})
        name = "/".join(models) or f"{x:g}"  # the model name(s), else x
        name += f" at {budget:g} tokens" if several and budget is not None else ""
        mean = float(np.mean([r.loss for r in best]))
        out.setdefault(budget, []).append(Size(x, name, mean, best, members))
    return out


def seed_losses(members: list[Run]) -> dict[str, float]:
    return {r.row.get("seed", str(i)): r.loss for i, r in enumerate(members)}


def all_sizes(ev: Evidence) -> list[Size]:
    return [s for sizes in sizes_by_budget(runs(ev)).values() for s in sizes]


def seed_groups(size: Size) -> list[list[Run]]:
    """A size's runs that differ only in seed (same lr)."""
    return list(group(size.runs, lambda r: r.lr).values())


def pooled_seed_sd(sizes: list[Size]) -> float | None:
    """Seed-to-seed sd pooled over every configuration with >= 2 seeds, or None; outlier
    seeds left out (`seeds.pooled_sd`, the same number as fit.json's seed_noise)."""
    return pooled_sd(np.array([r.loss for r in m]) for s in sizes for m in seed_groups(s)).sd


def points(sizes: list[Size], column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, mean log y) of the best-per-size points, or None if a y is missing or <= 0."""
    ly = []
    for size in sizes:
        values = [num(r.row.get(column)) for r in size.best]
        if any(v is None or v <= 0 for v in values):
            return None
        ly.append(float(np.mean(np.log(values))))
    return np.array([s.x for s in sizes]), np.array(ly)


def non_monotone(ev: Evidence) -> list[Diagnostic]:
    groups = sizes_by_budget(runs(ev))
    sd = pooled_seed_sd(all_sizes(ev)) if "seed" in ev.header else None
    floor = NOISE_SDS * sd if sd is not None else 0.0
    found = []
    for sizes in groups.values():
        for j in range(1, len(sizes)):
            ref = min(sizes[:j], key=lambda t: t.loss)  # the best of the smaller sizes
            if sizes[j].loss - ref.loss > floor:
                found.append(f"{sizes[j].label} ({sizes[j].loss:#.5g}) is worse than the "
                             f"smaller {ref.label} ({ref.loss:#.5g})")
    noise = (f" by more than {NOISE_SDS:g} seed sds ({floor:.3g})" if sd is not None
             else " (no seeds measure the noise, so any increase counts)")
    return listing("non_monotone", found, f"A larger size has a higher best {loss_column(ev)} "
                   f"than a smaller one{noise}", "Check each size's lr and seeds before "
                   "trusting the exponent.")


def epochs_message(tokens: float, train_tokens: int) -> Diagnostic | None:
    """`multi_epoch` for one budget, or None within one epoch. The threshold (4 epochs,
    Muennighoff et al. 2023) and the words are scalecli.epochs', which the sweep's dry run
    uses too (the sweep stage may not import fit/), so both say the same thing."""
    if train_tokens <= 0 or (note := epochs_note(tokens, train_tokens)) is None:
        return None
    severity, text = note
    return Diagnostic("multi_epoch", severity, f"{text[:1].upper()}{text[1:]}.")


def multi_epoch(ev: Evidence) -> list[Diagnostic]:
    if ev.data_summary is None:
        return [skipped("multi_epoch", "no data.json beside the CSV (not a sweep folder), so "
                                       "the number of training tokens is unknown")]
    train = num(ev.data_summary.get("train_tokens"))
    if train is None or train <= 0:
        return [skipped("multi_epoch", "data.json has no positive train_tokens")]
    if not (budgets := [b for row in ev.rows if (b := num(row.get("tokens"))) is not None]):
        return [skipped("multi_epoch", "the CSV has no numeric tokens column")]
    found = epochs_message(max(budgets), int(train))
    return [found] if found else []


def data_limited(ev: Evidence) -> list[Diagnostic]:
    if missing := [c for c in ("tokens", "params") if c not in ev.header]:
        return [skipped("data_limited", f"the CSV has no {' or '.join(missing)} column")]
    sizes = all_sizes(ev)
    top = max(sizes, key=lambda s: s.x, default=None)  # None only when there are no sizes
    ratios = [t / p for s in sizes if s.x == top.x for r in s.runs
              if (t := num(r.row.get("tokens"))) is not None
              and (p := num(r.row.get("params"))) is not None and p > 0]
    if not ratios or max(ratios) >= OPTIMAL_TOKENS_PER_PARAM:
        return []
    return [Diagnostic("data_limited", "info", f"The largest size ({top.label}) saw "
                       f"{max(ratios):.1f} tokens per parameter, below the compute-optimal "
                       f"~{OPTIMAL_TOKENS_PER_PARAM:g} (Hoffmann et al. 2022): the exponent "
                       "describes what size buys at this budget, not the model-size law.")]


def lr_edge(ev: Evidence) -> list[Diagnostic]:
    if "lr" not in ev.header:
        return [skipped("lr_edge", "the CSV has no lr column")]
    found = []
    for size in all_sizes(ev):
        groups = [m for m in seed_groups(size) if m[0].lr is not None]
        per_lr = {m[0].lr: m for m in groups}
        best = (groups[best_config([seed_losses(m) for m in groups])][0].lr
                if len(per_lr) >= MIN_LR_GRID else None)
        if best is not None and best in (min(per_lr), max(per_lr)):
            end = "smallest" if best == min(per_lr) else "largest"
            found.append(f"{size.label} at lr {best:g} (the {end} of {len(per_lr)} tried)")
    return listing("lr_edge", found, "The best learning rate is at the edge of the grid for",
                   "The optimum may lie outside it, so that loss is too high; extend the grid.")


def curvature_p(lx: np.ndarray, ly: np.ndarray) -> float | None:
    """Two-sided p-value of c2 in log y = c0 + c1 lx + c2 lx^2 (the t-test, the same as the
    F-test of the added term); None with fewer than MIN_SIZES_CURVE distinct x."""
    if np.unique(lx).size < MIN_SIZES_CURVE:
        return None
    u = lx - lx.mean()  # centred, so that the normal equations stay well conditioned
    design = np.column_stack([np.ones_like(u), u, u**2])
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    dof, rss = lx.size - 3, float(np.sum((ly - design @ coef) ** 2))
    se = math.sqrt(rss / dof * np.linalg.inv(design.T @ design)[2, 2])
    if se == 0.0:  # an exact fit: any curvature is certain, none is none
        return 0.0 if abs(coef[2]) > 1e-12 else 1.0
    return float(2.0 * stats.t.sf(abs(coef[2]) / se, dof))


def bends(ev: Evidence, y_col: str) -> list[str]:
    """A note per budget whose best-per-size points bend away from a line in log-log."""
    out = []
    for sizes in sizes_by_budget(runs(ev)).values():
        pts = points(sizes, y_col)
        p = curvature_p(np.log(pts[0]), pts[1]) if pts else None
        if p is not None and p < CURVE_ALPHA:
            out.append(f"{sizes[0].label} to {sizes[-1].label} bend in log-log space "
                       f"(quadratic term p = {p:.3f})")
    return out


def poor_fit(ev: Evidence) -> list[Diagnostic]:
    out = []
    for form in ("power", "saturating"):
        if not (fit := ev.fits.get(form) or {}).get("converged"):
            continue
        r2 = fit.get("r2_log")
        reasons = [f"R^2 (log) {r2:.3f} < {MIN_R2:g}"] if r2 is not None and r2 < MIN_R2 else []
        if form == "power":  # only a line should not bend; the saturating form does by design
            reasons += bends(ev, fit.get("y") or ev.y_col)
        many_d = len({num(r.get("tokens")) for r in ev.rows} - {None}) > 1
        out += listing("poor_fit", reasons, f"The {form} law fits poorly", (
            "Its runs differ in D as well as N, which a law in N alone cannot follow: fit one "
            "budget (--where tokens=...), or use --form chinchilla or compute" if many_d else
            "Add sizes, check each size's learning rate" + (
                ", or try --form saturating" if form == "power" else "")) + ".")
    return out


def within_noise(ev: Evidence) -> list[Diagnostic]:
    if "seed" not in ev.header:
        return [skipped("within_noise", "the CSV has no seed column")]
    if (sd := pooled_seed_sd(all_sizes(ev))) is None:
        return []
    found = [f"{a.label} and {b.label} ({a.loss:#.5g} vs {b.loss:#.5g})"
             for sizes in sizes_by_budget(runs(ev)).values()
             for a, b in itertools.pairwise(sizes) if abs(a.loss - b.loss) < NOISE_SDS * sd]
    return listing("within_noise", found, f"Neighbouring sizes differ by less than "
                   f"{NOISE_SDS:g} seed sds ({NOISE_SDS:g} x {sd:.3g})",
                   "Their order is noise; add seeds or space the sizes further apart.")


def seed_outlier(ev: Evidence) -> list[Diagnostic]:
    if "seed" not in ev.header:
        return [skipped("seed_outlier", "the CSV has no seed column")]
    found = []
    for size in all_sizes(ev):
        for members in (m for m in seed_groups(size) if len(m) >= MIN_SEEDS_OUTLIER):
            losses = np.array([r.loss for r in members])
            found += [f"{r.row.get('run_id') or '(no run_id)'} ({size.label}, seed "
                      f"{r.row.get('seed', '?')}: {r.loss:#.5g} against a median of "
                      f"{np.median(losses):#.5g}, z = {z:.1f})"
                      for r, z in zip(members, robust_z(losses), strict=True) if z > OUTLIER_Z]
    return listing("seed_outlier", found, f"A seed is far from the others of its "
                   f"configuration (robust z > {OUTLIER_Z:g})", "Look at its curve.csv for a "
                   "divergence, then rerun it or leave it out with --where.")


def far_extrapolation(ev: Evidence) -> list[Diagnostic]:
    items, predict = runs(ev), [] if ev.predict is None else [float(p) for p in ev.predict]
    reach = {}  # the axis the --predict values are on -> its largest fitted value
    if items and (not ev.fits or {"power", "saturating"} & set(ev.fits)):
        reach[ev.x_col] = max(r.x for r in items)
    if "chinchilla" in ev.fits:  # its --predict values are FLOPs, C = 6ND
        d_col = ev.fits["chinchilla"].get("d") or "tokens"
        n_col = ev.fits["chinchilla"].get("x") or ev.x_col  # under `all` N is not x_col
        flops = [6 * n * d for r in items if (d := num(r.row.get(d_col))) is not None
                 and (n := num(r.row.get(n_col))) is not None]
        reach.update({"C = 6ND": max(flops)} if flops else {})
    return [Diagnostic("far_extrapolation", "warning",
                       f"--predict {', '.join(f'{p:g}' for p in far)} reaches "
                       f"{max(far) / top:.0f}x the largest {name} fitted ({top:g}); nothing "
                       f"checks a law beyond {FAR_FACTOR:g}x, so treat it as a guess and add "
                       "larger sizes.")
            for name, top in reach.items()
            if (far := [p for p in predict if p > FAR_FACTOR * top])]


def unbounded_params(fits: dict) -> list[str]:
    """'form param' for every fitted value whose interval has an open end. A bootstrap form
    run with --bootstrap 0 has no intervals by request: that is not instability."""
    return [f"{form} {name}" for form, fit in fits.items()
            if fit.get("converged")
            and (form == "saturating" or (fit.get("bootstrap") or {}).get("n", 1) > 0)
            for name, p in (fit.get("params") or {}).items()
            if p.get("value") is not None and None in (p.get("ci_low"), p.get("ci_high"))]


def loo_shifts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far b moves when each size in turn is left out of the power fit."""
    b_all = fit_power(x, y).theta[1]
    return np.array([fit_power(x[k], y[k]).theta[1] - b_all for k in ~np.eye(x.size, dtype=bool)])


def unstable_fit(ev: Evidence) -> list[Diagnostic]:
    out = listing("unstable_fit", unbounded_params(ev.fits), "The data leave the 95% interval "
                  "open-ended for", "Those values are not measured; add sizes over a wider range.")
    if not (power := ev.fits.get("power") or {}).get("converged"):
        return out
    b = power["params"]["b"]
    if None in (b.get("ci_low"), b.get("ci_high")):
        return [*out, skipped("unstable_fit (leave one size out)",
                              "the power law's b has no 95% interval to compare with")]
    half = (b["ci_high"] - b["ci_low"]) / 2.0
    for sizes in sizes_by_budget(runs(ev)).values():
        pts = points(sizes, power.get("y") or ev.y_col) if len(sizes) >= MIN_SIZES_LOO else None
        if pts is None:
            continue
        shifts = loo_shifts(pts[0], np.exp(pts[1]))
        worst = int(np.argmax(np.abs(shifts)))
        if abs(shifts[worst]) > half:
            out.append(Diagnostic("unstable_fit", "warning", f"Leaving out {sizes[worst].label} "
                                  f"moves b by {shifts[worst]:+.4f}, more than its 95% interval's "
                                  f"half-width {half:.4f}: one size carries the law; check its "
                                  "runs and add sizes around it."))
    return out


def mixed_schedules(ev: Evidence) -> list[Diagnostic]:
    """The schedule moves the final loss by itself: on the embedded corpus s4's WSD branches
    ended 0.07-0.15 nats below cosine runs of the same length at every peak lr tried
    (README, bench/wsd.py), so a law through both kinds of row mixes two curves."""
    kinds = sorted({r.get("schedule") or "cosine" for r in ev.rows})
    if "schedule" not in ev.header or len(kinds) < 2:
        return []
    listed = ", ".join(kinds)
    return [Diagnostic("mixed_schedules", "warning", f"The rows mix lr schedules ({listed}), "
                       "which end at different losses for the same run length. Fit one at a "
                       "time: --where schedule=wsd.")]


RULES: tuple[Callable[[Evidence], list[Diagnostic]], ...] = (
    non_monotone, multi_epoch, data_limited, lr_edge, poor_fit, within_noise, seed_outlier,
    far_extrapolation, unstable_fit, mixed_schedules,
)


def diagnose(evidence: Evidence) -> list[Diagnostic]:
    """Every rule, in a fixed order; a rule whose inputs are missing adds one `info` saying
    it was skipped and why."""
    return [d for rule in RULES for d in rule(evidence)]
