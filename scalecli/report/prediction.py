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

from scalecli.fit.summary import interval_text
from scalecli.report.blocks import Block, Section, fmt

INSIDE, OUTSIDE = "✓ inside", "✗ OUTSIDE"
HOW_TO_VALIDATE = ("No validation run checks this yet: add `validate: {models: [...]}` to the "
                   "sweep file (sizes past the largest ladder size), then rerun `scalecli sweep` "
                   "and `scalecli fit`; each form is then scored against runs no fit has seen.")


# The section ------------------------------------------------------------------------------
def prediction_section(fit: dict | None) -> Section | None:
    """The section above the figures; None when fit.json has neither block."""
    fit = fit or {}
    prediction, validation = fit.get("prediction"), fit.get("validation")
    if not prediction and not validation:
        return None
    blocks: list[Block] = []
    runs = (validation or {}).get("runs")
    compute = (validation or {}).get("compute")
    if runs:
        blocks += validation_blocks(validation)
    if prediction and prediction.get("points"):
        blocks.append(Block("p", (
            "Beside them, everything `fit` predicted from the ladder alone (the rows above "
            "are these predictions, scored):") if runs else (
            "What `fit` predicts from the ladder alone: each form's "
            f"{prediction.get('y') or 'val_loss'} for one new run, with its 95% prediction "
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


def validation_blocks(validation: dict) -> list[Block]:
    """The verdict (best form, forms ruled out), then one row per run and form."""
    runs = validation["runs"]
    y = validation.get("y") or "val_loss"
    x = validation.get("x") or "x"
    ruled_out = list(validation.get("ruled_out") or [])
    misses = validation.get("misses")
    lead = (f"{len(runs)} validation run(s), trained past the ladder and never fitted, against "
            f"each form's 95% prediction interval for one new run's {y}, made from the ladder "
            "alone.")
    verdict = [f"Best form: {validation.get('best_form') or '-'} (the smallest worst-case "
               "relative error over the validation runs)."]
    if ruled_out:
        verdict.append(f"Ruled out: {', '.join(ruled_out)} (a run outside its 95% interval; "
                       f"{fmt(misses, 'i')} miss(es) in all).")
    else:
        verdict.append("No form is ruled out: every run fell inside every form's interval.")
    rows = []
    for run in runs:
        best = run.get("best_form")
        for score in run.get("scores") or []:
            form = str(score.get("form", ""))
            rows.append([
                str(run.get("model") or run.get("run_id") or ""), fmt(run.get("x"), "n"),
                fmt(run.get("tokens"), "n"), fmt(run.get("observed"), "f4"),
                form + (" (best)" if form == best else ""), fmt(score.get("predicted"), "f4"),
                interval_text(score.get("low"), score.get("high"), lambda v: fmt(v, "f4")),
                fmt(score.get("rel_error"), "pct"), _mark(score.get("inside")),
            ])
    headers = ["run", f"N ({x})", "tokens D", f"observed {y}", "form", "predicted",
               "95% prediction interval", "relative error", "inside"]
    return [Block("p", lead), Block("p", " ".join(verdict)),
            Block("table", headers=headers, rows=rows)]


def prediction_blocks(prediction: dict) -> list[Block]:
    """One row per point and form, the combined one last; then how it was combined, why,
    and what the intervals hold."""
    y = prediction.get("y") or "val_loss"
    x = prediction.get("x") or "x"
    rows, why = [], []
    for point in prediction.get("points") or []:
        at = [fmt(point.get("x"), "n"), str(point.get("label") or "-"),
              str(point.get("source") or "-")]
        for form, p in (point.get("forms") or {}).items():
            rows.append([*at, form, *_estimate(p)])
        combined = point.get("combined")
        if combined:
            forms = " + ".join(combined.get("forms") or [])
            name = (f"combined ({forms})" if forms else "combined") + (
                ", forms disagree" if combined.get("disagree") else "")
            rows.append([*at, name, *_estimate(combined)])
            method, reason = combined.get("method"), combined.get("reason")
            why.append(" ".join(filter(None, [
                method and f"The combined prediction is the {method.rstrip('.')}.",
                reason and f"Why `fit` stands behind it: {reason.rstrip('.')}."])))
    blocks = [Block("table", headers=[f"N ({x})", "label", "source", "form", f"predicted {y}",
                                      "95% prediction interval"], rows=rows)]
    for text in dict.fromkeys(w for w in why if w):
        blocks.append(Block("p", text))
    sd = prediction.get("seed_sd")
    if sd is None:
        blocks.append(Block("p", "The intervals hold the fit's parameter uncertainty only: "
                                 "one seed per size, so one run's seed noise is not measured "
                                 "and a new run can fall outside more often than 5%."))
    else:
        blocks.append(Block("p", f"The intervals hold the fit's parameter uncertainty and one "
                                 f"run's seed noise (pooled seed sd {fmt(sd)} nats)."))
    return blocks


def _estimate(p: dict | None) -> list[str]:
    p = p or {}
    return [fmt(p.get("y"), "f4"), interval_text(p.get("low"), p.get("high"),
                                                 lambda v: fmt(v, "f4"))]


def compute_blocks(compute: list[dict]) -> list[Block]:
    """validate: {flops: [...]}: each run at a budget past the ladder's against approach 3's
    prediction at its (N, D), then each approach's N_opt and loss against the best run."""
    runs, approaches = [], []
    for budget in compute:
        c = fmt(budget.get("flops"), "e")
        for r in budget.get("runs") or []:
            runs.append([c, str(r.get("model") or r.get("run_id") or ""), fmt(r.get("n"), "n"),
                         fmt(r.get("tokens"), "n"), fmt(r.get("observed"), "f4"),
                         fmt(r.get("predicted"), "f4"), _interval(r),
                         _mark(r.get("inside"))])
        for a in budget.get("approaches") or []:
            approaches.append([c, str(a.get("approach", "")), fmt(a.get("n_opt"), "n"),
                               fmt(budget.get("best_trained_n"), "n"), fmt(a.get("n_ratio"), "f2"),
                               fmt(a.get("loss"), "f4"), _interval(a),
                               fmt(budget.get("observed_best"), "f4"), _mark(a.get("inside"))])
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


def _interval(p: dict) -> str:
    return interval_text(p.get("low"), p.get("high"), lambda v: fmt(v, "f4"))


# 10x --------------------------------------------------------------------------------------
def ten_x_text(fit: dict, prediction: dict | None = None) -> str | None:
    """fit.json's '10x params -> X% lower perplexity', never alone: with the interval of
    10^b from b's 95% CI, and the combined prediction `fit` stands behind where there is one.
    One form's point estimate of what 10x buys hides both how uncertain b is and that the
    forms disagree past the ladder."""
    derived = fit.get("derived") or {}
    text = derived.get("ten_x_text")
    if not text:
        return None
    if "95% CI" in text:  # written by a `fit` that states the interval itself
        text += ", from the power form alone"
    else:
        interval = _b_interval((fit.get("params") or {}).get("b") or {})
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


def _b_interval(b: dict) -> tuple[float, float, str] | None:
    """b's 95% CI, else b +- 1.96 s.e., else None."""
    if b.get("ci_low") is not None and b.get("ci_high") is not None:
        return b["ci_low"], b["ci_high"], "b's 95% CI"
    if b.get("value") is not None and b.get("se") is not None:
        return b["value"] - 1.96 * b["se"], b["value"] + 1.96 * b["se"], "b +- 1.96 s.e."
    return None


def _changes(low: float, high: float) -> str:
    """The change in y that factors in [low, high] make: '16.8% to 24.1% lower'."""
    c1, c2 = 100.0 * (low - 1.0), 100.0 * (high - 1.0)
    if c2 < 0:
        return f"{-c2:.1f}% to {-c1:.1f}% lower"
    if c1 > 0:
        return f"{c1:.1f}% to {c2:.1f}% higher"
    return f"{-c1:.1f}% lower to {c2:.1f}% higher"


def _y_name(fit: dict) -> str:
    return {"val_ppl": "perplexity", "val_loss": "loss"}.get(fit.get("y") or "", "y")


def _headline(prediction: dict | None) -> str | None:
    """The combined prediction at the point `fit` chose by default (else its first)."""
    points = [p for p in (prediction or {}).get("points") or [] if p.get("combined")]
    if not points:
        return None
    point = next((p for p in points if p.get("source") == "default"), points[0])
    c = point["combined"]
    y = (prediction or {}).get("y") or "val_loss"
    forms = " + ".join(c.get("forms") or [])
    text = (f"the combined prediction ({forms}) at N = {fmt(point.get('x'), 'n')}: {y} "
            f"{fmt(c.get('y'), 'f3')} {interval_text(c.get('low'), c.get('high'), _f3)}")
    if y == "val_loss" and None not in (c.get("y"), c.get("low"), c.get("high")):
        text += (f", perplexity {_exp(c['y'])} [{_exp(c['low'])}, {_exp(c['high'])}]")
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


def validation_checks(fit: dict | None, x_col: str, y_col: str,
                      rows: pd.DataFrame) -> tuple[list[Check], str | None]:
    """fit.json's validation runs at the figure's x and y, and a note when some cannot be
    drawn. Loss intervals become perplexity ones by exp (monotone, so the interval holds);
    another y column has no intervals to show."""
    validation = (fit or {}).get("validation") or {}
    runs = validation.get("runs") or []
    if not runs:
        return [], None
    v_y = validation.get("y") or "val_loss"
    if y_col == v_y:
        to_y = float
    elif (v_y, y_col) == ("val_loss", "val_ppl"):
        def to_y(v: float) -> float:
            return math.exp(min(float(v), 700.0))
    else:
        return [], f"The validation runs are scored in {v_y}, so they are not drawn in {y_col}."
    by_id = rows.set_index(rows["run_id"].astype(str)) if "run_id" in rows.columns else None
    checks, missing = [], 0
    for run in runs:
        x = run.get("x") if (validation.get("x") or x_col) == x_col else None
        if x is None and by_id is not None and x_col in by_id.columns:
            found = by_id[x_col].get(str(run.get("run_id")))
            x = None if found is None or isinstance(found, pd.Series) else found
        if x is None or run.get("observed") is None or pd.isna(x):
            missing += 1
            continue
        intervals = tuple(
            Interval(str(s.get("form")), to_y(s["predicted"]), to_y(s["low"]), to_y(s["high"]),
                     s.get("inside"))
            for s in run.get("scores") or []
            if None not in (s.get("predicted"), s.get("low"), s.get("high")))
        checks.append(Check(float(x), to_y(run["observed"]),
                            str(run.get("model") or run.get("run_id") or ""), intervals))
    note = (f"{missing} validation run(s) have no {x_col} in fit.json or results.csv, so they "
            "are not drawn." if missing else None)
    return checks, note
