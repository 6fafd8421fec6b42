"""When not to trust a fit: one small rule per diagnostic code, and `diagnose` to run them.

A rule whose inputs are missing says so once (code `skipped`); one that does not apply (one
seed, no lr grid) says nothing. Sizes are compared within one budget: a token count, or in an
isoFLOP design (budget_flops) a FLOP budget, where every size has its own D and the loss is a
U in N by design, so its test is the parabola's curvature against the seed noise. A size's
loss is the mean over the seeds of the lr that the fit keeps (`seeds.pick`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from scalecli.epochs import epochs_note
from scalecli.finite import finite
from scalecli.fit.forms import LawForm, registry
from scalecli.fit.isoflop import parabola, window
from scalecli.fit.laws import fit_power
from scalecli.fit.seeds import MIN_SEEDS_OUTLIER, OUTLIER_Z, Z95, robust_z
from scalecli.fit.slices import (
    FLOPS,
    NOISE_TEXT,
    Evidence,
    Size,
    all_sizes,
    budget_of,
    gap,
    loss_column,
    points,
    pooled_seed_sd,
    runs,
    seed_groups,
    sizes_by_budget,
)

# Compute-optimal training sees ~20 tokens per parameter (Hoffmann et al. 2022): the
# fallback of data_limited when the fit measured no optimum of its own (on the embedded
# corpus the isoFLOP sweep measured about 50).
OPTIMAL_TOKENS_PER_PARAM = 20.0
# Fewer than three learning rates cannot show an optimum inside the grid.
MIN_LR_GRID = 3
# Healthy sweeps here gave R^2 (log) 0.99-0.999, broken ones 0.87 and 0.53 (DESIGN.md,
# "Measured on this machine"); 0.95 sits between the two.
MIN_R2 = 0.95
# The usual 5% level; a quadratic's three coefficients need four sizes for one dof.
CURVE_ALPHA = 0.05
MIN_SIZES_CURVE = 4
EXACT_RSS = 1e-24  # an exact fit's rss, relative to sum(log y^2): (1e-12)^2, far above rounding
# fit.json's band and the measured interval coverage stop at 10x the largest size
# (analysis._band, bench/fit_coverage.py); nothing checks a law further out.
FAR_FACTOR = 10.0
MIN_SIZES_LOO = 4  # leaving one of four sizes out still leaves a line with a dof


@dataclass(frozen=True)
class Diagnostic:
    """A stable code to grep, `info` or `warning` (do not trust it as it stands), a message."""

    code: str
    severity: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


def skipped(rule: str, why: str) -> Diagnostic:
    return Diagnostic("skipped", "info", f"{rule} skipped: {why}")


def listing(code: str, found: list[str], head: str, advice: str) -> list[Diagnostic]:
    """One warning that lists every instance found, or none."""
    return [Diagnostic(code, "warning", f"{head}: {'; '.join(found)}. {advice}")] if found else []


def non_monotone(ev: Evidence) -> list[Diagnostic]:
    sd = pooled_seed_sd(ev)
    found = []
    for (kind, _), sizes in sizes_by_budget(ev).items():
        if kind == FLOPS:  # an isoFLOP slice rises past its optimum by design
            continue
        for j in range(1, len(sizes)):
            ref = min(sizes[:j], key=lambda t: t.loss)  # the best of the smaller sizes
            if sizes[j].loss - ref.loss > gap(sd, sizes[j], ref):
                found.append(f"{sizes[j].label} ({sizes[j].loss:#.5g}) is worse than the "
                             f"smaller {ref.label} ({ref.loss:#.5g})")
    noise = (f" by more than the seed noise ({NOISE_TEXT}; sd {sd:.3g})" if sd is not None
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
    train = finite(ev.data_summary.get("train_tokens"))
    if train is None or train <= 0:
        return [skipped("multi_epoch", "data.json has no positive train_tokens")]
    # Rows without batch_tokens trained elsewhere (a sweep's checkpoints): not on this data.
    trained = [row for row in ev.rows if row.get("batch_tokens", "x") != ""]
    if not (budgets := [b for row in trained if (b := finite(row.get("tokens"))) is not None]):
        return [skipped("multi_epoch", "the CSV has no numeric tokens column")]
    found = epochs_message(max(budgets), int(train))
    return [found] if found else []


def optimal_tokens_per_param(fits: dict) -> tuple[float, str]:
    """D_opt / N_opt at the compute optimum and where that number comes from: this fit's
    own measurement (the compute forms, most direct first: `registry.by_directness`, at
    the C it reports), else Hoffmann et al.'s ~20."""
    for form in (f.name for f in registry.by_directness()):
        fit = fits.get(form) or {}
        measured = (fit.get("derived") or {}).get("tokens_per_param") or {}
        if fit.get("converged") and (value := finite(measured.get("value"))) and value > 0:
            at = finite(measured.get("flops"))
            return value, (f"the compute-optimal {value:.1f} that this fit measured ({form}"
                           + (f", at C = {at:.3g})" if at else ")"))
    return OPTIMAL_TOKENS_PER_PARAM, (
        f"the compute-optimal ~{OPTIMAL_TOKENS_PER_PARAM:g} of Hoffmann et al. (2022), as this "
        "fit measured no optimum of its own (fit --form compute measures one)")


def data_limited(ev: Evidence) -> list[Diagnostic]:
    if missing := [c for c in ("tokens", "params") if c not in ev.header]:
        return [skipped("data_limited", f"the CSV has no {' or '.join(missing)} column")]
    sizes = all_sizes(ev)
    top = max(sizes, key=lambda s: s.x, default=None)  # None only when there are no sizes
    ratios = [t / p for s in sizes if s.x == top.x for r in s.runs
              if (t := finite(r.row.get("tokens"))) is not None
              and (p := finite(r.row.get("params"))) is not None and p > 0]
    optimal, source = optimal_tokens_per_param(ev.fits)
    if not ratios or max(ratios) >= optimal:
        return []
    return [Diagnostic("data_limited", "info", f"The largest size ({top.label}) saw "
                       f"{max(ratios):.1f} tokens per parameter, below {source}: the exponent "
                       "describes what size buys at this budget, not the model-size law.")]


def unfinished(ev: Evidence, size: Size) -> dict[float, str]:
    """{lr: what happened} for the runs of this size and budget that did not end ok
    (diverged or failed), from the rows before the status filter."""
    out = {}
    for row in ev.tried or []:
        status = row.get("status") or "ok"
        if (status != "ok" and finite(row.get(ev.x_col)) == size.x
                and budget_of(row) == size.budget and (lr := finite(row.get("lr"))) is not None):
            error = (row.get("error") or "").strip()
            out[lr] = status + (f" ({error[:80]})" if error else "")
    return out


def lr_edge(ev: Evidence) -> list[Diagnostic]:
    if "lr" not in ev.header:
        return [skipped("lr_edge", "the CSV has no lr column")]
    found, notes = [], []
    for size in all_sizes(ev):
        trained = {r.lr for r in size.runs if r.lr is not None}
        lost = {lr: what for lr, what in unfinished(ev, size).items() if lr not in trained}
        tried, best = trained | set(lost), size.best[0].lr
        if best is None or len(tried) < MIN_LR_GRID:
            continue
        if best in (min(tried), max(tried)):
            end = "smallest" if best == min(tried) else "largest"
            found.append(f"{size.label} at lr {best:g} (the {end} of {len(tried)} tried)")
            continue
        if best not in (min(trained), max(trained)):
            continue
        # Only runs that did not finish lie past the best lr: a diverged one is worse, so it
        # brackets the optimum; a failed one (an OOM, a lost node) measured nothing.
        past = {lr: what for lr, what in lost.items() if (lr > best) == (best == max(trained))}
        said = ", ".join(f"{lr:g} {what}" for lr, what in sorted(past.items()))
        end = "largest" if best == max(trained) else "smallest"
        if any(what.startswith("diverged") for what in past.values()):
            notes.append(Diagnostic("lr_edge", "info", f"{size.label}: lr {best:g} is the "
                                    f"{end} that trained of {len(tried)} tried; past it {said}: "
                                    "the optimum is bracketed by divergence."))
        else:
            found.append(f"{size.label} at lr {best:g} (the {end} that trained of {len(tried)} "
                         f"tried; past it {said}, which measured nothing)")
    return [*listing("lr_edge", found, "The best learning rate is at the edge of the grid for",
                     "The optimum may lie outside it, so that loss is too high; extend the "
                     "grid."), *notes]


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
    if rss <= EXACT_RSS * max(float(np.sum(ly**2)), 1.0):  # exact: t is rounding / rounding
        return 0.0 if abs(coef[2]) > 1e-12 else 1.0  # any curvature is certain, none is none
    return float(2.0 * stats.t.sf(abs(coef[2]) / se, dof))


def bends(ev: Evidence, y_col: str) -> list[str]:
    """A note per budget whose best-per-size points bend away from a line in log-log."""
    out = []
    for (kind, _), sizes in sizes_by_budget(ev).items():
        if kind == FLOPS:  # an isoFLOP slice is a parabola by design
            continue
        pts = points(sizes, y_col)
        p = curvature_p(np.log(pts[0]), pts[1]) if pts else None
        if p is not None and p < CURVE_ALPHA:
            out.append(f"{sizes[0].label} to {sizes[-1].label} bend in log-log space "
                       f"(quadratic term p = {p:.3f})")
    return out


def poor_fit(ev: Evidence) -> list[Diagnostic]:
    out = []
    ladder = registry.ladder_forms()
    in_d = " or ".join([*(f.name for f in registry.law_forms() if f.reads_d), registry.COMPUTE])
    for form in ladder:
        if not (fit := ev.fits.get(form.name) or {}).get("converged"):
            continue
        r2 = fit.get("r2_log")
        reasons = [f"R^2 (log) {r2:.3f} < {MIN_R2:g}"] if r2 is not None and r2 < MIN_R2 else []
        if form.straight:  # only a line should not bend; a saturating law does by design
            reasons += bends(ev, fit.get("y") or ev.y_col)
        bending = " or ".join(f.name for f in ladder if not f.straight)
        many_d = len({finite(r.get("tokens")) for r in ev.rows} - {None}) > 1
        out += listing("poor_fit", reasons, f"The {form.name} law fits poorly", (
            "Its runs differ in D as well as N, which a law in N alone cannot follow: fit one "
            f"budget (--where tokens=...), or use --form {in_d}" if many_d else
            "Add sizes, check each size's learning rate" + (
                f", or try --form {bending}" if form.straight and bending else "")) + ".")
    return out


def flat_slice(sizes: list[Size], sd: float) -> str | None:
    """How an isoFLOP budget's curvature compares with the seed noise, when it is within
    it: the windowed parabola of loss in ln N that `isoflop` fits (each point weighted by
    its seeds), its curvature's standard error from the pooled seed sd alone."""
    if len(sizes) < 3:
        return None
    log_n, loss = np.log([s.x for s in sizes]), np.array([s.loss for s in sizes])
    keep = window(log_n, loss)
    if keep.size < 3:
        return None
    u, w = log_n[keep] - log_n[keep].mean(), np.array([len(sizes[k].best) for k in keep], float)
    design = np.column_stack([np.ones_like(u), u, u * u])
    se = sd * math.sqrt(np.linalg.inv(design.T @ (design * w[:, None]))[2, 2])
    c2 = parabola(u, loss[keep], w)[2]
    if abs(c2) >= Z95 * se:
        return None
    return (f"C = {sizes[0].budget[1]:.3g}: curvature {2 * c2:.3g} nats per (ln N)^2 against a "
            f"standard error of {2 * se:.3g} ({keep.size} sizes)")


def within_noise(ev: Evidence) -> list[Diagnostic]:
    if "seed" not in ev.header:
        return [skipped("within_noise", "the CSV has no seed column")]
    if (sd := pooled_seed_sd(ev)) is None:
        return []
    slices = sizes_by_budget(ev)
    found = [f"{a.label} and {b.label} ({a.loss:#.5g} vs {b.loss:#.5g})"
             for (kind, _), sizes in slices.items() if kind != FLOPS
             for a, b in itertools.pairwise(sizes) if abs(a.loss - b.loss) < gap(sd, a, b)]
    flat = [text for (kind, _), sizes in slices.items() if kind == FLOPS
            if (text := flat_slice(sizes, sd))]
    return [*listing("within_noise", found, f"Neighbouring sizes differ by less than the seed "
                     f"noise ({NOISE_TEXT}; sd {sd:.3g})",
                     "Their order is noise; add seeds or space the sizes further apart."),
            *listing("within_noise", flat, f"An isoFLOP budget's parabola is flat within the "
                     f"seed noise ({Z95:g} standard errors; seed sd {sd:.3g})",
                     "Its N_opt is not measured: widen its sizes around the optimum or add "
                     "seeds.")]


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
    forms = {name: registry.find(name) for name in ev.fits}
    if items and (not ev.fits or any(f and f.ladder for f in forms.values())):
        reach[ev.x_col] = max(r.x for r in items)
    for name, form in forms.items():  # a law in N and D: its --predict values are FLOPs
        if not (isinstance(form, LawForm) and form.compute):
            continue
        d_col = ev.fits[name].get("d") or "tokens"
        n_col = ev.fits[name].get("x") or ev.x_col  # under `all` N is not x_col
        flops = [6 * n * d for r in items if (d := finite(r.row.get(d_col))) is not None
                 and (n := finite(r.row.get(n_col))) is not None]
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
            and (_own_intervals(form) or (fit.get("bootstrap") or {}).get("n", 1) > 0)
            for name, p in (fit.get("params") or {}).items()
            if p.get("value") is not None and None in (p.get("ci_low"), p.get("ci_high"))]


def _own_intervals(name: str) -> bool:
    """Whether a form's parameter intervals come from elsewhere than its bootstrap."""
    form = registry.find(name)
    return isinstance(form, LawForm) and form.own_intervals


def loo_shifts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far b moves when each size in turn is left out of the power fit."""
    b_all = fit_power(x, y).theta[1]
    return np.array([fit_power(x[k], y[k]).theta[1] - b_all for k in ~np.eye(x.size, dtype=bool)])


def unstable_fit(ev: Evidence) -> list[Diagnostic]:
    out = listing("unstable_fit", unbounded_params(ev.fits), "The data leave the 95% interval "
                  "open-ended for", "Those values are not measured; add sizes over a wider range.")
    line = registry.default()  # the straight line whose slope leaving a size out moves
    if not (power := ev.fits.get(line.name) or {}).get("converged"):
        return out
    b = power["params"][line.exponent_param]
    if None in (b.get("ci_low"), b.get("ci_high")):
        return [*out, skipped("unstable_fit (leave one size out)",
                              f"the {line.name} law's b has no 95% interval to compare with")]
    half = (b["ci_high"] - b["ci_low"]) / 2.0
    for (kind, _), sizes in sizes_by_budget(ev).items():
        if kind == FLOPS or len(sizes) < MIN_SIZES_LOO:
            continue
        if (pts := points(sizes, power.get("y") or ev.y_col)) is None:
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
    (docs/benchmarks.md, bench/wsd.py), so a law through both kinds of row mixes two curves."""
    kinds = sorted({r.get("schedule") or "cosine" for r in ev.rows})
    if "schedule" not in ev.header or len(kinds) < 2:
        return []
    return [Diagnostic("mixed_schedules", "warning", "The rows mix lr schedules "
                       f"({', '.join(kinds)}), which end at different losses for the same run "
                       "length. Fit one at a time: --where schedule=wsd.")]


RULES: tuple[Callable[[Evidence], list[Diagnostic]], ...] = (
    non_monotone, multi_epoch, data_limited, lr_edge, poor_fit, within_noise, seed_outlier,
    far_extrapolation, unstable_fit, mixed_schedules,
)


def diagnose(evidence: Evidence) -> list[Diagnostic]:
    """Every rule, in a fixed order; a rule whose inputs are missing adds one `info` saying
    it was skipped and why."""
    return [d for rule in RULES for d in rule(evidence)]
