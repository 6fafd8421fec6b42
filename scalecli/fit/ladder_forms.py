"""What the ladder predicts past itself, from its own points alone: each 1-D form's
predictive draws, the forms the ladder itself rejects, and fit.json's `prediction` block
(the combined prediction that `fit` stands behind). `validation` scores these predictions
on runs past the ladder; `prediction` holds the mixture's arithmetic.
"""

from __future__ import annotations

import numpy as np

from scalecli.finite import finite
from scalecli.fit import analysis, diagnostics, prediction, seeds
from scalecli.fit.forms import registry
from scalecli.fit.prediction import FormDraws

X_COL = "params_non_embedding"  # Kaplan's N: the axis of the 1-D forms
Y_COL = "val_loss"
# Refits of each form's holdout check for the combined prediction: its interval is a 95%
# percentile, which 200 refits place within about a tenth of its width.
HOLDOUT_BOOT = 200
REASON = ("the forms disagree past the ladder and each has missed on some corpus, so "
          "neither is trusted alone")


def cells(rows: list[dict[str, str]], column: str) -> np.ndarray:
    return np.array([seeds.cell(r, column) for r in rows])


def ladder_points(lad: seeds.Ladder, rows: list[dict[str, str]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(N, mean val_loss, index in the ladder) per fitted point, for the 1-D forms along N;
    None when a size has several points (a grid of budgets: no one law along N) or the CSV
    lacks the columns. A size without a positive, finite val_loss is left out, so what is
    drawn per point of the ladder (the seed level) must be cut to the indices kept."""
    if not rows or X_COL not in rows[0] or Y_COL not in rows[0]:
        return None
    x_row, y_row = cells(rows, X_COL), cells(rows, Y_COL)
    if "budget_flops" in rows[0] and np.any(np.isfinite(cells(rows, "budget_flops"))):
        return None  # an isoFLOP design: every size at several budgets
    owner = lad.point_of_row()
    order = lad.fitted_rows()
    x = np.array([x_row[order][owner == p][0] for p in range(len(lad.points))])
    y = np.array([float(np.mean(y_row[order][owner == p])) for p in range(len(lad.points))])
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if np.unique(x).size != x.size or x.size < registry.default().min_points:
        return None
    return x, y, np.flatnonzero(ok)


def form_draws(x: np.ndarray, y: np.ndarray, xs: np.ndarray, n_boot: int, seed: int,
               seed_sd: float, power_level=None) -> list[FormDraws]:
    """Each 1-D form's predictive draws at xs, from the ladder (x, y) alone."""
    def draws_of(form, xa, ya):  # xa is x: a form with too few points is skipped below
        point, boots, _ = analysis.point_and_draws(
            form, xa, ya, n_boot=n_boot, seed=seed,
            seed_level=power_level if form.seed_level else None)
        return point, boots

    rng = np.random.default_rng(seed + 1)
    out = []
    for form in registry.ladder_forms():
        if x.size < form.min_points:
            continue
        d = prediction.loss_form_draws(form, x, y, xs, draws_of, seed_sd, rng)
        if d is not None:
            out.append(d)
    return out


def rejected_forms(x: np.ndarray, y: np.ndarray, n_boot: int = 0, seed: int = 0,
                   seed_sd: float = 0.0) -> dict[str, str]:
    """Forms that the ladder's own points reject, with why; the combined prediction leaves
    them out. Two tests, each on the ladder alone:
    - the power law (val_loss a straight line in ln N) when the points bend away from a
      line: the quadratic term of val_loss in ln N is significant at CURVE_ALPHA, the test
      behind the `poor_fit` warning;
    - any form whose holdout refit (without the largest size) puts that size outside its
      own 95% prediction interval: a law that already fails one step past its points is
      not one to extrapolate six steps with (`n_boot` > 0 only).
    A form that the data contradict inside the ladder is not one to extrapolate with: on the
    corpora of bench/validate.py the power law bent at p = 0.021 (code) or missed its
    holdout (Portuguese), and on code then missed the run 6x past the ladder by 6.8%."""
    out = {}
    p = diagnostics.curvature_p(np.log(x), y)
    if p is not None and p < diagnostics.CURVE_ALPHA:
        for form in (f for f in registry.ladder_forms() if f.straight):
            out[form.name] = (f"the ladder bends away from the {form.name} law's straight "
                              f"line (quadratic term p = {p:.3f}, poor_fit)")
    if n_boot <= 0:
        return out
    top = float(y[np.argmax(x)])  # the largest size's loss: what the holdout refit predicts
    for form in registry.ladder_forms():
        if form.name in out or x.size <= form.min_points:
            continue
        # a perplexity form lives on exp(loss), whose log is the loss: its noise is seed_sd
        ys, noise = (np.exp(y), seed_sd) if form.perplexity else (y, seed_sd / top)
        check, _ = analysis.extrapolation_check(form, x, ys, None, 1, n_boot, seed, noise)
        if check and check["inside"] and check["inside"][-1] is False:
            pred, lo, hi = (check[k][-1] for k in ("predicted", "low", "high"))
            if form.perplexity:
                pred, lo, hi = np.log(pred), np.log(lo), np.log(hi)
            out[form.name] = (f"its refit without the largest size predicted it at {pred:.3f} "
                         f"[{lo:.3f}, {hi:.3f}], observed {top:.3f} (holdout check)")
    return out


def prediction_block(xs: np.ndarray, labels: list[str | None], sources: list[str],
                     forms: list[FormDraws], seed_sd: float | None,
                     rejected: dict[str, str] | None = None) -> dict:
    rejected = {k: v for k, v in (rejected or {}).items() if any(f.form == k for f in forms)}
    combine = prediction.trusted(forms, rejected)
    if len(combine) > 1:
        reason = REASON
    elif len(combine) < len(forms):
        reason = f"the {combine[0].form} form alone: " + "; ".join(
            f"{k} left out, as {why}" for k, why in rejected.items())
    else:
        reason = f"the only converged form ({combine[0].form})"
    return {"x": X_COL, "y": Y_COL, "seed_sd": finite(seed_sd), "level": prediction.LEVEL,
            "seed_note": None if seed_sd else "no seed noise measured (one seed per "
            "configuration): the intervals hold the fit's uncertainty only",
            "rejected": rejected,
            "points": prediction.points_json(xs, labels, sources, forms, reason, combine)}
