"""`scalecli fit`: read a results CSV, filter and validate it, fit, write fit.json, summarise.

The maths lives in `scalecli.fit`; this module owns the file, the user's columns and the
words. Every problem a user can fix is raised as one-line `ScaleError` that names the file
or column and says what to do. Works on any CSV with two positive numeric columns, not
only scalecli's results.csv.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalecli import __version__
from scalecli.errors import ScaleError
from scalecli.results import atomic_write_text

FORMS = ("power", "saturating", "chinchilla")
DEFAULT_WHERE = "status=ok"

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
    x: str = "params_non_embedding"
    y: str | None = None
    d: str = "tokens"
    where: list[str] | None = None
    """COLUMN=VALUE filters; None means the default status=ok (dropped if no status column)."""
    bootstrap: int = 1000
    seed: int = 0
    predict: str | None = None
    holdout: int = 1
    all_lrs: bool = False
    """Fit every learning rate's run, not only the best one per size."""
    as_json: bool = False


# ------------------------------------------------------------------------------- input


def resolve_csv(path: Path) -> Path:
    """A CSV path, or an output folder that holds results.csv."""
    if not path.exists():
        raise ScaleError(f"{path} does not exist; pass a results.csv or a sweep's output folder")
    if path.is_dir():
        csv_path = path / "results.csv"
        if not csv_path.is_file():
            raise ScaleError(
                f"{path} has no results.csv; run `scalecli sweep` first or pass a CSV file"
            )
        return csv_path
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows as strings; a binary, ragged or empty file is a clear error."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ScaleError(f"{path} is not a CSV (not UTF-8 text)") from None
    except OSError as error:
        raise ScaleError(f"cannot read {path}: {error.strerror or error}") from None
    if "\x00" in text:
        raise ScaleError(f"{path} is not a CSV (it holds binary data)")
    if not text.strip():
        raise ScaleError(f"{path} is empty; it needs a header row and data rows")
    try:
        table = list(csv.reader(text.splitlines()))
    except csv.Error as error:
        raise ScaleError(f"{path} is not a valid CSV: {error}") from None
    table = [row for row in table if any(cell.strip() for cell in row)]
    header = [name.strip() for name in table[0]]
    if len(header) < 2:
        raise ScaleError(
            f"{path} is not a CSV with columns: its header has {len(header)} field; "
            "a fit needs at least two comma-separated columns"
        )
    rows = []
    for line_no, row in enumerate(table[1:], start=2):
        if len(row) != len(header):
            raise ScaleError(
                f"{path} is not a well-formed CSV: row {line_no} has {len(row)} fields, "
                f"the header has {len(header)}"
            )
        rows.append(dict(zip(header, (cell.strip() for cell in row), strict=True)))
    if not rows:
        raise ScaleError(f"{path} has a header but no data rows")
    return header, rows


def parse_where(where: list[str] | None, header: list[str], path: Path) -> list[tuple[str, str]]:
    """COLUMN=VALUE pairs. The default status=ok silently goes if there is no status column;
    an explicit filter on a missing column is an error."""
    if where is None:
        return [("status", "ok")] if "status" in header else []
    pairs = []
    for item in where:
        column, sep, value = item.partition("=")
        column, value = column.strip(), value.strip()
        if not sep or not column:
            raise ScaleError(f"--where {item!r} is not COLUMN=VALUE, e.g. --where status=ok")
        if column not in header:
            raise ScaleError(
                f"--where: {path} has no column {column!r}; columns: {', '.join(header)}"
            )
        pairs.append((column, value))
    return pairs


def _matches(cell: str, value: str) -> bool:
    """String equality, or numeric equality so that tokens=1e6 matches 1000000."""
    if cell == value:
        return True
    try:
        return float(cell) == float(value)
    except ValueError:
        return False


def filter_rows(
    rows: list[dict[str, str]], pairs: list[tuple[str, str]]
) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Rows that pass every filter, and why the others were left out.

    A row whose status is not ok is counted under its status ("failed", "diverged"); a row
    dropped by another filter is counted under "COLUMN!=VALUE".
    """
    kept, excluded = [], {}
    for row in rows:
        for column, value in pairs:
            if not _matches(row[column], value):
                reason = (row[column] or "(empty)") if column == "status" else f"{column}!={value}"
                excluded[reason] = excluded.get(reason, 0) + 1
                break
        else:
            kept.append(row)
    return kept, excluded


BEST_LR_REASON = "not the best lr of its size"


def best_lr_rows(rows: list[dict[str, str]], header: list[str], x_col: str, d_col: str
                 ) -> list[dict[str, str]]:
    """Per size, budget and seed, the run whose learning rate gave the lowest val_loss.

    With an lr grid a sweep holds several runs per size. A law drawn through all of them
    mixes well- and badly-tuned runs and bends the exponent; Kaplan et al. (2020) and
    Hoffmann et al. (2022) fit the best lr per size. Rows pass unchanged when the CSV has
    no lr or val_loss column, or when no size has two learning rates.
    """
    if "lr" not in header or "val_loss" not in header:
        return rows
    key_cols = [c for c in dict.fromkeys(
        ("model", "n_layer", "n_embd", "n_head", x_col, d_col, "seed", "data_fingerprint"))
        if c in header]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row[c] for c in key_cols), []).append(i)

    def loss(i: int) -> float:
        try:
            value = float(rows[i]["val_loss"])
        except ValueError:
            return math.inf
        return value if math.isfinite(value) else math.inf

    keep = set()
    for members in groups.values():
        if len({rows[i]["lr"] for i in members}) < 2:
            keep.update(members)
        else:
            keep.add(min(members, key=loss))
    return [row for i, row in enumerate(rows) if i in keep]


def numeric_column(
    rows: list[dict[str, str]], column: str, header: list[str], path: Path, log_axis: bool = True
) -> np.ndarray:
    """One column as floats; missing, non-numeric, non-finite or non-positive is an error."""
    if column not in header:
        raise ScaleError(
            f"{path} has no column {column!r}; choose one with --x/--y/--d from: "
            f"{', '.join(header)}"
        )
    values = []
    for i, row in enumerate(rows, start=1):
        cell = row[column]
        try:
            value = float(cell)
        except ValueError:
            raise ScaleError(
                f"column {column!r} in {path} is not numeric: row {i} of the fitted rows "
                f"holds {cell!r}; fix the value or filter the row out with --where"
            ) from None
        if not math.isfinite(value):
            raise ScaleError(
                f"column {column!r} in {path} holds {cell!r} (NaN or inf) in row {i} of the "
                "fitted rows; remove that row or filter it out with --where"
            )
        if log_axis and value <= 0:
            raise ScaleError(
                f"column {column!r} in {path} holds {cell!r} in row {i} of the fitted rows; "
                "values on a log axis must be > 0"
            )
        values.append(value)
    return np.array(values, dtype=float)


def parse_predict(text: str | None) -> np.ndarray | None:
    """'1e8,1e9' -> array; each value must be a positive number."""
    if not text:
        return None
    values = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise ScaleError(f"--predict: {item.strip()!r} is not a number; e.g. 1e8,1e9") from None
        if not math.isfinite(value) or value <= 0:
            raise ScaleError(f"--predict: {item.strip()!r} must be a positive number")
        values.append(value)
    return np.array(values)


def default_y(form: str) -> str:
    """Perplexity is the brief's power law; the loss forms need an additive floor in nats."""
    return "val_ppl" if form == "power" else "val_loss"


def ten_x_text(x_col: str, y_col: str, factor: float) -> str:
    """'10x params -> 20.6% lower perplexity': what an order of magnitude in x buys."""
    x_name = QUANTITY_NAMES.get(x_col, x_col)
    y_name = QUANTITY_NAMES.get(y_col, y_col)
    change = 100.0 * (factor - 1.0)
    direction = "lower" if change < 0 else "higher"
    return f"10x {x_name} -> {abs(change):.1f}% {direction} {y_name}"


# ------------------------------------------------------------------------------ fitting


def _form_data(form, rows, header, path, x_col, y_col, d_col):
    """The validated arrays for one form, or a ScaleError that says what is wrong."""
    from scalecli import fit as fitmath
    from scalecli.laws import N_PARAMS

    x = numeric_column(rows, x_col, header, path)
    y = numeric_column(rows, y_col, header, path)
    d = numeric_column(rows, d_col, header, path) if form == "chinchilla" else None
    need = fitmath.min_points(form)
    if x.size < need:
        raise ScaleError(
            f"{x.size} rows of {path} are left to fit; the {form} form has "
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


def _compute(
    csv_path: Path,
    form: str,
    x: str,
    y: str | None,
    d: str,
    where: list[str] | None,
    bootstrap: int,
    seed: int,
    predict: np.ndarray | None,
    holdout: int,
    all_lrs: bool = False,
) -> tuple[dict, list[str]]:
    """fit.json as a dict, and notes for the summary (forms that `all` had to skip)."""
    from scalecli import fit as fitmath

    if form not in (*FORMS, "all"):
        raise ScaleError(f"--form {form!r} is unknown; use power, saturating, chinchilla or all")
    if bootstrap < 0 or holdout < 0:
        raise ScaleError("--bootstrap and --holdout must be >= 0")
    header, rows = read_csv(csv_path)
    pairs = parse_where(where, header, csv_path)
    kept, excluded = filter_rows(rows, pairs)
    if not all_lrs:
        best = best_lr_rows(kept, header, x, d)
        if len(best) < len(kept):
            excluded[BEST_LR_REASON] = len(kept) - len(best)
            kept = best
    filters = [f"{c}={v}" for c, v in pairs]
    if not kept:
        detail = ", ".join(f"{n} {k}" for k, n in excluded.items())
        raise ScaleError(
            f"no row of {csv_path} is left after --where {' '.join(filters)} "
            f"({len(rows)} rows: {detail}); change or drop the filter"
        )
    fits, notes = {}, []
    forms = FORMS if form == "all" else (form,)
    first_error = None
    for name in forms:
        y_col = y or default_y(name)
        try:
            x_arr, y_arr, d_arr = _form_data(name, kept, header, csv_path, x, y_col, d)
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
        )
        if name == "power" and result["converged"]:
            result["derived"]["ten_x_text"] = ten_x_text(
                x, y_col, result["derived"]["ten_x_factor"]
            )
        fits[name] = {
            "form": name,
            "x": x,
            "y": y_col,
            "d": d if name == "chinchilla" else None,
            **{k: v for k, v in result.items() if k != "form"},
        }
    if not fits:
        raise first_error
    doc = {
        "scalecli_version": __version__,
        "source": str(csv_path),
        "filter": filters,
        "rows_total": len(rows),
        "rows_used": len(kept),
        "rows_excluded": excluded,
        "fits": fits,
    }
    return doc, notes


def compute_fit(
    csv_path: Path,
    form: str = "power",
    x: str = "params_non_embedding",
    y: str | None = None,
    d: str = "tokens",
    where: list[str] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    predict: list[float] | str | None = None,
    holdout: int = 1,
    all_lrs: bool = False,
) -> dict:
    """The fit.json dict for a CSV, without writing or printing (the report command calls
    this when fit.json is missing). `where=None` means the default status=ok filter."""
    values = (
        parse_predict(predict)
        if isinstance(predict, str)
        else (None if predict is None else np.asarray(predict, dtype=float))
    )
    doc, _ = _compute(Path(csv_path), form, x, y, d, where, bootstrap, seed, values, holdout,
                      all_lrs)
    return doc


def run_fit(options: FitOptions) -> None:
    """The `scalecli fit` command: fit, write fit.json next to the CSV, print a summary."""
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
    )
    text = json.dumps(doc, indent=2, allow_nan=False)
    out_path = csv_path.parent / "fit.json"
    atomic_write_text(out_path, text + "\n")
    if options.as_json:
        print(text)
        return
    print_summary(doc, notes, out_path)


# ------------------------------------------------------------------------------ summary


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def interval_text(lo: float | None, hi: float | None, fmt: Callable[[float], str]) -> str:
    """'[lo, hi]'; '-' when there is no interval. One null end is a profile interval that
    the data do not bound on that side, shown as -inf or inf."""
    if lo is None and hi is None:
        return "-"
    return f"[{'-inf' if lo is None else fmt(lo)}, {'inf' if hi is None else fmt(hi)}]"


def print_summary(doc: dict, notes: list[str], out_path: Path) -> None:
    """One table of parameters per form, then fit quality, extrapolation and derived lines."""
    from rich.table import Table

    from scalecli.console import output_console

    console = output_console()
    excluded = ", ".join(f"{n} {k}" for k, n in doc["rows_excluded"].items())
    console.print(
        f"[bold]{doc['source']}[/]: {doc['rows_used']} of {doc['rows_total']} rows used"
        + (f" (left out: {excluded})" if excluded else "")
        + (f"; filter {' '.join(doc['filter'])}" if doc["filter"] else "")
    )
    for name, fit in doc["fits"].items():
        boot = fit["bootstrap"]
        title = f"{name}: {fit['y']} vs {fit['x']}" + (f", {fit['d']}" if fit["d"] else "")
        if not fit["converged"]:
            console.print(f"[bold red]{title}: did not converge[/] ({fit['message']})")
            continue
        table = Table(title=title, title_justify="left")
        for column in ("param", "value", "se", "95% CI"):
            table.add_column(column, justify="left" if column == "param" else "right")
        for param, p in fit["params"].items():
            ci = interval_text(p["ci_low"], p["ci_high"], _fmt)
            table.add_row(param, _fmt(p["value"]), _fmt(p["se"]), ci)
        console.print(table)
        console.print(
            f"  R^2 (log) {fit['r2_log']:.4f}, RMSE (log) {fit['rmse_log']:.4f}, "
            f"{fit['n_points']} points; bootstrap {boot['n_ok']}/{boot['n']} refits ok"
            f" (seed {boot['seed']})"
        )
        derived = fit["derived"]
        if "ten_x_text" in derived:
            console.print(
                f"  [bold]{derived['ten_x_text']}[/] (10^b = {derived['ten_x_factor']:.4f})"
            )
        if name == "chinchilla":
            console.print(
                f"  compute-optimal: N_opt ~ C^{derived['a_opt']:.3f}, "
                f"D_opt ~ C^{derived['b_opt']:.3f}, G = {_fmt(derived['G'])}"
            )
            for row in derived["optimal"]:
                console.print(
                    f"    C = {row['C']:.3g} FLOPs: N_opt = {row['N_opt']:.3g}, "
                    f"D_opt = {row['D_opt']:.3g}"
                )
        for pred in derived.get("predictions", []):
            ci = (
                ""
                if pred["ci_low"] is None
                else (f" [{_fmt(pred['ci_low'])}, {_fmt(pred['ci_high'])}]")
            )
            at = "C" if name == "chinchilla" else fit["x"]
            console.print(
                f"  predicted {fit['y']} at {at} = {pred['x']:.3g}: {_fmt(pred['y'])}{ci}"
            )
        console.print(f"  extrapolation: {fit['extrapolation_note']}")
        check = fit["extrapolation"]
        if check:
            for xv, pv, ov, ev in zip(
                check["x"], check["predicted"], check["observed"], check["rel_error"], strict=True
            ):
                console.print(
                    f"    x = {xv:.4g}: predicted {_fmt(pv)}, observed {_fmt(ov)} "
                    f"({100 * ev:+.2f}%)"
                )
        if fit.get("caveat"):
            console.print(f"  [yellow]caution:[/] {fit['caveat']}")
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"wrote {out_path}")
