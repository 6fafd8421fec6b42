"""schema.record on small records of its own: loading checks every value against its type
with an error that names the path, dumping leaves out only omitted fields that are None,
and the JSON Schema is the one written here by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scalecli.fit.schema.record import Record, SchemaError, json_schema, omitted


@dataclass
class Point(Record):
    """A point:   x and y."""

    x: float | None = None
    y: float = 0.0


@dataclass
class Named(Record):
    """Chosen where a field allows Point or Named: by its `name` key."""

    name: str = ""

    @classmethod
    def accepts(cls, data: dict) -> bool:
        return "name" in data


@dataclass
class Doc(Record):
    count: int = 0
    label: str = ""
    ok: bool = False
    points: list[Point] = field(default_factory=list)
    by_key: dict[str, Point] = field(default_factory=dict)
    best: Point | None = None
    either: Named | Point | None = None
    anything: Any = None
    note: str | None = field(default=None, metadata=omitted("when there is one"))


def test_a_document_round_trips_exactly() -> None:
    data = {"count": 3, "label": "a", "ok": True, "points": [{"x": 1, "y": 2.5}],
            "by_key": {"k": {"x": None, "y": 1.0}}, "best": {"x": 0.5, "y": 0.0},
            "either": {"name": "n"}, "anything": [1, "two"], "note": "hi"}
    doc = Doc.from_dict(data)
    assert isinstance(doc.points[0], Point) and doc.points[0].x == 1
    assert isinstance(doc.points[0].x, int)  # an int stays an int
    assert isinstance(doc.by_key["k"], Point) and isinstance(doc.either, Named)
    assert doc.to_dict() == data
    assert list(doc.to_dict()) == list(data)  # field order
    # the union picks the record that accepts the dict
    assert isinstance(Doc.from_dict({"either": {"x": 1.0}}).either, Point)


def test_omitted_fields_are_left_out_when_none_and_the_rest_written_as_null() -> None:
    out = Doc().to_dict()
    assert "note" not in out
    assert out["best"] is None and out["either"] is None and out["anything"] is None
    assert Point().to_dict() == {"x": None, "y": 0.0}


@pytest.mark.parametrize(("data", "error"), [
    ({"count": 1.5}, "fit.json.count: expected an integer, got 1.5"),
    ({"count": True}, "fit.json.count: expected an integer, got True"),
    ({"label": 3}, "fit.json.label: expected str, got 3"),
    ({"ok": 1}, "fit.json.ok: expected bool, got 1"),
    ({"points": {}}, "fit.json.points: expected a list, got dict"),
    ({"points": [{"y": "1"}]}, "fit.json.points[0].y: expected a number, got '1'"),
    ({"points": [{"y": False}]}, "fit.json.points[0].y: expected a number, got False"),
    ({"points": [{"y": None}]}, "fit.json.points[0].y: expected a number, got None"),
    ({"by_key": []}, "fit.json.by_key: expected an object, got list"),
    ({"by_key": {"k": {"z": 1}}}, "fit.json.by_key.k: unknown field(s) z in Point"),
    ({"best": 3}, "fit.json.best: expected an object, got int"),
    ({"best": {"x": "no"}}, "fit.json.best.x: expected a number, got 'no'"),
    ({"either": 5}, "fit.json.either: fit.json.either: expected an object, got int; "
                    "fit.json.either: expected an object, got int"),
    ({"extra": 1, "more": 2}, "fit.json: unknown field(s) extra, more in Doc"),
])
def test_a_value_of_the_wrong_type_names_its_path(data: dict, error: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Doc.from_dict(data)
    assert str(caught.value) == error


def test_null_where_a_value_is_required_and_a_non_object() -> None:
    @dataclass
    class Strict(Record):
        p: Point | Named = field(default_factory=Point)

    with pytest.raises(SchemaError) as caught:
        Strict.from_dict({"p": None}, "doc")
    assert str(caught.value) == "doc.p: null where a value is required"
    with pytest.raises(SchemaError) as caught:
        Point.from_dict([1], "here")
    assert str(caught.value) == "here: expected an object, got list"


@dataclass
class Picky(Record):
    z: int = 0

    @classmethod
    def accepts(cls, data: dict) -> bool:
        return "z" in data


@dataclass
class Holder(Record):
    v: Named | Picky | None = None


def test_two_records_that_both_refuse_a_dict() -> None:
    with pytest.raises(SchemaError) as caught:
        Holder.from_dict({"v": {"y": 1}})
    assert str(caught.value) == "fit.json.v: matches none of ['Named', 'Picky']"


@dataclass
class Tree(Record):
    """A record that holds itself."""

    children: list[Tree] = field(default_factory=list)


def test_a_record_that_holds_itself_refers_to_its_own_definition() -> None:
    schema = json_schema(Tree, "tree")
    assert schema["properties"] == {"children": {"type": "array",
                                                 "items": {"$ref": "#/$defs/Tree"}}}
    assert schema["$defs"]["Tree"]["properties"] == schema["properties"]


def test_the_json_schema_by_hand() -> None:
    point = {"$ref": "#/$defs/Point"}
    assert list(json_schema(Doc, "T")["$defs"]) == ["Named", "Point"]  # sorted by name
    assert json_schema(Doc, "T") == {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "T",
        "description": "Doc(count: 'int' = 0, label: 'str' = '', ok: 'bool' = False, "
                       "points: 'list[Point]' = <factory>, by_key: 'dict[str, Point]' = "
                       "<factory>, best: 'Point | None' = None, either: 'Named | Point | "
                       "None' = None, anything: 'Any' = None, note: 'str | None' = None)",
        "type": "object",
        "properties": {
            "count": {"type": "integer"}, "label": {"type": "string"},
            "ok": {"type": "boolean"},
            "points": {"type": "array", "items": point},
            "by_key": {"type": "object", "additionalProperties": point},
            "best": {"anyOf": [point, {"type": "null"}]},
            "either": {"anyOf": [{"$ref": "#/$defs/Named"}, point, {"type": "null"}]},
            "anything": {},
            "note": {"description": "when there is one",
                     "anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["count", "label", "ok", "points", "by_key", "best", "either",
                     "anything"],
        "additionalProperties": False,
        "$defs": {
            "Named": {"description": "Chosen where a field allows Point or Named: by its "
                                     "`name` key.", "type": "object",
                      "properties": {"name": {"type": "string"}}, "required": ["name"],
                      "additionalProperties": False},
            "Point": {"description": "A point: x and y.", "type": "object",
                      "properties": {"x": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                                     "y": {"type": "number"}},
                      "required": ["x", "y"], "additionalProperties": False}}}
