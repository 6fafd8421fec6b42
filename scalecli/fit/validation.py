"""Predictions checked against runs that no fit used: fit.json's `prediction` and
`validation` blocks, and the `prediction_miss` diagnostic.

Rows with role=validation (`rows.split_roles`) are trained past the ladder and left out of
every fit. Each converged form predicts them from the ladder alone, with its 95%
prediction interval for one run (`prediction`), and is scored: relative error and whether
the run fell inside. Runs of a `validate: flops` budget beyond the ladder's are scored
against the compute-optimal approaches instead (`compute`).
"""

from __future__ import annotations

import math

import numpy as np

from scalecli.finite import finite
from scalecli.fit import axes, ladder_forms, prediction, seeds
from scalecli.fit.chinchilla import compute_optimal, optimal_many
from scalecli.fit.diagnostics import Diagnostic
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import LawForm, registry
from scalecli.fit.ladder_forms import (
    X_COL,
    Y_COL,
    cells,
    form_draws,
    ladder_points,
    prediction_block,
    rejected_forms,
)
from scalecli.fit.prediction import FormDraws

N_TOTAL = "params"  # N as approach 3 and the compute approaches count it


def parametric() -> LawForm:
    """Approach 3: the law in N and D that also gives N_opt (the chinchilla form), whose
    loss at a size and at a budget the validation runs score."""
    return next(f for f in registry.compute_forms() if isinstance(f, LawForm))


def is_budget_run(row: dict[str, str], ladder_max_budget: float) -> bool:
    """A validate-flops run: a FLOP budget beyond every budget of the ladder."""
    c = seeds.cell(row, "budget_flops")
    return math.isfinite(c) and not c <= ladder_max_budget


def ladder_max_budget(rows: list[dict[str, str]]) -> float:
    values = [v for v in cells(rows, "budget_flops") if math.isfinite(v)]
    return max(values) if values else -math.inf


# -------------------------------------------------------------------------------- scoring


def score(form: str, predicted: float, low: float | None, high: float | None,
          observed: float) -> dict:
    inside = None if low is None or high is None else bool(low <= observed <= high)
    return {"form": form, "predicted": finite(predicted), "low": finite(low), "high": finite(high),
            "rel_error": finite((predicted - observed) / observed), "inside": inside}


def chinchilla_draws(theta: np.ndarray, boots: np.ndarray, n: np.ndarray, d: np.ndarray,
                     seed_sd: float, rng: np.random.Generator) -> FormDraws:
    form = parametric()
    y = form.predict(theta, n, d)
    curves = np.array([form.predict(t, n, d) for t in boots]).reshape(-1, n.size)
    curves = curves[np.all(np.isfinite(curves), axis=1)]
    return FormDraws(form.name, y, prediction.with_noise(curves, seed_sd, rng))


def validation_runs(rows: list[dict[str, str]], header: list[str]
                    ) -> list[dict]:
    """One entry per validation configuration (its seeds averaged)."""
    if not rows:
        return []
    lad = seeds.ladder(rows, header, X_COL if X_COL in header else N_TOTAL, "tokens", True)
    out = []
    for c in lad.points:
        members = [rows[i] for i in c.rows]
        first = members[0]
        loss = cells(members, Y_COL)
        loss = loss[np.isfinite(loss)]
        if not loss.size:
            continue
        out.append({"run_id": first.get("run_id") or None, "model": first.get("model") or None,
                    "x": finite(seeds.cell(first, X_COL)), "n": finite(seeds.cell(first, N_TOTAL)),
                    "tokens": finite(seeds.cell(first, "tokens")),
                    "flops": finite(seeds.cell(first, "flops")),
                    "budget_flops": finite(seeds.cell(first, "budget_flops")),
                    "observed": float(np.mean(loss)), "n_seeds": len(members)})
    return out


def score_runs(runs: list[dict], at: dict[float, int], forms: list[FormDraws],
               chinchilla: FormDraws | None, combine: list[FormDraws] | None = None
               ) -> list[dict]:
    """`runs` with their scores: each form at the run's N (index `at[x]` of the draws),
    chinchilla at its (N, D) (index k of its draws), and the combined prediction (the
    mixture of `combine`, default every form)."""
    combined = prediction.mixture(forms if combine is None else combine)
    out = []
    for k, run in enumerate(runs):
        j = at.get(run["x"])
        scores = []
        for f in forms if j is not None else []:
            iv = f.interval()
            scores.append(score(f.form, f.y[j], *(None, None) if iv is None else
                                (iv[0][j], iv[1][j]), run["observed"]))
        if chinchilla is not None:
            iv = chinchilla.interval()
            scores.append(score(chinchilla.form, chinchilla.y[k], *(None, None) if iv is None
                                else (iv[0][k], iv[1][k]), run["observed"]))
        if combined is not None and j is not None:
            scores.append(score("combined", combined[0][j], combined[1][j], combined[2][j],
                                run["observed"]))
        ranked = [s for s in scores if s["form"] != "combined" and s["rel_error"] is not None]
        best = min(ranked, key=lambda s: abs(s["rel_error"]))["form"] if ranked else None
        out.append({**{k2: v for k2, v in run.items() if k2 not in ("n", "budget_flops")},
                    "scores": scores, "best_form": best})
    return out


def summarise(scored: list[dict]) -> dict:
    """best_form (smallest max |rel_error| over the runs), ruled_out, misses."""
    worst: dict[str, float] = {}
    ruled_out: list[str] = []
    misses = 0
    for run in scored:
        for s in run["scores"]:
            if s["rel_error"] is not None and s["form"] != "combined":
                worst[s["form"]] = max(worst.get(s["form"], 0.0), abs(s["rel_error"]))
            if s["inside"] is False:
                misses += 1
                if s["form"] not in ruled_out:
                    ruled_out.append(s["form"])
    best = min(worst, key=worst.get) if worst else None
    return {"best_form": best, "ruled_out": ruled_out, "misses": misses}


def compute_block(runs: list[dict], fits: dict, chin: tuple | None, seed_sd: float,
                  rng: np.random.Generator, fpt: FlopsPerToken | None = None) -> list[dict]:
    """validation.compute: per FLOP budget beyond the ladder's, its runs (approach 3's
    prediction at each run's (N, D) when chinchilla is fitted), the best trained size, and
    each approach's N_opt there against it (approach 3's solved on C = fpt(N) D)."""
    out = []
    for c in sorted({r["budget_flops"] for r in runs}):
        mine = [r for r in runs if r["budget_flops"] == c]
        entries = []
        for r in mine:
            entry = {"run_id": r["run_id"], "model": r["model"], "n": r["n"],
                     "tokens": r["tokens"], "observed": r["observed"]}
            if chin is not None and r["n"] is not None and r["tokens"] is not None:
                theta, boots = chin
                d = chinchilla_draws(theta, boots, np.array([r["n"]]), np.array([r["tokens"]]),
                                     seed_sd, rng)
                iv = d.interval()
                s = score(d.form, d.y[0], *(None, None) if iv is None else
                          (iv[0][0], iv[1][0]), r["observed"])
                entry.update(predicted=s["predicted"], low=s["low"], high=s["high"],
                             inside=s["inside"])
            entries.append(entry)
        best = min(mine, key=lambda r: r["observed"])
        block = {"flops": finite(c), "runs": entries, "best_trained_n": best["n"],
                 "observed_best": finite(best["observed"]), "approaches": []}
        for form in registry.compute_forms():
            row = approach_at(form.name, form.approach, fits, chin, c, best, seed_sd, rng, fpt)
            if row is not None:
                block["approaches"].append(row)
        out.append(block)
    return out


def approach_at(form: str, name: str, fits: dict, chin: tuple | None, c: float, best: dict,
                seed_sd: float, rng: np.random.Generator,
                fpt: FlopsPerToken | None = None) -> dict | None:
    """One approach's N_opt at budget c (and approach 3's loss there, with its interval),
    against the best trained size."""
    fit = fits.get(form)
    if not fit or not fit.get("converged"):
        return None
    row = {"approach": name, "n_opt": None, "loss": None, "low": None, "high": None,
           "inside": None, "n_ratio": None}
    law = isinstance(registry.find(form), LawForm)
    if law and chin is not None:
        theta, boots = chin
        opt = compute_optimal(theta, np.array([c]), fpt)  # on the same C as the budget's
        samples = optimal_many(boots, np.array([c]), fpt)[2][:, 0]
        samples = prediction.with_noise(samples[np.isfinite(samples)][:, None], seed_sd, rng)
        iv = prediction.percentiles(samples)
        row["n_opt"] = finite(opt["N_opt"][0])
        row["loss"] = finite(opt["L_opt"][0])
        if iv is not None:
            row.update(low=finite(iv[0][0]), high=finite(iv[1][0]),
                       inside=bool(iv[0][0] <= best["observed"] <= iv[1][0]))
    elif not law:
        a = ((fit.get("params") or {}).get("a_opt") or {}).get("value")
        k_n = (fit.get("derived") or {}).get("k_n")
        if a is not None and k_n is not None:
            row["n_opt"] = finite(k_n * c ** a)
    if row["n_opt"] is not None and best["n"]:
        row["n_ratio"] = finite(row["n_opt"] / best["n"])
    return row


def findings(block: dict | None) -> list[Diagnostic]:
    """`prediction_miss`: one warning per form with a validation run outside its 95%
    prediction interval, naming the runs and by how much."""
    if not block:
        return []
    missed: dict[str, list[str]] = {}
    for run in block["runs"]:
        label = run.get("model") or run.get("run_id") or f"N = {run['x']:.3g}"
        for s in run["scores"]:
            if s["inside"] is False:
                edge = s["high"] if run["observed"] > s["high"] else s["low"]
                missed.setdefault(s["form"], []).append(
                    f"{label}: predicted {s['predicted']:.4g} [{s['low']:.4g}, "
                    f"{s['high']:.4g}], observed {run['observed']:.4g} "
                    f"({100 * s['rel_error']:+.1f}%, {abs(run['observed'] - edge):.3g} nats "
                    "outside)")
    for entry in block.get("compute") or []:  # validate: {flops: ...}: the budget's best run
        for a in entry["approaches"]:
            if a.get("inside") is False:
                edge = a["high"] if entry["observed_best"] > a["high"] else a["low"]
                missed.setdefault(parametric().name, []).append(
                    f"at {entry['flops']:.3g} FLOPs its compute-optimal loss "
                    f"{a['loss']:.4g} [{a['low']:.4g}, {a['high']:.4g}] against the best run "
                    f"there, {entry['observed_best']:.4g} "
                    f"({abs(entry['observed_best'] - edge):.3g} nats outside)")
    return [Diagnostic("prediction_miss", "warning",
                       f"The {form} form's 95% prediction interval missed a validation run: "
                       f"{'; '.join(found)}. Do not extrapolate with this form alone.")
            for form, found in missed.items()]


# --------------------------------------------------------------------------- the driver's


def pooled_loss_sd(lad: seeds.Ladder, rows: list[dict[str, str]], header: list[str]
                    ) -> float | None:
    """One run's seed noise in val_loss (nats): the pooled seed sd of fit.json's
    seed_noise, or None without seeds."""
    if "seed" not in header or "val_loss" not in header:
        return None
    return seeds.pooled_sd(np.array([seeds.cell(rows[i], "val_loss") for i in c.rows])
                           for g in lad.groups for c in g).sd


def noise_sd_log(lad: seeds.Ladder, rows: list[dict[str, str]], y_col: str) -> float:
    """One run's seed noise as an sd of log y (0 without seeds): the holdout check's
    prediction intervals draw it. For perplexity that is the sd of val_loss itself."""
    if not lad.seeded():
        return 0.0
    log_y = [np.log(v) if v > 0 else np.nan
             for v in (seeds.cell(r, y_col) for r in rows)]
    sd = seeds.pooled_sd(np.array([log_y[i] for i in c.rows])
                         for g in lad.groups for c in g).sd
    return sd or 0.0




def build(every_lr: list[dict[str, str]], lad: seeds.Ladder, held: list[dict[str, str]],
          header: list[str], fits: dict, draws: dict, n_boot: int, seed: int,
          predict: np.ndarray | None, seed_sd: float | None, power_level=None
          ) -> tuple[dict | None, dict | None, list[Diagnostic]]:
    """(prediction, validation, diagnostics) for fit.json; None for a block that has
    nothing to hold. `every_lr` are the ladder rows given to `seeds.ladder` (`lad`), `held`
    the role=validation rows that passed the filter, `draws` the {form: (point, thetas)}
    of `analysis.analyse`'s `draws_out`."""
    sd = seed_sd or 0.0
    max_budget = ladder_max_budget(every_lr)
    runs = validation_runs(held, header)
    along_n = [r for r in runs if r["budget_flops"] is None or r["budget_flops"] <= max_budget]
    budget_runs = [r for r in runs if r not in along_n]
    along_n = [r for r in along_n if r["x"] is not None and r["x"] > 0]
    points = ladder_points(lad, every_lr)
    forms: list[FormDraws] = []
    combine: list[FormDraws] | None = None
    pred_block = None
    at: dict[float, int] = {}
    if points is not None:
        x, y, kept = points
        xs, labels, sources = [], [], []
        for r in along_n:
            if r["x"] not in at:
                at[r["x"]] = len(xs)
                xs.append(r["x"])
                labels.append(r["model"])
                sources.append("validation")
        for v in ([] if predict is None else predict):
            xs.append(float(v))
            labels.append(None)
            sources.append("predict")
        # 10x the largest size always: the summary sets it beside the power law's 10x
        ten_x = prediction.DEFAULT_FACTOR * float(x.max())
        if ten_x not in xs:
            xs.append(ten_x)
            labels.append(None)
            sources.append("default")
        forms = form_draws(x, y, np.array(xs), n_boot, seed, sd,
                           axes.level_on(power_level, kept))
        rejected = rejected_forms(x, y, min(n_boot, ladder_forms.HOLDOUT_BOOT), seed, sd)
        if forms:
            pred_block = prediction_block(np.array(xs), labels, sources, forms, seed_sd,
                                          rejected)
            combine = prediction.trusted(forms, rejected)
    if not runs:
        return pred_block, None, []
    rng = np.random.default_rng(seed + 2)
    name = parametric().name
    chin_fit = fits.get(name) or {}
    chin = None
    if chin_fit.get("converged") and chin_fit.get("y") == Y_COL and name in draws:
        point, boots = draws[name]
        chin = (point.theta, boots)
    chin_draws = None
    if chin is not None and along_n:
        n_col, d_col = chin_fit["x"], chin_fit.get("d") or "tokens"
        by_x = {r["x"]: r for r in runs}
        firsts = [next(row for row in held if seeds.cell(row, X_COL) == r["x"])
                  for r in along_n]
        n = np.array([seeds.cell(row, n_col) for row in firsts])
        d = np.array([seeds.cell(row, d_col) for row in firsts])
        if np.all(np.isfinite(n) & np.isfinite(d) & (n > 0) & (d > 0)) and by_x:
            chin_draws = chinchilla_draws(chin[0], chin[1], n, d, sd, rng)
    scored = (score_runs(along_n, at, forms, chin_draws, combine) if (forms or chin_draws)
              else [])
    block = {"x": X_COL, "y": Y_COL, "runs": scored, **summarise(scored)}
    if budget_runs:
        # approach 3 on the budget's C as the compute column counts it (`flops_per_token`)
        fpt = draws[name][0].extra.get("fpt") if chin is not None else None
        block["compute"] = compute_block(budget_runs, fits, chin, sd, rng, fpt)
    return pred_block, block, findings(block)
