"""The report's data model: results.csv, fit.json, sweep.yaml, data.json and the runs'
curve.csv files, read once into a `ReportData`; and the fitted law evaluated from fit.json.

Anything missing that is not fatal leaves a note that says why; only a missing folder, a
missing results.csv or a CSV without the needed columns raises.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from scalecli import __version__
from scalecli.errors import ScaleError
from scalecli.fit.forms import registry
from scalecli.fit.schema import FitDoc, LawFit, SchemaError, parse, version_problem
from scalecli.results import ROLES, read_json

# The columns a report cannot do without; everything else in results.COLUMNS is optional.
REQUIRED = ("model", "params_non_embedding", "val_loss", "status")
NUMERIC = (
    "n_layer", "n_embd", "n_head", "n_ctx", "vocab_size", "params", "params_non_embedding",
    "tokens", "flops_per_token", "flops", "flops_6nd", "lr", "batch_tokens", "steps", "seed",
    "train_loss", "val_loss", "val_ppl", "val_bpb", "tokens_per_s", "mfu", "non_compute_frac",
    "wall_s",
)
# results.csv's `role` (`results.ROLES`): a validation run is trained past the ladder to check
# the fit's prediction; no fit uses it. A CSV without the column, or a blank cell, is ladder.
LADDER, VALIDATION = ROLES


@dataclass
class ReportData:
    """Everything a report shows, read once from the output folder."""

    out_dir: Path
    rows: pd.DataFrame  # results.csv, numeric columns as floats
    sweep: dict | None
    data: dict | None
    fit: FitDoc | None
    command: str
    version: str = __version__
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # run_id -> curve.csv
    samples: list = field(default_factory=list)  # samples.Sample
    prompt: str | None = None
    figures: list = field(default_factory=list)  # plots.Figure
    notes: list[str] = field(default_factory=list)  # what was left out, and why
    created: str = ""
    fit_warning: str | None = None  # one line for the terminal: a stale or a made fit.json

    @property
    def ok(self) -> pd.DataFrame:
        """Every finished run, validation runs included (the runs table, curves, samples)."""
        return self.rows[self.rows["status"] == "ok"]

    @property
    def ladder(self) -> pd.DataFrame:
        """The finished ladder runs: what the fit could use and what figures draw as points."""
        ok = self.ok
        return ok[ok["role"] != VALIDATION]

    @property
    def validation(self) -> pd.DataFrame:
        """The finished validation runs: trained past the ladder, scored, never fitted."""
        ok = self.ok
        return ok[ok["role"] == VALIDATION]

    @property
    def fingerprint(self) -> str:
        if self.data and self.data.get("fingerprint"):
            return str(self.data["fingerprint"])
        values = self.rows.get("data_fingerprint", pd.Series(dtype=str)).dropna().unique()
        return ", ".join(str(v) for v in values) or "unknown"

    def primary_fit(self) -> LawFit | None:
        """The fit that figure (a) and the residuals show: the first ladder form fitted
        (power, else saturating)."""
        for form in registry.ladder_forms():
            fit = self.fit.law(form.name) if self.fit else None
            if fit is not None and fit.params:
                return fit
        return None


# Writes fit.json beside a results.csv with the default fit (`scalecli fit PATH`): the CLI
# passes it in, so that the report stage never imports the fitting code.
MakeFit = Callable[[Path], None]


def load(out_dir: Path, command: str, make_fit: MakeFit | None = None) -> ReportData:
    out_dir = Path(out_dir)
    if out_dir.is_file() and out_dir.name == "results.csv":
        out_dir = out_dir.parent
    if not out_dir.is_dir():
        raise ScaleError(f"no folder {out_dir}; pass a sweep's output folder, e.g. out/default")
    csv_path = out_dir / "results.csv"
    if not csv_path.is_file():
        raise ScaleError(f"no results.csv in {out_dir}; run `scalecli sweep` first, "
                         "or pass the folder that holds results.csv")
    rows = read_results(csv_path)
    report = ReportData(
        out_dir=out_dir,
        rows=rows,
        sweep=read_yaml(out_dir / "sweep.yaml"),
        data=read_json(out_dir / "data.json"),
        fit=None,
        command=command,
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )
    report.fit, report.fit_warning = load_fit(out_dir, csv_path, report.notes, make_fit)
    report.notes.extend(prediction_notes(report.fit, len(report.validation)))
    report.curves = read_curves(out_dir, report.ok, report.notes)
    return report


def read_results(csv_path: Path) -> pd.DataFrame:
    try:
        rows = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ScaleError(f"{csv_path} is not a readable CSV ({error}); "
                         "rerun `scalecli sweep` to rewrite it") from None
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise ScaleError(f"{csv_path} lacks the column(s) {', '.join(missing)}; "
                         "it must be a results.csv written by `scalecli sweep`")
    if rows.empty:
        raise ScaleError(f"{csv_path} has no runs yet; run `scalecli sweep` first")
    for column in NUMERIC:
        if column in rows.columns:
            rows[column] = pd.to_numeric(rows[column].replace("", None), errors="coerce")
    if "val_ppl" not in rows.columns or rows["val_ppl"].isna().all():
        rows["val_ppl"] = rows["val_loss"].map(lambda v: math.exp(min(v, 700.0)) if v == v else v)
    if "run_id" not in rows.columns:
        rows["run_id"] = [f"row{i}" for i in range(len(rows))]
    rows["status"] = rows["status"].str.strip().str.lower()
    role = rows["role"] if "role" in rows.columns else pd.Series("", index=rows.index)
    rows["role"] = role.astype(str).str.strip().str.lower().replace("", LADDER)
    return rows.reset_index(drop=True)


def read_yaml(path: Path) -> dict | None:
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return value if isinstance(value, dict) else None



def load_fit(out_dir: Path, csv_path: Path, notes: list[str],
             make_fit: MakeFit | None = None) -> tuple[FitDoc | None, str | None]:
    """(fit.json through the schema, a line for the terminal or None).

    A fit.json of another schema version (or none: written before the schema), or one that
    does not match it, stops the report with one line that says how to refit: a report of
    numbers it cannot read for sure would be worse than none, and refitting in its place
    would overwrite a fit made with options (--form, --bootstrap, --x) that the file does
    not record. A fit.json older than results.csv is used with a note and a warning line:
    runs finished after the fit, so its numbers may describe fewer runs than the tables
    beside them. A missing fit.json is made with the default fit by `make_fit` (said in
    both places), else the report has no fit and a note says how to make one."""
    path = out_dir / "fit.json"
    refit = f"refit with `scalecli fit {out_dir} ...` (the options you fitted with)"
    if not path.is_file():
        if make_fit is None:
            notes.append(f"No fit: no fit.json in {out_dir}; run `scalecli fit {out_dir}`.")
            return None, None
        try:
            make_fit(csv_path)
        except ScaleError as error:
            notes.append(f"No fit: {error}")
            return None, f"no fit.json, and the default fit failed: {error}"
        line = (f"fit.json was missing, so the default fit ran first (`scalecli fit "
                f"{out_dir}` with no options) and wrote it.")
        notes.append(line)
        return load_fit(out_dir, csv_path, [], None)[0], line
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ScaleError(f"{path} is not readable JSON ({error}); {refit}") from None
    problem = version_problem(data)
    if problem:
        raise ScaleError(f"{path} is not this scalecli's fit.json: {problem}; {refit}")
    try:
        fit = parse(data)
    except SchemaError as error:
        raise ScaleError(f"{path} does not match fit.json's schema ({error}); {refit}") \
            from None
    line = None
    if csv_path.is_file() and csv_path.stat().st_mtime > path.stat().st_mtime:
        line = (f"fit.json is older than results.csv: runs finished after the fit, so its "
                f"numbers may leave some out; rerun `scalecli fit {out_dir}`.")
        notes.append(line)
    return fit, line


def prediction_notes(fit: FitDoc | None, n_validation: int) -> list[str]:
    """Why the prediction check is missing or stale: a fit without the blocks, or
    validation runs that finished after the fit."""
    if not fit or not fit.fits:
        return []
    notes = []
    if fit.prediction is None and fit.validation is None:
        notes.append("fit.json has no prediction block (neither power nor saturating "
                     "converged along N, or the file predates it: rerun `scalecli fit`), so "
                     "the report has no prediction check.")
    scored = len(fit.validation.runs) if fit.validation else 0
    if n_validation > scored:
        notes.append(f"results.csv has {n_validation} finished validation run(s) and fit.json "
                     f"scores {scored}: rerun `scalecli fit` to check the prediction against "
                     "them.")
    return notes


def read_curves(out_dir: Path, ok: pd.DataFrame, notes: list[str]) -> dict[str, pd.DataFrame]:
    curves = {}
    for run_id in ok["run_id"]:
        path = out_dir / "runs" / str(run_id) / "curve.csv"
        if not path.is_file():
            continue
        try:
            curve = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue
        if {"tokens", "train_loss"} <= set(curve.columns) and len(curve):
            curves[str(run_id)] = curve.apply(pd.to_numeric, errors="coerce")
    if not (out_dir / "runs").is_dir():
        notes.append("No runs/ folder next to results.csv, so there are no loss curves "
                     "and no samples: they need each run's curve.csv and saved weights.")
    elif not curves:
        notes.append("No run folder holds a curve.csv, so there are no loss curves.")
    return curves


def one_run_per_size(ok: pd.DataFrame) -> pd.DataFrame:
    """The run that stands for each size: the largest budget, then the first seed."""
    if ok.empty:
        return ok
    key = ok.assign(_t=ok.get("tokens", 0), _s=ok.get("seed", 0))
    key = key.sort_values(["_t", "_s"], ascending=[False, True], na_position="last")
    picked = key.drop_duplicates("model").drop(columns=["_t", "_s"])
    return picked.sort_values("params_non_embedding", na_position="last")


def clean(value: Any) -> Any:
    """NaN -> None, numpy scalars -> Python, for printing."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def predict(fit: LawFit, x, d=None) -> np.ndarray:
    """The fitted law at x (and D where the form reads it), from fit.json's parameter
    values alone."""
    form = registry.find(fit.form)
    if form is None:
        raise ValueError(f"unknown fit form {fit.form!r}")
    return form.draw(fit, x, d)  # the form's own curve (`fit.forms`)


@dataclass(frozen=True)
class SeedBar:
    """One fitted point with seeds: the mean the law was fitted to, and mean -+ one seed sd."""

    x: float
    y: float
    low: float
    high: float
    n_seeds: int


def seed_bars(fit_json: FitDoc | None, y_col: str) -> list[SeedBar]:
    """Error bars for the points of fit.json's `seed_noise` that have >= 2 seeds, in y_col.

    seed_noise holds each point's mean and sd of val_loss. The fit's point for perplexity
    is exp(mean val_loss), so its bar is exp(mean -+ sd): symmetric on the log axis the
    scaling plot uses. A y the block does not describe (say val_bpb) gets no bars.
    """
    noise = fit_json.seed_noise if fit_json else None
    column = noise.column if noise else None
    if noise is None or y_col not in (column, "val_ppl" if column == "val_loss" else None):
        return []
    bars = []
    for p in noise.points:
        mean, sd, x = p.mean, p.sd, p.x
        if p.n_seeds < 2 or mean is None or sd is None or x is None:
            continue
        if y_col == column:
            bars.append(SeedBar(x, mean, mean - sd, mean + sd, p.n_seeds))
        else:  # perplexity from the loss
            bars.append(SeedBar(x, math.exp(mean), math.exp(mean - sd), math.exp(mean + sd),
                                p.n_seeds))
    return bars


def fit_rows(rows: pd.DataFrame, fit_json: FitDoc | None) -> pd.DataFrame:
    """The rows that the fit used, by fit.json's COLUMN=VALUE filter (default status=ok);
    never a validation run, which `fit` scores and does not fit."""
    filters = (fit_json.filter if fit_json else None) or ["status=ok"]
    keep = pd.Series(True, index=rows.index)
    if "role" in rows.columns:
        keep &= rows["role"] != VALIDATION
    for item in filters:
        column, _, value = str(item).partition("=")
        if column not in rows.columns:
            continue
        values = rows[column]
        if pd.api.types.is_numeric_dtype(values):
            try:
                keep &= np.isclose(values, float(value))
            except ValueError:
                keep &= False
        else:
            keep &= values.astype(str).str.strip() == value.strip()
    return rows[keep]
