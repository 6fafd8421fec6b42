"""`fit --form isoflop | envelope | compute`: Chinchilla's three approaches on one CSV.

Approach 1 is `envelope`, approach 2 `isoflop`, approach 3 the `chinchilla` form; `compute`
runs all three on the same runs and puts a, b and the tokens per parameter at the optimum
side by side (fit.json's `approaches`), with a diagnostic when the a intervals do not
overlap. This module is the CSV side: columns -> budgets -> the fitters -> fit.json.

Conventions. N is the `params` column (every trainable parameter) by default, as Hoffmann
et al. count it: non-embedding N moves a from about 0.5 to 0.73 at small sizes (Pearce and
Song 2024; Porian et al. 2024), and C counts the embeddings' FLOPs too. C is the `flops`
column, the exact count; `flops_6nd`, then 6 N D, stand in for a CSV without it. All
three approaches solve on that C: approach 3 minimises L(N, C / flops_per_token(N)) with
flops per token measured on the runs (`per_token`), not Hoffmann et al.'s closed form
N_opt = G (C/6)^a, which assumes C = 6 N D and would put its N_opt and D_opt ~1.1x off
the other two where the embeddings and attention count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalecli.errors import ScaleError
from scalecli.fit import seeds
from scalecli.fit.diagnostics import Diagnostic
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import ComputeForm, LawForm, registry
from scalecli.fit.isoflop import Budget, group_budgets
from scalecli.fit.rows import numeric_column

N_COLUMN = "params"  # the compute forms' default --x; power and saturating keep theirs


@dataclass(frozen=True)
class Job:
    """What one compute-optimal fit reads: the runs (one point per configuration, `lad`),
    the columns N, loss and D, and the bootstrap's settings."""

    rows: list[dict[str, str]]
    header: list[str]
    path: Path
    lad: seeds.Ladder
    x_col: str
    y_col: str
    d_col: str
    n_boot: int
    seed: int
    predict_flops: np.ndarray | None
    holdout: int


def compute_column(header: list[str]) -> str | None:
    """The column that holds C, or None when C must be 6 N D."""
    return next((c for c in ("flops", "flops_6nd") if c in header), None)


def budgets_of(job: Job) -> list[Budget]:
    """One point per configuration (seeds averaged, the best lr per size; `seeds.ladder`),
    grouped into FLOP budgets, each sorted by N."""
    rows, header, path, lad = job.rows, job.header, job.path, job.lad
    x_col, y_col, d_col = job.x_col, job.y_col, job.d_col
    n = lad.first(numeric_column(rows, x_col, header, path))
    loss = lad.mean(numeric_column(rows, y_col, header, path))
    tokens = lad.first(numeric_column(rows, d_col, header, path))
    c_col = compute_column(header)
    flops = lad.first(numeric_column(rows, c_col, header, path)) if c_col else 6 * n * tokens
    n_seeds = np.array([len(c.rows) for c in lad.points])  # in the order of lad.first
    nominal = None
    if "budget_flops" in header:  # blank for token budgets: then flops alone group them
        nominal = lad.first(np.array([seeds.cell(r, "budget_flops") for r in rows]))
    out = []
    for g in group_budgets(flops, nominal):
        g = g[np.argsort(n[g], kind="stable")]
        out.append(Budget(flops=float(np.exp(np.mean(np.log(flops[g])))),
                          nominal=None if nominal is None or not np.isfinite(nominal[g[0]])
                          else float(nominal[g[0]]),
                          log_n=np.log(n[g]), loss=loss[g], log_d=np.log(tokens[g]),
                          n_seeds=n_seeds[g]))
    return out


def per_token(rows: list[dict[str, str]], header: list[str], x_col: str, d_col: str,
              lad: seeds.Ladder) -> FlopsPerToken | None:
    """Approach 3's FLOPs per token against N (the column x_col), one point per
    configuration: C / D from the compute column, which for scalecli's rows is the
    `flops_per_token` column exactly (flops = flops_per_token * tokens) and for any CSV the
    count that C itself uses. None without a compute column (C = 6 N D)."""
    c_col = compute_column(header)
    if c_col is None:
        return None
    # cells, not numeric_column: a blank cell costs its run here, not the whole fit
    n, tokens, flops = (lad.first(np.array([seeds.cell(r, col) for r in rows]))
                        for col in (x_col, d_col, c_col))
    return FlopsPerToken.from_runs(n, flops / tokens, flops)


def seed_sd(rows: list[dict[str, str]], header: list[str], path: Path, y_col: str,
            lad: seeds.Ladder) -> float | None:
    """The seed sd of y pooled over the fitted points (`seeds.pooled_sd`), or None without
    seeds."""
    if not lad.seeded():
        return None
    y = numeric_column(rows, y_col, header, path)
    owner = lad.point_of_row()
    return seeds.pooled_sd(y[owner == p] for p in range(len(lad.points))).sd


def reference_flops(budgets: list[Budget]) -> float:
    """The one C at which the approaches' tokens per parameter are compared: the geometric
    middle of the budgets (tokens per parameter change with C unless a = b)."""
    return float(np.exp(np.mean(np.log([b.flops for b in budgets]))))


def approaches_table(fits: dict) -> list[dict]:
    """fit.json's `approaches`: per approach that was fitted, a, b and tokens per parameter
    (each {value, se, ci_low, ci_high}) and the --predict-flops rows."""
    table = []
    for form in registry.compute_forms():
        fit = fits.get(form.name)
        if not fit or not fit.get("converged"):
            continue
        params, predicted = form.approach_row(fit)
        table.append({"approach": form.approach, "form": form.name,
                      "a_opt": params.get("a_opt"), "b_opt": params.get("b_opt"),
                      "tokens_per_param": (fit.get("derived") or {}).get("tokens_per_param"),
                      "predictions": predicted or []})
    return table


def disagree(table: list[dict]) -> list[Diagnostic]:
    """`approaches_disagree` when two approaches' 95% intervals of a do not overlap."""
    found = []
    for i, one in enumerate(table):
        for other in table[i + 1:]:
            p, q = one.get("a_opt") or {}, other.get("a_opt") or {}
            if None in (p.get("ci_low"), p.get("ci_high"), q.get("ci_low"), q.get("ci_high")):
                continue
            if p["ci_high"] < q["ci_low"] or q["ci_high"] < p["ci_low"]:
                found.append(f"approach {one['approach']} gives a = {p['value']:.3f} "
                             f"[{p['ci_low']:.3f}, {p['ci_high']:.3f}], approach "
                             f"{other['approach']} {q['value']:.3f} [{q['ci_low']:.3f}, "
                             f"{q['ci_high']:.3f}]")
    if not found:
        return []
    return [Diagnostic("approaches_disagree", "warning", "The approaches' 95% intervals of a "
                       f"(N_opt ~ C^a) do not overlap: {'; '.join(found)}. One of them is "
                       "biased by the design: check the isoFLOP budgets' verdicts, and whether "
                       "the sizes bracket each optimum.")]


def isoflop_findings(fit: dict) -> list[Diagnostic]:
    """`isoflop_rejected` for budgets left out (a warning when fewer than three are left,
    since then a rests on a line with no check), and `unstable_fit` when leaving one budget
    out moves a by more than half its 95% interval."""
    out = []
    rejected = [b for b in fit.get("budgets") or [] if not b["accepted"]]
    accepted = len(fit.get("budgets") or []) - len(rejected)
    if rejected:
        listed = "; ".join(f"C = {b['flops']:.3g}: {b['reason']} ({b['reason_text']})"
                           for b in rejected)
        out.append(Diagnostic("isoflop_rejected", "warning" if accepted < 3 else "info",
                              f"{len(rejected)} isoFLOP budget(s) rejected and left out of a "
                              f"and b ({accepted} accepted): {listed}. Centre each budget's "
                              "sizes on its expected optimum, with at least 2 on each side."))
    a = (fit.get("params") or {}).get("a_opt") or {}
    shift = (fit.get("leave_one_out") or {}).get("max_shift_a")
    if shift is not None and None not in (a.get("ci_low"), a.get("ci_high")):
        half = (a["ci_high"] - a["ci_low"]) / 2
        if shift > half:
            out.append(Diagnostic("unstable_fit", "warning", f"Leaving one isoFLOP budget out "
                                  f"moves a by up to {shift:.3f}, more than its 95% interval's "
                                  f"half-width {half:.3f}: one budget carries the law."))
    return out


def approach_fits(forms: tuple, job: Job, draws_out: dict | None = None
                  ) -> tuple[dict, list[str]]:
    """(fits, notes): the approaches among `forms` (the compute forms, in the table's
    order), with N the column job.x_col. `draws_out` receives approach 3's (point,
    bootstrap thetas), which the validation scoring of runs past the ladder needs
    (`validation.compute_block`)."""
    budgets = budgets_of(job)
    ref = reference_flops(budgets)
    named = {"x": job.x_col, "y": job.y_col, "d": job.d_col,
             "c": compute_column(job.header) or "6 N D"}
    noise = (seed_sd(job.rows, job.header, job.path, job.y_col, job.lad),
             [b.n_seeds for b in budgets])
    fits: dict = {}
    notes: list[str] = []
    for form in (f for f in registry.compute_forms() if f in forms):
        if isinstance(form, ComputeForm):
            fits[form.name] = {**named, **form.analyse(budgets, job.n_boot, job.seed,
                                                       job.predict_flops, ref, noise)}
        elif isinstance(form, LawForm):
            parametric(form, job, budgets, (ref, named, draws_out), (fits, notes))
    for name, fit in fits.items():
        if not fit["converged"]:
            notes.append(f"{name}: {fit['message']}")
    return fits, notes


def parametric(form: LawForm, job: Job, budgets: list[Budget], context: tuple,
               out: tuple[dict, list[str]]) -> None:
    """A law form as an approach (approach 3), fitted on every budget's points into
    `out` = (fits, notes); `context` = (reference C, column names, draws_out)."""
    from scalecli.fit import analysis

    ref, named, draws_out = context
    fits, notes = out
    n = np.exp(np.concatenate([b.log_n for b in budgets]))
    d = np.exp(np.concatenate([b.log_d for b in budgets]))
    loss = np.concatenate([b.loss for b in budgets])
    reason = form.degenerate(n, d)
    if reason:
        notes.append(f"{form.approach} ({form.name}) skipped: {reason}")
        return
    result = analysis.analyse(form, n, loss, d, n_boot=job.n_boot, seed=job.seed,
                              predict=job.predict_flops, holdout=job.holdout, reference=ref,
                              fpt=per_token(job.rows, job.header, job.x_col, job.d_col,
                                            job.lad),
                              draws_out=draws_out)
    fits[form.name] = {"form": form.name, **named, **result}  # result's "form" is the same


def compute_fits(choice: str, job: Job, draws_out: dict | None = None
                 ) -> tuple[dict, list[dict], list[Diagnostic], list[str]]:
    """(fits, approaches table, diagnostics, notes) for a --form choice of compute forms
    (one approach, or `compute`: every one)."""
    fits, notes = approach_fits(registry.selected(choice), job, draws_out)
    if not any(f["converged"] for f in fits.values()) and choice != registry.COMPUTE:
        raise ScaleError(f"--form {choice} fitted nothing in {job.path}: "
                         f"{fits[choice]['message']}; add FLOP budgets (see "
                         "docs/guides/isoflop.md)")
    table = approaches_table(fits)
    found = [d for fit in fits.values() for d in isoflop_findings(fit)]
    return fits, table, found + disagree(table), notes
