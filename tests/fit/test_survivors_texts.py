"""Texts that older tests let change: far_extrapolation's axis for a law in N and D, how a
fit.json record loads a field whose type lists null first, and the alignment of the
approaches table's "N counted as" column."""

from __future__ import annotations

import dataclasses

import pytest
from rich.console import Console

from scalecli.fit import diagnostics as dg
from scalecli.fit import summary
from scalecli.fit.schema.record import Record, SchemaError
from tests.fit.test_diagnostics import evidence, ladder


def test_far_extrapolation_of_a_law_in_n_and_d_names_c_as_6nd() -> None:
    # chinchilla's --predict values are FLOPs: the largest fitted C is 6 N D of the ladder's
    # largest run, s5 (params 823e3 total, 2e6 tokens): 6 * 823e3 * 2e6 = 9.876e12
    fits = {"chinchilla": {"x": "params", "d": "tokens"}}
    (found,) = dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[1e12, 2e14]))
    assert (found.code, found.severity, found.message) == (
        "far_extrapolation", "warning", "--predict 2e+14 reaches 20x the largest C = 6ND "
        "fitted (9.876e+12); nothing checks a law beyond 10x, so treat it as a guess and "
        "add larger sizes.")
    assert dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[9.876e13])) == []


@dataclasses.dataclass
class _NullFirst(Record):
    """A record whose field type names null before the number. fit.json's own records put
    None last (ruff's RUF036), but the loader is generic: where null sits in the union
    must not decide whether a number loads."""

    value: None | float = None  # noqa: RUF036


def test_a_field_typed_null_first_loads_its_value_or_says_what_it_expected() -> None:
    assert _NullFirst.from_dict({"value": 1.5}).value == 1.5
    assert _NullFirst.from_dict({"value": None}).value is None
    with pytest.raises(SchemaError) as caught:
        _NullFirst.from_dict({"value": "1.5"})
    assert str(caught.value) == "fit.json.value: expected a number, got '1.5'"


def _est(value: float) -> dict:
    return {"value": value, "se": None, "ci_low": None, "ci_high": None}


def test_the_n_counted_as_column_is_left_aligned() -> None:
    rows = [{"approach": "1: envelope", "form": "envelope", "a_opt": _est(0.5),
             "b_opt": _est(0.5), "tokens_per_param": None, "predictions": []}]
    con = Console(record=True, width=400, force_terminal=True, color_system="truecolor")
    summary.print_approaches(con, rows, {"params": rows, "params_non_embedding": rows})
    text = [line.rstrip() for line in con.export_text().splitlines()]
    # the column is as wide as its longest name, 36 characters; the shorter ones and the
    # header start at its left edge, as the approach column's do
    assert text[2].startswith("┃ N counted as" + " " * 24 + " ┃ approach    ┃")
    assert text[4].startswith("│ total (params)" + " " * 22 + " │ 1: envelope │")
    assert text[5].startswith("│ non-embedding (params_non_embedding) │ 1: envelope │")
