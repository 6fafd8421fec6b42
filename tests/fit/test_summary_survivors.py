"""The summary's first line when no row was left out, and the words fit.json's reader
gives for a file that is not a JSON object: whole texts, as a user reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from scalecli.fit import summary
from scalecli.fit.schema import SchemaError, read, version_problem


def test_the_first_line_names_no_left_out_rows_when_none_was(monkeypatch) -> None:
    import scalecli.console

    con = Console(record=True, width=200, force_terminal=True, color_system="truecolor")
    monkeypatch.setattr(scalecli.console, "output_console", lambda: con)
    doc = {"source": "r.csv", "rows_used": 4, "rows_total": 4, "rows_excluded": {},
           "filter": [], "fits": {}, "diagnostics": []}
    summary.print_summary(doc, [], Path("out/fit.json"))
    text = [line.rstrip() for line in con.export_text().splitlines()]
    assert text[0] == "r.csv: 4 of 4 rows used"
    assert text[-1] == "wrote out/fit.json"


@pytest.mark.parametrize("data", [[], "1", None, 2.5])
def test_a_fit_json_that_is_not_an_object_is_told_so(tmp_path: Path, data) -> None:
    assert version_problem(data) == "it is not a JSON object"
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SchemaError) as error:
        read(path)
    assert str(error.value) == "it is not a JSON object"
