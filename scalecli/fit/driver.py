"""`scalecli fit`: the rows of a CSV -> every requested form -> fit.json, and its summary.

The maths lives in `analysis` (one form end to end) over `laws` and `chinchilla`; reading
and filtering the CSV is `rows`, the printed summary is `summary`. This module decides
which forms and columns to fit and puts the document together. Every problem a user can
fix is raised as one-line `ScaleError` that names the file or column and says what to do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalecli import __version__
from scalecli.errors import ScaleError
from scalecli.fit import axes, seeds, validation
from scalecli.fit.compute import (
    COMPUTE_FORMS,
    N_COLUMN,
    approach_fits,
    compute_column,
    compute_fits,
    isoflop_findings,
    per_token,
)
from scalecli.fit.conventions import by_convention, skipped_notes
from scalecli.fit.diagnostics import Evidence, diagnose
from scalecli.fit.exponents import exponents
from scalecli.fit.prediction import ten_x_ci
from scalecli.fit.rows import (
    BEST_LR_REASON,
    VALIDATION_REASON,
    filter_rows,
    numeric_column,
    parse_predict,
    parse_where,
    read_csv,
    resolve_csv,
    split_roles,
)
from scalecli.fit.summary import print_summary
from scalecli.results import atomic_write_text, read_json

FORMS = ("power", "saturating", "chinchilla")
ALL_FORMS = (*FORMS, "all", *COMPUTE_FORMS)

# Plain names for the summary ("10x params -> 20.6% lower perplexity").
QUANTITY_NAMES = {
    "params_non_embedding": "params",
    "params": "params",
    "tokens": "tokens",
    "flops": "compute",
    "flops_6nd": "compute",
    "val_ppl": "perplexity",
    "val_loss": "loss",
    "train_loss": "training loss",
    "val_bpb": "bits per byte",
}


@dataclass
class FitOptions:
    """What `scalecli fit` was asked to do (built by cli.py)."""

    path: Path
    form: str = "power"
    x: str | None = None
    """None: params_non_embedding (Kaplan's N) for power and saturating; params (every
    parameter, as C counts them) for chinchilla, isoflop, envelope and compute. With `all`,
    each form takes its own default."""
    y: str | None = None
    d: str = "tokens"
    where: list[str] | None = None
    """COLUMN=VALUE filters; None means the default status=ok (dropped if no status column)."""
    bootstrap: int = 1000
    seed: int = 0
    predict: str | None = None
    predict_flops: str | None = None
    """FLOP budgets at which each compute-optimal approach gives N_opt, D_opt (and loss)."""
    holdout: int = 1
    all_lrs: bool = False
    """Fit every learning rate's run, not only the best one per size."""
    as_json: bool = False
    strict: bool = False
    """Exit 1 when a diagnostic is a warning (for scripts and CI)."""


def default_y(form: str) -> str:
    """Perplexity is the brief's power law; the loss forms need an additive floor in nats."""
    return "val_ppl" if form == "power" else "val_loss"


def ten_x_text(x_col: str, y_col: str, factor: float,
               b_ci: tuple[float | None, float | None] = (None, None)) -> str:
    """'10x params -> 20.6% lower perplexity (95% CI 14.1-27.4%)': what an order of
    magnitude in x buys, with the interval from b's, so that one form's number is never
    read without its uncertainty."""
    x_name = QUANTITY_NAMES.get(x_col, x_col)
    y_name = QUANTITY_NAMES.get(y_col, y_col)
    change = 100.0 * (factor - 1.0)
    direction = "lower" if change < 0 else "higher"
    return f"10x {x_name} -> {abs(change):.1f}% {direction} {y_name}" + ten_x_ci(b_ci)


# ------------------------------------------------------------------------------ fitting


def _form_data(form, rows, header, path, x_col, y_col, d_col, lad: seeds.Ladder):
    """The validated arrays for one form, one point per configuration (the mean over its
    seeds, `seeds.Ladder.mean`), or a ScaleError that says what is wrong."""
    from scalecli.fit import analysis as fitmath
    from scalecli.fit.laws import N_PARAMS

    x = lad.first(numeric_column(rows, x_col, header, path))
    y = lad.mean(numeric_column(rows, y_col, header, path))
    d = lad.first(numeric_column(rows, d_col, header, path)) if form == "chinchilla" else None
    need = fitmath.min_points(form)
    if x.size < need:
        left = (f"{x.size} rows" if x.size == len(rows) else
                f"{x.size} configurations ({len(rows)} rows, averaged over seeds)")
        raise ScaleError(
            f"{left} of {path} are left to fit; the {form} form has "
            f"{N_PARAMS[form]} parameters and needs at least {need} points"
        )
    if np.unique(x).size < 2:
        raise ScaleError(
            f"all values of column {x_col!r} in {path} are equal ({x[0]:g}); a fit needs at "
            "least two distinct x; pick another --x or add runs"
        )
    if d is not None and np.unique(d).size < 2:
        raise ScaleError(
            f"all values of column {d_col!r} (D) in {path} are equal ({d[0]:g}); the "
            "chinchilla form needs at least two token budgets; use --form saturating or power"
        )
    return x, y, d


def default_x(form: str) -> str:
    """Total parameters for chinchilla and the compute-optimal forms, as C (the flops
    column) counts them; non-embedding ones (Kaplan's N) for power and saturating."""
    return N_COLUMN if form in (*COMPUTE_FORMS, "chinchilla") else "params_non_embedding"


def _compute(
    csv_path: Path,
    form: str,
    x: str | None,
    y: str | None,
    d: str,
    where: list[str] | None,
    bootstrap: int,
    seed: int,
    predict: np.ndarray | None,
    holdout: int,
    all_lrs: bool = False,
    predict_flops: np.ndarray | None = None,
) -> tuple[dict, list[str]]:
    """fit.json as a dict, and notes for the summary (forms that `all` had to skip)."""
    from scalecli.fit import analysis as fitmath

    if form not in ALL_FORMS:
        raise ScaleError(f"--form {form!r} is unknown; use {', '.join(ALL_FORMS)}")
    if predict_flops is not None and form in ("power", "saturating"):
        raise ScaleError(f"--predict-flops is for the compute-optimal forms; --form {form} "
                         "predicts at x with --predict")
    if form in (*COMPUTE_FORMS, "chinchilla") and predict_flops is not None:
        predict = predict_flops  # chinchilla's --predict values are FLOP budgets already
    given_x, x = x, x or default_x(form)
    if bootstrap < 0 or holdout < 0:
        raise ScaleError("--bootstrap and --holdout must be >= 0")
    header, rows = read_csv(csv_path)
    pairs = parse_where(where, header, csv_path)
    kept, excluded = filter_rows(rows, pairs)
    kept, held = split_roles(kept)  # role=validation: scored below, never fitted
    if held:
        excluded[VALIDATION_REASON] = len(held)
    every_lr = kept
    # The lr that the sweep's lr search chose, where it ran (its record beside the CSV)
    searched = seeds.searched_runs(read_json(csv_path.parent / "lr_search.json"))
    lad = seeds.ladder(every_lr, header, x, d, all_lrs, searched)  # the best lr per size
    kept = [every_lr[i] for i in lad.fitted_rows()]
    if len(kept) < len(every_lr):
        excluded[BEST_LR_REASON] = len(every_lr) - len(kept)
    filters = [f"{c}={v}" for c, v in pairs]
    if not kept:
        detail = ", ".join(f"{n} {k}" for k, n in excluded.items())
        raise ScaleError(
            f"no row of {csv_path} is left after --where {' '.join(filters)} "
            f"({len(rows)} rows: {detail}); change or drop the filter"
        )
    fits, notes = {}, []
    found = []
    table = conventions = None
    skipped: dict[str, str] = {}
    draws: dict = {}  # {form: (point, bootstrap thetas)}, for the validation scoring
    if form in COMPUTE_FORMS:
        fit_args = (kept, header, csv_path, x, y or default_y(form), d, lad, bootstrap, seed,
                    predict, holdout)
        fits, table, found, notes = compute_fits(form, *fit_args, draws_out=draws)
        conventions, skipped = by_convention(form, *fit_args, table)
        notes += skipped_notes(skipped)
    forms = FORMS if form == "all" else () if form in COMPUTE_FORMS else (form,)
    first_error = None
    for name in forms:
        y_col = y or default_y(name)
        x_name = given_x or default_x(name)  # under `all`, chinchilla's N is total params
        level = _seed_level(lad, every_lr, y_col) if lad.seeded() else None
        along_c = name != "chinchilla" and x_name in axes.COMPUTE_X
        try:
            x_arr, y_arr, d_arr = _form_data(name, kept, header, csv_path, x_name, y_col, d,
                                             lad)
            if along_c:  # L(C): the runs on the compute frontier only (`axes`)
                keep, x_arr = axes.on_frontier(name, x_name, x_arr, y_arr,
                                               fitmath.min_points(name),
                                               axes.nominal_budgets(kept, header, lad))
                y_arr, level = y_arr[keep], axes.level_on(level, keep)
        except ScaleError as error:
            if form != "all":
                raise
            first_error = first_error or error
            notes.append(f"{name}: skipped ({error})")
            continue
        result = fitmath.analyse(
            name,
            x_arr,
            y_arr,
            d_arr,
            n_boot=bootstrap,
            seed=seed,
            predict=predict,
            holdout=holdout,
            seed_level=level,
            draws_out=draws,
            noise_sd_log=validation.noise_sd_log(lad, every_lr, y_col),
            # chinchilla's optimum on the compute column's C (`compute.per_token`)
            fpt=per_token(kept, header, x_name, d, lad) if name == "chinchilla"
            else None,
        )
        result["method"] += axes.FRONTIER_METHOD if along_c else ""
        if name != "chinchilla" and x_name == d:  # L(D) at each size (`axes`)
            labels, n_of = axes.sizes(kept, header, lad)
            if len(set(labels)) >= 2:
                result["by_size"] = axes.by_size(
                    name, x_arr, y_arr, labels, n_of, fitmath.min_points(name),
                    lambda xs, ys, name=name: fitmath.analyse(name, xs, ys, n_boot=bootstrap,
                                                              seed=seed, holdout=holdout))
                result["caveat"] = "; ".join(filter(None, [result["caveat"], axes.pooled_caveat(
                    result["by_size"], x_name)]))
        if name == "power" and result["converged"]:
            b = result["params"]["b"]
            result["derived"]["ten_x_text"] = ten_x_text(
                x_name, y_col, result["derived"]["ten_x_factor"], (b["ci_low"], b["ci_high"])
            )
        fits[name] = {
            "form": name,
            "x": x_name,
            "y": y_col,
            "d": d if name == "chinchilla" else None,
            **{k: v for k, v in result.items() if k != "form"},
        }
    if not fits:
        raise first_error
    table_of_exponents = None
    if form == "all":
        if _has_budgets(kept, header):  # approach 2's a and b, with N as C counts it
            try:
                iso, iso_notes = approach_fits("isoflop", kept, header, csv_path, N_COLUMN,
                                               default_y("isoflop"), d, lad, bootstrap, seed,
                                               None, holdout)
            except ScaleError as error:  # e.g. a blank N cell: the other forms still stand
                notes.append(f"isoflop: skipped ({error})")
            else:
                fits["isoflop"] = iso["isoflop"]
                found += isoflop_findings(iso["isoflop"])
                notes += iso_notes
        table_of_exponents = exponents(
            kept, header, lad, given_x or default_x("power"), y or default_y("power"), d,
            compute_column(header),
            lambda xs, ys: fitmath.analyse("power", xs, ys, n_boot=bootstrap, seed=seed,
                                           holdout=0),
            fits)
    doc = {
        "scalecli_version": __version__,
        "source": str(csv_path),
        "filter": filters,
        "rows_total": len(rows),
        "rows_used": len(kept),
        "rows_excluded": excluded,
        "fits": fits,
    }
    if table_of_exponents is not None:
        doc["exponents"] = table_of_exponents  # every scale the design supports (`exponents`)
    if table is not None:
        doc["approaches"] = table
        doc["conventions"] = conventions  # {column: the same table with N counted so}
        doc["conventions_skipped"] = skipped  # {column: why}, for a CSV without it
    if "seed" in header:  # a CSV without seeds has no seed noise to report
        column = "val_loss" if "val_loss" in header else y or default_y("power")
        # x of the report's seed bars: the scaling plot's axis, Kaplan's N unless --x says
        noise_x = given_x or ("params_non_embedding" if "params_non_embedding" in header else x)
        doc["seed_noise"] = seeds.noise_block(lad, every_lr, column, noise_x)
    pred_block, val_block, missed = validation.build(
        every_lr, lad, held, header, fits, draws, bootstrap, seed,
        predict if form in ("power", "saturating", "all") else None,
        validation.pooled_loss_sd(lad, every_lr, header),
        # the power form's seed level is on log ppl, which is val_loss
        _seed_level(lad, every_lr, "val_ppl") if lad.seeded() and "val_ppl" in header
        else None)
    if pred_block is not None:
        doc["prediction"] = pred_block
    if val_block is not None:
        doc["validation"] = val_block
    found += missed
    evidence = Evidence(rows=every_lr, header=header, x_col=x,
                        y_col=y or default_y("power"), fits=fits,
                        predict=None if predict is None else [float(v) for v in predict],
                        # the sweep folder's data.json; None for a CSV on its own
                        data_summary=read_json(csv_path.parent / "data.json"),
                        searched=searched,  # and every status, for what lr_edge says:
                        tried=filter_rows(rows, [p for p in pairs if p[0] != "status"])[0])
    doc["diagnostics"] = [d.to_json() for d in [*diagnose(evidence), *found]]
    return doc, notes



def _has_budgets(rows: list[dict[str, str]], header: list[str]) -> bool:
    """Whether any run was trained to a FLOP budget (budget_flops is blank for tokens)."""
    return "budget_flops" in header and any(
        math.isfinite(seeds.cell(r, "budget_flops")) for r in rows)


def _seed_level(lad: seeds.Ladder, rows: list[dict[str, str]], y_col: str):
    """The power bootstrap's seed level (`seeds.seed_level`) on log y of every row."""
    values = [seeds.cell(row, y_col) for row in rows]
    log_y = np.array([math.log(v) if v > 0 else math.nan for v in values])
    return lambda n_boot, rng: seeds.seed_level(lad, log_y, n_boot, rng)


def compute_fit(
    csv_path: Path,
    form: str = "power",
    x: str | None = None,
    y: str | None = None,
    d: str = "tokens",
    where: list[str] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    predict: list[float] | str | None = None,
    holdout: int = 1,
    all_lrs: bool = False,
    predict_flops: list[float] | str | None = None,
) -> dict:
    """The fit.json dict for a CSV, without writing or printing (the report command calls
    this when fit.json is missing). `where=None` means the default status=ok filter."""
    values = (
        parse_predict(predict)
        if isinstance(predict, str)
        else (None if predict is None else np.asarray(predict, dtype=float))
    )
    flops = (parse_predict(predict_flops) if isinstance(predict_flops, str)
             else None if predict_flops is None else np.asarray(predict_flops, dtype=float))
    doc, _ = _compute(Path(csv_path), form, x, y, d, where, bootstrap, seed, values, holdout,
                      all_lrs, flops)
    return doc


def run_fit(options: FitOptions) -> int:
    """The `scalecli fit` command: fit, write fit.json next to the CSV, print a summary.

    Returns the exit code: 0, or 1 with --strict when a diagnostic is a warning."""
    csv_path = resolve_csv(Path(options.path))
    doc, notes = _compute(
        csv_path,
        options.form,
        options.x,
        options.y,
        options.d,
        options.where,
        options.bootstrap,
        options.seed,
        parse_predict(options.predict),
        options.holdout,
        options.all_lrs,
        parse_predict(options.predict_flops),
    )
    text = json.dumps(doc, indent=2, allow_nan=False)
    out_path = csv_path.parent / "fit.json"
    atomic_write_text(out_path, text + "\n")
    if options.as_json:
        print(text)
    else:
        print_summary(doc, notes, out_path)
    warned = any(found["severity"] == "warning" for found in doc["diagnostics"])
    return 1 if options.strict and warned else 0
