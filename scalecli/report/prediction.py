"""The prediction check: what `fit` predicted from the ladder alone (fit.json's `prediction`)
and, where validation runs were trained past the ladder, how each form did (`validation`).

Everything here reads fit.json only; the figures draw the same numbers through
`validation_checks`. Intervals are 95% prediction intervals of one new run's loss (the fit's
parameter uncertainty plus one run's seed noise), as `fit` wrote them. A fit.json written
before these blocks existed has neither, and the report then has no such section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from scalecli.fit.schema import (
    ComputeCheck,
    FitDoc,
    LawFit,
    Predicted,
    PredictionBlock,
    ValidationBlock,
)
from scalecli.fit.schema.text import interval_text
from scalecli.report.blocks import Block, Section, fmt

INSIDE, OUTSIDE = "✓ inside", "✗ OUTSIDE"
HOW_TO_VALIDATE = ("No validation run checks this yet: add `validate: {models: [...]}` to the "
                   "sweep file (sizes past the largest ladder size), then rerun `scalecli sweep` "
                   "and `scalecli fit`; each form is then scored against runs no fit has seen.")


# The section ------------------------------------------------------------------------------
def prediction_section(fit: FitDoc | None) -> Section | None:
    """The section above the figures; None when fit.json has neither block."""
    prediction = fit.prediction if fit else None
    validation = fit.validation if fit else None
    if not prediction and not validation:
        return None
    blocks: list[Block] = []
    runs = validation.runs if validation else None
    compute = validation.compute if validation else None
    if runs:
        blocks += validation_blocks(validation)
    if prediction and prediction.points:
        blocks.append(Block("p", (
            "Beside them, everything `fit` predicted from the ladder alone (the rows above "
            "are these predictions, scored):") if runs else (
            "What `fit` predicts from the ladder alone: each form's "
            f"{prediction.y or 'val_loss'} for one new run, with its 95% prediction "
            "interval, and the combined prediction it stands behind.")))
        blocks += prediction_blocks(prediction)
        if not runs and not compute:
            blocks.append(Block("p", HOW_TO_VALIDATE))
    if compute:
        blocks += compute_blocks(compute)
    if not blocks:
        return None
    return Section("prediction", "Prediction check", blocks)


def _mark(inside: bool | None) -> str:
    return "-" if inside is None else INSIDE if inside else OUTSIDE


def validation_blocks(validation: ValidationBlock) -> list[Block]:
    """The verdict (best form, forms ruled out), then one row per run and form."""
    runs = validation.runs
    y = validation.y or "val_loss"
    x = validation.x or "x"
    ruled_out = list(validation.ruled_out)
    misses = validation.misses
    lead = (f"{len(runs)} validation run(s), trained past the ladder and never fitted, against "
            f"each form's 95% prediction interval for one new run's {y}, made from the ladder "
            "alone.")
    verdict = [f"Best form: {validation.best_form or '-'} (the smallest worst-case "
               "relative error over the validation runs)."]
    if ruled_out:
        verdict.append(f"Ruled out: {', '.join(ruled_out)} (a run outside its 95% interval; "
                       f"{fmt(misses, 'i')} miss(es) in all).")
    else:
        verdict.append("No form is ruled out: every run fell inside every form's interval.")
    rows = []
    for run in runs:
        for score in run.scores:
            rows.append([
                str(run.model or run.run_id or ""), fmt(run.x, "n"),
                fmt(run.tokens, "n"), fmt(run.observed, "f4"),
                score.form + (" (best)" if score.form == run.best_form else ""),
                fmt(score.predicted, "f4"), interval_text(score.low, score.high, _f4),
                fmt(score.rel_error, "pct"), _mark(score.inside),
            ])
    headers = ["run", f"N ({x})", "tokens D", f"observed {y}", "form", "predicted",
               "95% prediction interval", "relative error", "inside"]
    return [Block("p", lead), Block("p", " ".join(verdict)),
            Block("table", headers=headers, rows=rows)]


def prediction_blocks(prediction: PredictionBlock) -> list[Block]:
    """One row per point and form, the combined one last; then how it was combined, why,
    and what the intervals hold."""
    y = prediction.y or "val_loss"
    x = prediction.x or "x"
    rows, why = [], []
    for point in prediction.points:
        at = [fmt(point.x, "n"), str(point.label or "-"), str(point.source or "-")]
        for form, p in point.forms.items():
            rows.append([*at, form, *_estimate(p)])
        combined = point.combined
        if combined:
            forms = " + ".join(combined.forms)
            name = (f"combined ({forms})" if forms else "combined") + (
                ", forms disagree" if combined.disagree else "")
            rows.append([*at, name, *_estimate(combined)])
            method, reason = combined.method, combined.reason
            why.append(" ".join(filter(None, [
                method and f"The combined prediction is the {method.rstrip('.')}.",
                reason and f"Why `fit` stands behind it: {reason.rstrip('.')}."])))
    blocks = [Block("table", headers=[f"N ({x})", "label", "source", "form", f"predicted {y}",
                                      "95% prediction interval"], rows=rows)]
    for text in dict.fromkeys(w for w in why if w):
        blocks.append(Block("p", text))
    sd = prediction.seed_sd
    if sd is None:
        blocks.append(Block("p", "The intervals hold the fit's parameter uncertainty only: "
                                 "one seed per size, so one run's seed noise is not measured "
                                 "and a new run can fall outside more often than 5%."))
    else:
        blocks.append(Block("p", f"The intervals hold the fit's parameter uncertainty and one "
                                 f"run's seed noise (pooled seed sd {fmt(sd)} nats)."))
    return blocks


def _estimate(p: Predicted) -> list[str]:
    return [fmt(p.value, "f4"), interval_text(p.ci_low, p.ci_high, _f4)]


def _f4(v: float) -> str:
    return fmt(v, "f4")


def compute_blocks(compute: list[ComputeCheck]) -> list[Block]:
    """validate: {flops: [...]}: each run at a budget past the ladder's against approach 3's
    prediction at its (N, D), then each approach's N_opt and loss against the best run."""
    runs, approaches = [], []
    for budget in compute:
        c = fmt(budget.flops, "e")
        for r in budget.runs:
            runs.append([c, str(r.model or r.run_id or ""), fmt(r.n, "n"), fmt(r.tokens, "n"),
                         fmt(r.observed, "f4"), fmt(r.predicted, "f4"),
                         interval_text(r.low, r.high, _f4), _mark(r.inside)])
        for a in budget.approaches:
            approaches.append([c, a.approach, fmt(a.n_opt, "n"), fmt(budget.best_trained_n, "n"),
                               fmt(a.n_ratio, "f2"), fmt(a.loss, "f4"),
                               interval_text(a.low, a.high, _f4),
                               fmt(budget.observed_best, "f4"), _mark(a.inside)])
    blocks = []
    if runs:
        blocks += [Block("p", "Validation budgets past the ladder's: each size trained there, "
                              "against the chinchilla law's prediction at its N and D."),
                   Block("table", headers=["C (FLOPs)", "run", "N (params)", "tokens D",
                                           "observed val_loss", "chinchilla predicts",
                                           "95% prediction interval", "inside"], rows=runs)]
    if approaches:
        blocks += [Block("p", "Each compute-optimal approach at those budgets: its N_opt against "
                              "the best size trained there (N ratio = N_opt / best N), and its "
                              "loss at the optimum against the best loss observed."),
                   Block("table", headers=["C (FLOPs)", "approach", "predicted N_opt",
                                           "best trained N", "N ratio", "predicted loss",
                                           "95% interval", "observed best loss", "inside"],
                         rows=approaches)]
    return blocks


# 10x --------------------------------------------------------------------------------------
def ten_x_text(fit: LawFit, prediction: PredictionBlock | None = None) -> str | None:
    """fit.json's '10x params -> X% lower perplexity', never alone: with the interval of
    10^b from b's 95% CI, and the combined prediction `fit` stands behind where there is one.
    One form's point estimate of what 10x buys hides both how uncertain b is and that the
    forms disagree past the ladder."""
    text = fit.derived.ten_x_text
    if not text:
        return None
    if "95% CI" in text:  # written by a `fit` that states the interval itself
        text += ", from the power form alone"
    else:
        b = fit.params.get("b")
        interval = _b_interval(b.value, b.se, b.ci_low, b.ci_high) if b else None
        if interval is None:
            text += " (no interval: fit.json gives none for b, so treat it as a guess)"
        else:
            lo, hi, source = interval
            text += (f" (95% CI: 10^b in [{fmt(10 ** lo, 'f3')}, {fmt(10 ** hi, 'f3')}], "
                     f"{_changes(10 ** lo, 10 ** hi)} {_y_name(fit)}, from {source}; "
                     "the power form alone)")
    combined = _headline(prediction)
    if combined:
        text += f"; {combined}"
    return text


def _b_interval(value: float | None, se: float | None, lo: float | None,
                hi: float | None) -> tuple[float, float, str] | None:
    """b's 95% CI, else b +- 1.96 s.e., else None."""
    if lo is not None and hi is not None:
        return lo, hi, "b's 95% CI"
    if value is not None and se is not None:
        return value - 1.96 * se, value + 1.96 * se, "b +- 1.96 s.e."
    return None


def _changes(low: float, high: float) -> str:
    """The change in y that factors in [low, high] make: '16.8% to 24.1% lower'."""
    c1, c2 = 100.0 * (low - 1.0), 100.0 * (high - 1.0)
    if c2 < 0:
        return f"{-c2:.1f}% to {-c1:.1f}% lower"
    if c1 > 0:
        return f"{c1:.1f}% to {c2:.1f}% higher"
    return f"{-c1:.1f}% lower to {c2:.1f}% higher"


def _y_name(fit: LawFit) -> str:
    return {"val_ppl": "perplexity", "val_loss": "loss"}.get(fit.y or "", "y")


def _headline(prediction: PredictionBlock | None) -> str | None:
    """The combined prediction at the point `fit` chose by default (else its first)."""
    points = [p for p in (prediction.points if prediction else []) if p.combined]
    if not prediction or not points:
        return None
    point = next((p for p in points if p.source == "default"), points[0])
    c = point.combined
    y = prediction.y or "val_loss"
    text = (f"the combined prediction ({' + '.join(c.forms)}) at N = {fmt(point.x, 'n')}: {y} "
            f"{fmt(c.value, 'f3')} {interval_text(c.ci_low, c.ci_high, _f3)}")
    if y == "val_loss" and None not in (c.value, c.ci_low, c.ci_high):
        text += (f", perplexity {_exp(c.value)} [{_exp(c.ci_low)}, {_exp(c.ci_high)}]")
    return text


def _f3(v: float) -> str:
    return fmt(v, "f3")


def _exp(v: float) -> str:
    return fmt(math.exp(min(v, 700.0)), "f2")


# The figures' view ------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    form: str  # power | saturating | combined
    predicted: float
    low: float
    high: float
    inside: bool | None


@dataclass(frozen=True)
class Check:
    """One validation run in the scaling figure's units: observed, and each form's interval."""

    x: float
    observed: float
    label: str
    intervals: tuple[Interval, ...]


def validation_checks(fit: FitDoc | None, x_col: str, y_col: str,
                      rows: pd.DataFrame) -> tuple[list[Check], str | None]:
    """fit.json's validation runs at the figure's x and y, and a note when some cannot be
    drawn. Loss intervals become perplexity ones by exp (monotone, so the interval holds);
    another y column has no intervals to show."""
    validation = fit.validation if fit else None
    if validation is None or not validation.runs:
        return [], None
    v_y = validation.y or "val_loss"
    if y_col == v_y:
        to_y = float
    elif (v_y, y_col) == ("val_loss", "val_ppl"):
        def to_y(v: float) -> float:
            return math.exp(min(float(v), 700.0))
    else:
        return [], f"The validation runs are scored in {v_y}, so they are not drawn in {y_col}."
    by_id = rows.set_index(rows["run_id"].astype(str)) if "run_id" in rows.columns else None
    checks, missing = [], 0
    for run in validation.runs:
        x = run.x if (validation.x or x_col) == x_col else None
        if x is None and by_id is not None and x_col in by_id.columns:
            found = by_id[x_col].get(str(run.run_id))
            x = None if found is None or isinstance(found, pd.Series) else found
        if x is None or run.observed is None or pd.isna(x):
            missing += 1
            continue
        intervals = tuple(
            Interval(s.form, to_y(s.predicted), to_y(s.low), to_y(s.high), s.inside)
            for s in run.scores if None not in (s.predicted, s.low, s.high))
        checks.append(Check(float(x), to_y(run.observed), str(run.model or run.run_id or ""),
                            intervals))
    note = (f"{missing} validation run(s) have no {x_col} in fit.json or results.csv, so they "
            "are not drawn." if missing else None)
    return checks, note
