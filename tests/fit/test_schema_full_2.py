"""schema (record, upgrade): a record's string annotations resolve with its own class body
first, as Python scopes a class body (a nested record shadows a module-level one of the same
name); a union with a single record type loads a dict by trying each option in turn (no
`accepts` gate); a type the loader has no rule for is named in the error; and the version-0
upgrade copies every key after a stale `schema_version`. Expected values are written out here
by hand from the rules in the modules' docstrings and code."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from scalecli.fit.schema.record import Record, SchemaError
from scalecli.fit.schema.upgrade import v0_to_v1
from tests.fit.test_record import Named
from tests.fit.test_schema_full_1 import Holder
from tests.fit.test_upgrade import pred


@dataclass
class Inner(Record):
    """Module-level record that a nested `Inner` of the same name shadows."""

    v: int = 0


def test_a_nested_record_shadows_a_module_level_one_of_the_same_name() -> None:
    """`inner: Inner | None` inside Outer names Outer's own nested Inner (class body first,
    then module globals): {"w": 2} loads as that Inner(w=2), not the module's Inner (which
    has no field w). Outer is built here so its hints are resolved while the test runs."""

    @dataclass
    class Outer(Record):
        @dataclass
        class Inner(Record):
            w: int = 0

        inner: Inner | None = None

    out = Outer.from_dict({"inner": {"w": 2}})
    assert type(out.inner) is Outer.Inner
    assert out.inner == Outer.Inner(w=2)
    assert out.to_dict() == {"inner": {"w": 2}}


def test_a_single_record_in_a_union_falls_back_to_the_other_options() -> None:
    """`Named | dict[str, int]`: a dict Named does not accept ({"k": 1} has no `name`) is
    still tried as Named, fails, and then loads as the dict {"k": 1}: with one record type
    there is no `accepts` gate (that is only for choosing among several records)."""

    @dataclass
    class Either(Record):
        v: Named | dict[str, int] = field(default_factory=Named)

    assert Either.from_dict({"v": {"k": 1}}).v == {"k": 1}
    assert Either.from_dict({"v": {"name": "a"}}).v == Named(name="a")


def test_a_single_record_in_a_union_reports_its_own_error() -> None:
    """`Named | None` with {"x": 1}: the only option, Named, is loaded and its error (the
    unknown field, with the path) is the error, not "matches none of ['Named']"."""

    @dataclass
    class Maybe(Record):
        v: Named | None = None

    with pytest.raises(SchemaError) as caught:
        Maybe.from_dict({"v": {"x": 1}}, "doc")
    assert str(caught.value) == "doc.v: unknown field(s) x in Named"


def test_a_type_with_no_rule_is_named_in_the_error() -> None:
    """Blob.data is `bytes`, which the loader has no rule for: the error names the path and
    the type's repr, <class 'bytes'>."""
    with pytest.raises(SchemaError) as caught:
        Holder.from_dict({"blob": {"data": "x"}}, "doc")
    assert str(caught.value) == "doc.blob.data: no rule for type <class 'bytes'>"


def test_keys_after_a_stale_schema_version_are_all_copied() -> None:
    """A v0 dict with `schema_version` 0 in the middle: the keys after it (fits, upgraded to
    v1's Predicted rows, and a null prediction) are still copied, in order, after version 1."""
    doc = {"source": "r.csv", "schema_version": 0, "rows_total": 4,
           "fits": {"power": {"derived": {"predictions": [
               {"x": 1e9, "y": 3.1, "ci_low": 3.0, "ci_high": 3.3}]}}},
           "prediction": None}
    out = v0_to_v1(doc)
    assert out == {"schema_version": 1, "source": "r.csv", "rows_total": 4,
                   "fits": {"power": {"derived": {"predictions": [
                       {"x": 1e9, "y": pred(3.1, 3.0, 3.3)}]}}},
                   "prediction": None}
    assert list(out) == ["schema_version", "source", "rows_total", "fits", "prediction"]
