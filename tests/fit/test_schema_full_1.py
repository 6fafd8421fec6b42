"""schema (document, upgrade, record): reading a UTF-8 fit.json, `approach()` on a law,
the version-0 upgrade of chinchilla's bare `optimal` rows and of a stale `schema_version`,
and the JSON Schema's empty descriptions and placeholder. Every expected value is written
out here by hand from the rules in the modules' docstrings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scalecli.fit.schema.document import FitDoc, read
from scalecli.fit.schema.record import Record, omitted, record_schema
from scalecli.fit.schema.upgrade import v0_to_v1
from tests.fit.test_upgrade import est, pred

SOURCE = "données ≥ 1e21 — é.csv"
NOTE = "loss ≥ 2.5 où N ≈ 1e9"


@dataclass
class Blob(Record):
    """Raw bytes: no JSON type (module level: record annotations resolve in module globals)."""

    data: bytes = b""


@dataclass
class Holder(Record):
    """Holds a blob."""

    blob: Blob = field(default_factory=Blob)


def test_read_decodes_utf8_text_and_round_trips_exactly(tmp_path: Path) -> None:
    """read() decodes the file as UTF-8: the non-ASCII source and filter come back unchanged,
    and the whole dict (every non-omitted field of FitDoc, written here) round-trips."""
    data: dict[str, Any] = {
        "schema_version": 1, "scalecli_version": "0.1", "source": SOURCE, "filter": [NOTE],
        "rows_total": 3, "rows_used": 2, "rows_excluded": {"é": 1}, "fits": {},
        "diagnostics": []}
    path = tmp_path / "fit.json"
    path.write_bytes(json.dumps(data, ensure_ascii=False).encode("utf-8"))
    assert "é".encode() in path.read_bytes()  # the file really holds raw UTF-8 bytes
    doc = read(path)
    assert (doc.source, doc.filter, doc.rows_excluded) == (SOURCE, [NOTE], {"é": 1})
    assert doc.to_dict() == data


def test_read_refuses_a_byte_order_mark_as_bad_json(tmp_path: Path) -> None:
    """fit.json is plain UTF-8: a file saved with a UTF-8 BOM is bad JSON (json.loads names
    the BOM at char 0), not silently read. (This venv's `typical` pulls in future-typing,
    whose codec answers any encoding name, so a wrong name is not a LookupError here.)"""
    path = tmp_path / "fit.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"schema_version": 1}).encode())
    with pytest.raises(ValueError, match=r"Unexpected UTF-8 BOM .*\(char 0\)"):
        read(path)


def test_read_names_the_file_offset_of_a_byte_that_is_not_utf8(tmp_path: Path) -> None:
    """A byte that is not UTF-8 is a UnicodeDecodeError at its offset in the whole file,
    not in its line."""
    data = b'{\n  "schema_version": 1,\n  "source": "a\xffb"\n}\n'
    path = tmp_path / "fit.json"
    path.write_bytes(data)
    with pytest.raises(UnicodeDecodeError) as error:
        read(path)
    # bytes before it, counted by hand: '{\n' 2 + '  "schema_version": 1,\n' 23
    # + '  "source": "a' 14 = 39 (its offset in line 3 would be 14)
    assert (error.value.encoding, error.value.start, error.value.reason) == (
        "utf-8", 39, "invalid start byte")


def test_approach_of_a_law_fit_is_none() -> None:
    """`approach(form)` is None for a fit that is a law (no budgets/envelope): only an
    ApproachFit is an approach; the law itself is what `law(form)` returns."""
    doc = FitDoc.from_dict({"schema_version": 1, "fits": {"power": {"form": "power"}}})
    assert doc.approach("power") is None
    assert doc.approach("missing") is None
    law = doc.law("power")
    assert law is not None and law.form == "power"


def test_chinchilla_optimal_rows_without_losses_still_become_predictions() -> None:
    """v0 chinchilla `derived` with `optimal` but no `predictions`/`compute_optimal`: one
    row per budget C with y None and N_opt, D_opt as bare Predicted values."""
    derived = {"a_opt": 0.5, "optimal": [{"C": 1e21, "N_opt": 1e9, "D_opt": 2e10},
                                          {"C": 1e22, "N_opt": 3e9, "D_opt": 6e10}]}
    out = v0_to_v1({"fits": {"chinchilla": {"derived": derived}}})
    assert out["fits"]["chinchilla"]["derived"] == {"a_opt": est(0.5), "predictions": [
        {"x": 1e21, "y": None, "n_opt": pred(1e9), "d_opt": pred(2e10)},
        {"x": 1e22, "y": None, "n_opt": pred(3e9), "d_opt": pred(6e10)}]}


def test_a_stale_schema_version_is_replaced_not_copied() -> None:
    """A v0 dict carrying schema_version 0 comes out as version 1 (the old value dropped),
    with the key still first and the other keys as they were."""
    out = v0_to_v1({"schema_version": 0, "source": "r.csv", "rows_total": 4})
    assert out == {"schema_version": 1, "source": "r.csv", "rows_total": 4}
    assert list(out) == ["schema_version", "source", "rows_total"]


def test_an_omitted_field_without_a_doc_has_no_description() -> None:
    """omitted() with no doc gives doc "": the field's schema is its type alone (the class is
    built here so the default is evaluated while the test runs)."""

    @dataclass
    class Sized(Record):
        """A size."""

        n: int | None = field(default=None, metadata=omitted())
        label: str | None = field(default=None, metadata=omitted("when named"))

    assert omitted() == {"optional": True, "doc": ""}
    schema = record_schema(Sized, {})
    assert schema["properties"] == {
        "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "label": {"description": "when named",
                  "anyOf": [{"type": "string"}, {"type": "null"}]}}
    assert schema["required"] == []


def test_a_record_without_a_docstring_has_an_empty_description() -> None:
    """A plain Record subclass (no @dataclass, so no automatic __doc__) without a docstring:
    its __doc__ is None and the schema's description is "" (no fields, none required)."""

    class Bare(Record):
        pass

    assert Bare.__doc__ is None
    assert record_schema(Bare, {}) == {"description": "", "type": "object", "properties": {},
                                       "required": [], "additionalProperties": False}


def test_the_placeholder_of_a_record_being_described_is_an_empty_schema() -> None:
    """While a held record is described its $defs entry is the empty schema {} (accepts
    anything), seen when describing it fails part-way (bytes has no JSON type) and the
    caller's defs keep what was put there."""

    defs: dict[str, Any] = {}
    with pytest.raises(KeyError):
        record_schema(Holder, defs)
    assert defs == {"Blob": {}}
