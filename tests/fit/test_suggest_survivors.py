"""suggest.ladder_rows: the header it returns is the one the rows are keyed by, for an empty
file and for a header cell that holds a line break (which `read_rows` keeps as written)."""

from __future__ import annotations

from pathlib import Path

import scalecli.fit.suggest as suggest
from scalecli.results import read_rows


def test_an_empty_file_has_no_header_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("", encoding="utf-8")
    assert suggest.ladder_rows(path) == ([], [])


def test_the_header_is_the_rows_keys_even_with_a_line_break_in_a_name(tmp_path: Path) -> None:
    # A spreadsheet writes a name with a line break in quotes, with CRLF inside it. The
    # header must be read as the csv module reads the rows (newline=""), or the ladder's
    # copy for the compute fit names a column that no row has, and writes it empty.
    path = tmp_path / "results.csv"
    path.write_bytes(b'run_id,"val\r\nloss",role\r\na,4.0,ladder\r\nb,3.0,validation\r\n')
    header, kept = suggest.ladder_rows(path)
    assert header == ["run_id", "val\r\nloss", "role"]
    assert header == list(read_rows(path)[0])
    assert kept == [{"run_id": "a", "val\r\nloss": "4.0", "role": "ladder"}]
