"""Scaling-law fits, one form end to end: fit, bootstrap, extrapolation check, band.

No I/O here: every function takes numpy arrays and returns numbers, so it can be tested
on synthetic data with known parameters. `driver` reads the CSV and writes fit.json.
Each form (`forms`) says how it fits, bootstraps and predicts (its maths in laws.py and
chinchilla.py); this module asks it and never its name. A `form` argument is a `LawForm`
or its registered name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scalecli.finite import finite
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import LawForm, registry
from scalecli.fit.laws import FitResult

# ------------------------------------------------------------------- one form, end to end

BAND_POINTS = 60
SEED_LEVEL_METHOD = ("; each point the mean of log y over its seeds; b's CI: fixed-design "
                     "bootstrap whose noise is the seeds resampled (best lr re-picked) plus the "
                     "residual noise beyond them")


def law(form: LawForm | str) -> LawForm:
    """The form object for a form or its registered name."""
    return form if isinstance(form, LawForm) else registry.get(form)


def degenerate_reason(form: LawForm | str, x: np.ndarray, d: np.ndarray | None) -> str | None:
    """Why these points cannot identify the form, or None if they can."""
    return law(form).degenerate(x, d)


def fit_form(form: LawForm | str, x: np.ndarray, y: np.ndarray, d: np.ndarray | None = None
             ) -> FitResult:
    """Point estimate of one form."""
    return law(form).fit(x, y, d)


def predict_form(form: LawForm | str, theta: np.ndarray, x: np.ndarray,
                 d: np.ndarray | None = None):
    """y at x (and D for a form that reads it)."""
    return law(form).predict(theta, x, d)


def bootstrap_form(form, x, y, d, point: FitResult, n_boot: int, rng,
                   seed_level: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Bootstrap thetas (n_ok, k) over rows, and how many resamples were skipped.
    `seed_level` (a form with `seed_level`) is `laws.bootstrap_power`'s seed level."""
    form = law(form)
    if n_boot <= 0 or not point.converged:
        return np.empty((0, len(form.param_names))), n_boot
    return form.bootstrap(x, y, d, point, n_boot, rng, seed_level)


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    """95% percentile interval, or (None, None) with too few samples to mean anything."""
    if samples.shape[0] < 10:
        return None, None
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
    return finite(lo), finite(hi)


def goodness(y: np.ndarray, y_hat: np.ndarray) -> tuple[float, float]:
    """R^2 and RMSE of log y: the space the fits live in, so they compare across scales."""
    res = np.log(y) - np.log(y_hat)
    ss_tot = np.sum((np.log(y) - np.log(y).mean()) ** 2)
    r2 = 1.0 - np.sum(res**2) / ss_tot if ss_tot > 0 else float("nan")
    return float(r2), float(np.sqrt(np.mean(res**2)))


def extrapolation_check(form, x, y, d, holdout: int, n_boot: int = 0, seed: int = 0,
                        noise_sd_log: float = 0.0) -> tuple[dict | None, str]:
    """Refit without the `holdout` largest distinct x and predict them: the honest test of
    a law. Each prediction gets its 95% prediction interval (`low`, `high`, `inside`): the
    refit's bootstrap predictions times exp of one run's seed noise (sd `noise_sd_log` of
    log y), so the check says whether the held-out runs lie where the refit said.

    Every row at a held-out x goes: with seeds, budgets or an lr grid there are several
    rows per x, and keeping one of them in the fit would make the check interpolate.
    """
    if holdout <= 0:
        return None, "extrapolation check off (--holdout 0)"
    distinct = np.unique(x)
    if holdout >= distinct.size:
        return None, f"skipped: --holdout {holdout} leaves no points to fit"
    held = x >= distinct[-holdout]
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    test = test[np.argsort(x[test], kind="stable")]
    d_train = None if d is None else d[train]
    reason = degenerate_reason(form, x[train], d_train)
    if reason:
        return None, f"skipped: without the {holdout} largest x, {reason}"
    refit = fit_form(form, x[train], y[train], d_train)
    if not refit.converged:
        return None, f"skipped: the refit without the {holdout} largest x did not converge"
    d_test = None if d is None else d[test]
    pred = predict_form(form, refit.theta, x[test], d_test)
    rel = (pred - y[test]) / y[test]
    low, high = _holdout_interval(form, x[train], y[train], d_train, refit, x[test], d_test,
                                  n_boot, seed, noise_sd_log)
    inside = [None if lo is None or hi is None else bool(lo <= o <= hi)
              for lo, hi, o in zip(low, high, y[test], strict=True)]
    check = {
        "held_out": int(holdout),  # distinct x; their rows are all in the lists below
        "x": [finite(v) for v in x[test]],
        "predicted": [finite(v) for v in pred],
        "observed": [finite(v) for v in y[test]],
        "rel_error": [finite(v) for v in rel],
        "low": low,
        "high": high,
        "inside": inside,
    }
    note = (
        f"refit without the {holdout} largest distinct x ({test.size} rows); mean |relative error| "
        f"{100 * float(np.mean(np.abs(rel))):.2f}%"
    )
    if any(v is not None for v in inside):
        note += f"; {sum(v is True for v in inside)} of {len(inside)} inside its 95% " \
                "prediction interval"
    return check, note


def _holdout_interval(form, x, y, d, refit: FitResult, xs, ds, n_boot: int, seed: int,
                      noise_sd_log: float) -> tuple[list, list]:
    """The holdout refit's 95% prediction interval at the held-out points (None without
    enough bootstrap refits)."""
    if law(form).holdout_boot is not None:
        n_boot = min(n_boot, law(form).holdout_boot)
    rng = np.random.default_rng(seed)
    boots, _ = bootstrap_form(form, x, y, d, refit, n_boot, rng)
    curves = np.array([predict_form(form, t, xs, ds) for t in boots]).reshape(-1, xs.size)
    curves = curves[np.all(np.isfinite(curves) & (curves > 0), axis=1)]
    if curves.shape[0] < 10:
        return [None] * xs.size, [None] * xs.size
    if noise_sd_log > 0:
        curves = curves * np.exp(rng.normal(0.0, noise_sd_log, size=curves.shape))
    lo, hi = np.percentile(curves, [2.5, 97.5], axis=0)
    return [finite(v) for v in lo], [finite(v) for v in hi]


def _params_block(form, point: FitResult, boots: np.ndarray,
                  intervals: dict[str, tuple[float | None, float | None]]) -> dict:
    """Value, se and 95% CI of every parameter; `intervals` replaces bootstrap CIs by name."""
    names = law(form).param_names
    out = {}
    for k, name in enumerate(names):
        if not point.converged:
            out[name] = {"value": None, "se": None, "ci_low": None, "ci_high": None}
            continue
        if point.se is not None:
            se = finite(point.se[k])
        else:
            se = finite(np.std(boots[:, k], ddof=1)) if boots.shape[0] >= 10 else None
        lo, hi = _interval(boots[:, k]) if boots.size else (None, None)
        if name in intervals:
            lo, hi = (finite(v) if v is not None else None for v in intervals[name])
        out[name] = {"value": finite(point.theta[k]), "se": se, "ci_low": lo, "ci_high": hi}
    return out


def _derived(form: LawForm, point: FitResult, boots: np.ndarray, predict: np.ndarray | None,
             reference: float | None = None, fpt: FlopsPerToken | None = None) -> dict:
    """Quantities a reader wants: what the form derives (`LawForm.derived`: the 10x factor,
    the compute-optimal split) and predictions at the requested x (or FLOPs) with bootstrap
    intervals."""
    derived = form.derived(point, boots, predict, reference, fpt)
    if predict is None or len(predict) == 0:
        derived["predictions"] = []
        return derived
    y_hat, samples = form.predictions(point, boots, predict, fpt)
    samples = samples.reshape(-1, predict.size)
    enough = samples.shape[0] >= 10
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=0) if enough else (None, None)
    derived["predictions"] = [
        {
            "x": finite(predict[i]),
            "y": finite(y_hat[i]),
            "ci_low": finite(lo[i]) if enough else None,
            "ci_high": finite(hi[i]) if enough else None,
        }
        for i in range(predict.size)
    ]
    return derived


def _band(form, point: FitResult, boots: np.ndarray, x: np.ndarray) -> dict | None:
    """The fitted curve from min(x) to 10 max(x) with its 95% bootstrap band (1-D forms)."""
    if not law(form).band or not point.converged:
        return None
    grid = np.logspace(np.log10(x.min()), np.log10(10.0 * x.max()), BAND_POINTS)
    y_hat = predict_form(form, point.theta, grid)
    if boots.shape[0] >= 10:
        curves = np.array([predict_form(form, t, grid) for t in boots])
        low, high = np.percentile(curves, [2.5, 97.5], axis=0)
        low_l, high_l = [finite(v) for v in low], [finite(v) for v in high]
    else:
        low_l = high_l = [None] * BAND_POINTS
    return {"x": [finite(v) for v in grid], "y": [finite(v) for v in y_hat], "low": low_l,
            "high": high_l}


def point_and_draws(form: str, x: np.ndarray, y: np.ndarray, d: np.ndarray | None = None,
                    n_boot: int = 1000, seed: int = 0,
                    seed_level: Callable[[int, np.random.Generator], np.ndarray | None]
                    | None = None) -> tuple[FitResult, np.ndarray, np.ndarray | None]:
    """The point fit, its bootstrap thetas (n_ok, k) and the power form's seed level: the
    draws every interval of `analyse` comes from (and `prediction`'s, from the same seed)."""
    form = law(form)
    point = form.fit(x, y, d)
    rng = np.random.default_rng(seed)
    # Drawn first, and only with seeds: a one-seed fit's random stream is as it was.
    levels = (seed_level(n_boot, rng) if seed_level is not None and form.seed_level
              and n_boot > 0 and point.converged else None)
    boots, _ = bootstrap_form(form, x, y, d, point, n_boot, rng, levels)
    return point, boots, levels


def analyse(
    form: str,
    x: np.ndarray,
    y: np.ndarray,
    d: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    predict: np.ndarray | None = None,
    holdout: int = 1,
    seed_level: Callable[[int, np.random.Generator], np.ndarray | None] | None = None,
    reference: float | None = None,
    draws_out: dict | None = None,
    noise_sd_log: float = 0.0,
    fpt: FlopsPerToken | None = None,
) -> dict:
    """Everything fit.json holds about one form, except the column names and text.

    `draws_out`, when given, receives {form: (point FitResult, bootstrap thetas)}, so that
    the validation scoring predicts from the same draws (`validation`; with `fpt` in the
    point's `extra`). `fpt`: chinchilla's FLOPs per token against N (`flops_per_token`), to
    solve its optimum on the compute column's C (None: C = 6 N D). `noise_sd_log` is
    one run's seed noise as an sd of log y: the holdout check's prediction intervals
    draw it onto the refit's bootstrap predictions (0: no seeds measured).

    With seeds, x and y hold one point per configuration (the mean over its seeds), and
    `seed_level(n_boot, rng)` draws the seed level of the power form's bootstrap
    (`seeds.seed_level`). The saturating and chinchilla bootstraps stay on the residuals of
    the means, which hold the seed noise too (their coverage with seeds is not measured).
    """
    form = law(form)
    point, boots, levels = point_and_draws(form, x, y, d, n_boot, seed, seed_level)
    point.extra["fpt"] = fpt
    if draws_out is not None:
        draws_out[form.name] = (point, boots)
    # e.g. the saturating form's profile-likelihood intervals (`LawForm.intervals`)
    intervals = form.intervals(x, y, point)
    if point.converged:
        r2, rmse = goodness(y, predict_form(form, point.theta, x, d))
        extrapolation, note = extrapolation_check(form, x, y, d, holdout, n_boot, seed,
                                                  noise_sd_log)
        derived = _derived(form, point, boots, predict, reference, fpt)
    else:
        r2 = rmse = float("nan")
        extrapolation, note, derived = None, "skipped: the fit did not converge", {}
    exponent = finite(form.exponent(point.theta)) if point.converged else None
    return {
        "form": form.name,
        "n_points": int(x.size),
        "converged": bool(point.converged),
        "message": point.message,
        "params": _params_block(form, point, boots, intervals),
        "exponent": exponent,
        "r2_log": finite(r2),
        "rmse_log": finite(rmse),
        "extrapolation": extrapolation,
        "extrapolation_note": note,
        "derived": derived,
        "band": _band(form, point, boots, x),
        # n - n_ok resamples were skipped: all x equal (degenerate) or the refit failed.
        "bootstrap": {"n": int(n_boot), "n_ok": int(boots.shape[0]), "seed": int(seed)},
        "method": point.method + (SEED_LEVEL_METHOD if levels is not None else "")
        + form.method_suffix(fpt),
        "caveat": form.caveat(x, intervals) if point.converged else None,
    }

