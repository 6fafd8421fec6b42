"""`scalecli fit`: the rows of a CSV -> every requested form -> fit.json, and its summary.

The maths lives in `analysis` (one law form end to end) and `compute` (the approaches);
which forms exist and what each can do is `forms.registry`; reading and filtering the CSV
is `rows`, the printed summary is `summary`; what a fit is asked and what it reads, checked
once, are `request.FitRequest` and `request.Runs`. This module asks the registry which
forms to fit and puts the document together. Every problem a user can fix is raised as a
one-line `ScaleError` that names the file or column and says what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from scalecli import __version__
from scalecli.errors import ScaleError
from scalecli.finite import finite
from scalecli.fit import axes, per_byte, schema, seeds, validation
from scalecli.fit.compute import (
    Job,
    compute_column,
    compute_fits,
    isoflop_findings,
    per_token,
)
from scalecli.fit.conventions import by_convention, skipped_notes
from scalecli.fit.diagnostics import Evidence, diagnose
from scalecli.fit.exponents import exponents
from scalecli.fit.forms import LawForm, registry
from scalecli.fit.request import FitOptions, FitRequest, Runs, read_runs
from scalecli.fit.rows import (
    filter_rows,
    numeric_column,
    resolve_csv,
)
from scalecli.fit.summary import print_summary
from scalecli.results import atomic_write_text, read_json


@dataclass
class Outcome:
    """What the steps of one fit build up: fit.json's parts and the summary's notes."""

    fits: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    found: list = field(default_factory=list)  # diagnostics the fitting itself raised
    draws: dict = field(default_factory=dict)  # {form: (point, thetas)}, for validation
    extra: dict = field(default_factory=dict)  # approaches, conventions, exponents


# ------------------------------------------------------------------------------ fitting


def _form_data(form: LawForm, runs: Runs, x_col: str, y_col: str, d_col: str):
    """The validated arrays for one form, one point per configuration (the mean over its
    seeds, `seeds.Ladder.mean`), or a ScaleError that says what is wrong."""
    rows, header, path, lad = runs.kept, runs.header, runs.path, runs.lad
    x = lad.first(numeric_column(rows, x_col, header, path))
    y = lad.mean(numeric_column(rows, y_col, header, path))
    d = lad.first(numeric_column(rows, d_col, header, path)) if form.reads_d else None
    need = form.min_points
    if x.size < need:
        left = (f"{x.size} rows" if x.size == len(rows) else
                f"{x.size} configurations ({len(rows)} rows, averaged over seeds)")
        raise ScaleError(
            f"{left} of {path} are left to fit; the {form.name} form has "
            f"{len(form.param_names)} parameters and needs at least {need} points"
        )
    if np.unique(x).size < 2:
        raise ScaleError(
            f"all values of column {x_col!r} in {path} are equal ({x[0]:g}); a fit needs at "
            "least two distinct x; pick another --x or add runs"
        )
    if d is not None and np.unique(d).size < 2:
        raise ScaleError(
            f"all values of column {d_col!r} (D) in {path} are equal ({d[0]:g}); the "
            f"{form.name} form needs at least two token budgets; use --form "
            + " or ".join(f.name for f in reversed(registry.law_forms()) if not f.reads_d)
        )
    return x, y, d


def _fit_law(form: LawForm, req: FitRequest, runs: Runs, draws: dict) -> dict:
    """fit.json's entry for one law form (`analysis.analyse`), or a ScaleError."""
    from scalecli.fit import analysis

    y_col, x_name = req.y_of(form), req.x_of(form)  # under `all`, chinchilla's N is params
    lad = runs.lad
    level = _seed_level(lad, runs.every_lr, y_col) if lad.seeded() else None
    along_c = not form.reads_d and x_name in axes.COMPUTE_X
    x_arr, y_arr, d_arr = _form_data(form, runs, x_name, y_col, req.d)
    if along_c:  # L(C): the runs on the compute frontier only (`axes`)
        keep, x_arr = axes.on_frontier(form.name, x_name, x_arr, y_arr, form.min_points,
                                       axes.nominal_budgets(runs.kept, runs.header, lad))
        y_arr, level = y_arr[keep], axes.level_on(level, keep)
    result = analysis.analyse(
        form, x_arr, y_arr, d_arr, n_boot=req.bootstrap, seed=req.seed, predict=req.predict,
        holdout=req.holdout, seed_level=level, draws_out=draws,
        noise_sd_log=validation.noise_sd_log(lad, runs.every_lr, y_col),
        # an optimum on the compute column's C (`compute.per_token`)
        fpt=per_token(runs.kept, runs.header, x_name, req.d, lad) if form.compute else None)
    result["method"] += axes.FRONTIER_METHOD if along_c else ""
    if not form.reads_d and x_name == req.d:  # L(D) at each size (`axes`)
        _by_size(form, req, runs, (x_arr, y_arr), result)
    form.describe(result, x_name, y_col)
    return {"form": form.name, "x": x_name, "y": y_col, "d": req.d if form.reads_d else None,
            **{k: v for k, v in result.items() if k != "form"}}


def _by_size(form: LawForm, req: FitRequest, runs: Runs, xy: tuple, result: dict) -> None:
    """With --x the D column on several sizes: one fit per size (`axes.by_size`)."""
    from scalecli.fit import analysis

    labels, n_of = axes.sizes(runs.kept, runs.header, runs.lad)
    if len(set(labels)) < 2:
        return
    result["by_size"] = axes.by_size(
        form.name, *xy, labels, n_of, form.min_points,
        lambda xs, ys: analysis.analyse(form, xs, ys, n_boot=req.bootstrap, seed=req.seed,
                                        holdout=req.holdout))
    result["caveat"] = "; ".join(filter(None, [result["caveat"], axes.pooled_caveat(
        result["by_size"], req.x_of(form))]))


def _law_fits(req: FitRequest, runs: Runs, out: Outcome) -> None:
    """Each law form the choice names into out.fits; under `all`, a form that cannot be
    fitted is a note, and only when none can is its error raised."""
    first_error = None
    for form in req.law_forms():
        try:
            out.fits[form.name] = _fit_law(form, req, runs, out.draws)
        except ScaleError as error:
            if req.choice != registry.ALL:
                raise
            first_error = first_error or error
            out.notes.append(f"{form.name}: skipped ({error})")
    if not out.fits and first_error is not None:
        raise first_error


def _job(req: FitRequest, runs: Runs, columns: tuple[str, str],
         predict: np.ndarray | None) -> Job:
    """The compute fits' inputs with (N, loss) `columns`, FLOP budgets `predict`."""
    return Job(runs.kept, runs.header, req.path, runs.lad, *columns, req.d, req.bootstrap,
               req.seed, predict, req.holdout)


def _approaches(req: FitRequest, runs: Runs, out: Outcome) -> None:
    """The compute-optimal approaches (`compute`), and their table with N counted each way
    the CSV allows (`conventions`)."""
    first = registry.selected(req.choice)[0]
    job = _job(req, runs, (req.main_x, req.y_of(first)), req.predict)
    fits, table, found, notes = compute_fits(req.choice, job, out.draws)
    conventions, skipped = by_convention(req.choice, job, table)
    out.fits.update(fits)
    out.found += found
    out.notes += notes + skipped_notes(skipped)
    out.extra.update(approaches=table, conventions=conventions, conventions_skipped=skipped)


def _all_extras(req: FitRequest, runs: Runs, out: Outcome) -> None:
    """`all`: the budget forms where the runs have FLOP budgets (approach 2's a and b, N as
    C counts it), and the table of every exponent the design supports (`exponents`)."""
    from scalecli.fit import analysis
    from scalecli.fit.compute import approach_fits

    if _has_budgets(runs.kept, runs.header):
        for form in (f for f in registry.all_forms() if not isinstance(f, LawForm)):
            try:
                fits, notes = approach_fits((form,), _job(req, runs, (form.x, form.y), None))
            except ScaleError as error:  # e.g. a blank N cell: the other forms still stand
                out.notes.append(f"{form.name}: skipped ({error})")
                continue
            out.fits[form.name] = fits[form.name]
            out.found += isoflop_findings(fits[form.name])
            out.notes += notes
    line = registry.default()
    out.extra["exponents"] = exponents(
        runs.kept, runs.header, runs.lad, req.x_of(line), req.y_of(line), req.d,
        compute_column(runs.header),
        lambda xs, ys: analysis.analyse(line, xs, ys, n_boot=req.bootstrap, seed=req.seed,
                                        holdout=0),
        out.fits)


def _document(req: FitRequest, runs: Runs, out: Outcome) -> dict:
    """fit.json as a dict, from the fits and the runs."""
    doc = {
        "scalecli_version": __version__,
        "source": str(req.path),
        "filter": runs.filters,
        "rows_total": len(runs.rows),
        "rows_used": len(runs.kept),
        "rows_excluded": runs.excluded,
        "fits": out.fits,
    }
    if "exponents" in out.extra:  # every scale the design supports (`exponents`)
        doc["exponents"] = out.extra["exponents"]
    if "approaches" in out.extra:
        doc["approaches"] = out.extra["approaches"]
        doc["conventions"] = out.extra["conventions"]  # {column: the table with N so}
        doc["conventions_skipped"] = out.extra["conventions_skipped"]  # {column: why}
    line = registry.default()
    if "seed" in runs.header:  # a CSV without seeds has no seed noise to report
        column = "val_loss" if "val_loss" in runs.header else req.y_of(line)
        # x of the report's seed bars: the scaling plot's axis, Kaplan's N unless --x says
        noise_x = req.x or (line.x if line.x in runs.header else req.main_x)
        doc["seed_noise"] = seeds.noise_block(runs.lad, runs.every_lr, column, noise_x)
    _validation(req, runs, out, doc)
    doc["diagnostics"] = [d.to_json() for d in [*diagnose(_evidence(req, runs, out)),
                                                *out.found]]
    return doc


def _validation(req: FitRequest, runs: Runs, out: Outcome, doc: dict) -> None:
    """The combined prediction past the ladder and the scoring of validation runs."""
    lad, every_lr = runs.lad, runs.every_lr
    at_x = req.choice == registry.ALL or any(f.ladder for f in req.law_forms())
    pred_block, val_block, missed = validation.build(
        every_lr, lad, runs.held, runs.header, out.fits, out.draws, req.bootstrap, req.seed,
        req.predict if at_x else None,
        validation.pooled_loss_sd(lad, every_lr, runs.header),
        # the power form's seed level is on log ppl, which is val_loss
        _seed_level(lad, every_lr, "val_ppl") if lad.seeded() and "val_ppl" in runs.header
        else None)
    if pred_block is not None:
        doc["prediction"] = pred_block
    if val_block is not None:
        doc["validation"] = val_block
    out.found += missed


def _evidence(req: FitRequest, runs: Runs, out: Outcome) -> Evidence:
    """What the diagnostics read (`diagnostics.Evidence`)."""
    path, predict = req.path, req.predict
    return Evidence(rows=runs.every_lr, header=runs.header, x_col=req.main_x,
                    y_col=req.y_of(registry.default()), fits=out.fits,
                    predict=None if predict is None else [float(v) for v in predict],
                    # the sweep folder's data.json; None for a CSV on its own
                    data_summary=read_json(path.parent / "data.json"),
                    searched=runs.searched,  # and every status, for what lr_edge says:
                    tried=filter_rows(runs.rows, [p for p in runs.pairs if p[0] != "status"])[0])


def _fit(req: FitRequest) -> tuple[dict, list[str]]:
    """fit.json as a dict, and notes for the summary (forms that `all` had to skip)."""
    runs = read_runs(req)
    y_default, said = per_byte.choose_y(runs.kept, runs.header, req.y)
    req = replace(req, y_default=y_default)
    out = Outcome(found=said)
    if req.approaches:
        _approaches(req, runs, out)
    _law_fits(req, runs, out)
    if req.choice == registry.ALL:
        _all_extras(req, runs, out)
    return _document(req, runs, out), out.notes


def _has_budgets(rows: list[dict[str, str]], header: list[str]) -> bool:
    """Whether any run was trained to a FLOP budget (budget_flops is blank for tokens)."""
    return "budget_flops" in header and any(
        finite(r.get("budget_flops")) is not None for r in rows)


def _seed_level(lad: seeds.Ladder, rows: list[dict[str, str]], y_col: str):
    """The power bootstrap's seed level (`seeds.seed_level`) on log y of every row."""
    values = [seeds.cell(row, y_col) for row in rows]
    log_y = np.array([math.log(v) if v > 0 else math.nan for v in values])
    return lambda n_boot, rng: seeds.seed_level(lad, log_y, n_boot, rng)


def compute_fit(csv_path: Path, **options) -> dict:
    """The fit.json dict for a CSV, without writing or printing (the report command calls
    this when fit.json is missing). `options` are `FitOptions`' fields (`form`, `x`,
    `predict`, ...); `where=None` means the default status=ok filter."""
    doc, _ = _fit(FitRequest.parse(FitOptions(Path(csv_path), **options), Path(csv_path)))
    return doc


def run_fit(options: FitOptions) -> int:
    """The `scalecli fit` command: fit, write fit.json next to the CSV, print a summary.

    Returns the exit code: 0, or 1 with --strict when a diagnostic is a warning."""
    csv_path = resolve_csv(Path(options.path))
    doc, notes = _fit(FitRequest.parse(options, csv_path))
    # through the schema: the typed contract, and a field it does not know raises
    text = schema.to_json(schema.build(doc))
    out_path = csv_path.parent / "fit.json"
    atomic_write_text(out_path, text + "\n")
    if options.as_json:
        print(text)
    else:
        print_summary(doc, notes, out_path)
    warned = any(found["severity"] == "warning" for found in doc["diagnostics"])
    return 1 if options.strict and warned else 0
