"""fit.rows: the CSV read, filtered and turned into numbers; each user mistake is one
ScaleError whose exact text names the file, the row or the column and what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit.rows import (
    filter_rows,
    numeric_column,
    parse_predict,
    parse_where,
    read_csv,
    resolve_csv,
    split_roles,
)


def message(call, *args) -> str:
    with pytest.raises(ScaleError) as caught:
        call(*args)
    return str(caught.value)


def test_resolve_csv_takes_a_file_or_a_folder_with_results_csv(tmp_path: Path) -> None:
    assert message(resolve_csv, tmp_path / "nope") == (
        f"{tmp_path / 'nope'} does not exist; pass a results.csv or a sweep's output folder")
    assert message(resolve_csv, tmp_path) == (
        f"{tmp_path} has no results.csv; run `scalecli sweep` first or pass a CSV file")
    (tmp_path / "results.csv").mkdir()  # a folder by that name is not the file
    assert "has no results.csv" in message(resolve_csv, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.csv").write_text("a,b\n1,2\n")
    assert resolve_csv(other) == other / "results.csv"
    assert resolve_csv(other / "results.csv") == other / "results.csv"


def test_read_csv_strips_cells_skips_blank_lines_and_reads_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("\ufeff params , val_loss\n1e6, 4.0 \n\n , \n2e6,3.5\n", encoding="utf-8")
    header, rows = read_csv(path)
    assert header == ["params", "val_loss"]
    assert rows == [{"params": "1e6", "val_loss": "4.0"}, {"params": "2e6", "val_loss": "3.5"}]


@pytest.mark.parametrize(("content", "says"), [
    (b"a,b\n1,\x002\n", "{p} is not a CSV (it holds binary data)"),
    (b"\xff\xfe\x00a", "{p} is not a CSV (not UTF-8 text)"),
    (b" \n\n", "{p} is empty; it needs a header row and data rows"),
    (b"params\n1\n", "{p} is not a CSV with columns: its header has 1 field; a fit needs at "
                     "least two comma-separated columns"),
    (b"a,b\n1,2\n3,4,5\n", "{p} is not a well-formed CSV: row 3 has 3 fields, the header "
                           "has 2"),
    (b"a,b\n1\n", "{p} is not a well-formed CSV: row 2 has 1 fields, the header has 2"),
    (b"a,b\n", "{p} has a header but no data rows"),
])
def test_a_file_that_is_not_a_csv_is_one_clear_error(tmp_path: Path, content: bytes,
                                                     says: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    assert message(read_csv, path) == says.format(p=path)


def test_an_unreadable_path_is_one_clear_error(tmp_path: Path) -> None:
    assert message(read_csv, tmp_path) == f"cannot read {tmp_path}: Is a directory"


def test_where_pairs_and_the_default_status_filter(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    header = ["status", "tokens", "model"]
    assert parse_where(None, header, path) == [("status", "ok")]
    assert parse_where(None, ["tokens", "model"], path) == []  # no status column: no filter
    assert parse_where([" tokens = 1e6 ", "model=a=b"], header, path) == [
        ("tokens", "1e6"), ("model", "a=b")]
    assert parse_where([], header, path) == []
    for bad in ("tokens", "=3", " = 3"):
        assert message(parse_where, [bad], header, path) == (
            f"--where {bad!r} is not COLUMN=VALUE, e.g. --where status=ok")
    assert message(parse_where, ["lr=1"], header, path) == (
        f"--where: {path} has no column 'lr'; columns: status, tokens, model")


def test_filter_rows_matches_strings_or_numbers_and_counts_the_rest() -> None:
    rows = [{"status": "ok", "tokens": "1000000"}, {"status": "ok", "tokens": "1e6"},
            {"status": "failed", "tokens": "1e6"}, {"status": "", "tokens": "1e6"},
            {"status": "ok", "tokens": "2e6"}, {"status": "ok", "tokens": "many"},
            {"status": "diverged", "tokens": "1e6"}, {"status": "failed", "tokens": "3"}]
    kept, excluded = filter_rows(rows, [("status", "ok"), ("tokens", "1e6")])
    assert kept == rows[:2]  # 1000000 == 1e6 as numbers
    assert excluded == {"failed": 2, "(empty)": 1, "tokens!=1e6": 2, "diverged": 1}
    assert filter_rows(rows, []) == (rows, {})
    # a string that is no number matches itself only
    assert filter_rows(rows, [("tokens", "many")]) == ([rows[5]], {"tokens!=many": 7})


def test_split_roles_holds_out_validation_rows_only() -> None:
    rows = [{"run_id": "a", "role": "ladder"}, {"run_id": "b", "role": " Validation "},
            {"run_id": "c", "role": ""}, {"run_id": "d"}, {"run_id": "e", "role": "other"}]
    ladder, held = split_roles(rows)
    assert [r["run_id"] for r in ladder] == ["a", "c", "d", "e"]
    assert [r["run_id"] for r in held] == ["b"]


def test_numeric_column_and_what_it_refuses(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    header = ["params", "val_loss"]
    rows = [{"params": "1e6", "val_loss": "4"}, {"params": " 2e6", "val_loss": "-0.5"}]
    got = numeric_column(rows, "params", header, path)
    assert got.dtype == np.float64 and got.tolist() == [1e6, 2e6]
    assert numeric_column(rows, "val_loss", header, path, log_axis=False).tolist() == [4, -0.5]
    assert message(numeric_column, rows, "val_loss", header, path) == (
        f"column 'val_loss' in {path} holds '-0.5' in row 2 of the fitted rows; values on a "
        "log axis must be > 0")
    zero = [{"params": "0", "val_loss": "1"}]
    assert "holds '0' in row 1" in message(numeric_column, zero, "params", header, path)
    assert message(numeric_column, rows, "tokens", header, path) == (
        f"{path} has no column 'tokens'; choose one with --x/--y/--d from: params, val_loss")
    text = [rows[0], {"params": "big", "val_loss": "1"}]
    assert message(numeric_column, text, "params", header, path) == (
        f"column 'params' in {path} is not numeric: row 2 of the fitted rows holds 'big'; "
        "fix the value or filter the row out with --where")
    nan = [{"params": "nan", "val_loss": "1"}]
    assert message(numeric_column, nan, "params", header, path) == (
        f"column 'params' in {path} holds 'nan' (NaN or inf) in row 1 of the fitted rows; "
        "remove that row or filter it out with --where")
    assert "holds 'inf' (NaN or inf)" in message(
        numeric_column, [{"params": "inf"}], "params", header, path)
    assert "(NaN or inf)" in message(numeric_column, [{"params": "nan"}], "params", header,
                                     path, False)


def test_parse_predict() -> None:
    assert parse_predict(None) is None and parse_predict("") is None
    assert parse_predict("1e8, 1e9").tolist() == [1e8, 1e9]
    assert parse_predict("0.5").tolist() == [0.5]
    assert message(parse_predict, "1e8,lots") == (
        "--predict: 'lots' is not a number; e.g. 1e8,1e9")
    assert message(parse_predict, "1e8, -3") == "--predict: '-3' must be a positive number"
    assert message(parse_predict, "0") == "--predict: '0' must be a positive number"
    assert message(parse_predict, "inf") == "--predict: 'inf' must be a positive number"


def test_a_cell_past_the_csv_modules_field_limit_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1," + "9" * 140_000 + "\n", encoding="utf-8")
    assert message(read_csv, path) == (
        f"{path} is not a valid CSV: field larger than field limit (131072)")
