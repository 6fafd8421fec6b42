"""The fit's input: find and read the CSV, filter its rows, take a column.

Works on any CSV with two positive numeric columns, not only scalecli's results.csv. Each
problem a user can fix is one ScaleError that names the file or column and says what to do.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from scalecli.errors import ScaleError

DEFAULT_WHERE = "status=ok"


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


# rows_excluded's reason for the runs past the ladder that are scored, not fitted
VALIDATION_REASON = "validation runs (scored, not fitted)"


def split_roles(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(ladder rows, role=validation rows). A CSV without a `role` column, or a blank cell,
    is the ladder: validation runs are trained past it to check its predictions, and no
    fit may use them."""
    ladder, held = [], []
    for row in rows:
        (held if row.get("role", "").strip().lower() == "validation" else ladder).append(row)
    return ladder, held


# rows_excluded's reason for the other lrs of a size (the pick itself: `seeds.ladder`)
BEST_LR_REASON = "not the best lr of its size"


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
