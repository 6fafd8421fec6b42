"""The typed records of fit.json, and how each turns into JSON and back.

A `Record` is a dataclass whose field types say what fit.json holds: `float | None`,
`list[Estimate]`, `dict[str, Predicted]`, another Record. `from_dict` checks every key
against them (a key the class does not name is an error, so the schema is the whole
contract) and `to_dict` writes them back in field order, so that a valid document
round-trips exactly. A field marked `omitted()` is left out of the JSON when it is None:
fit writes it only where it applies (`by_size` for a fit along D, `reason` for a rejected
budget); every other field is always written, null when there is no number.

Stdlib only: the report imports this without the fitting code.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

R = TypeVar("R", bound="Record")


class SchemaError(ValueError):
    """A fit.json dict that does not match the schema; the message names the path."""


def omitted(doc: str = "") -> dict[str, Any]:
    """The metadata of a field that fit.json leaves out when it is None (it applies to
    some fits only): `field(default=None, metadata=omitted("when it applies"))`."""
    return {"optional": True, "doc": doc}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a record (its annotations are strings)."""
    if cls not in _HINTS:
        module = __import__(cls.__module__, fromlist=["_"])
        _HINTS[cls] = typing.get_type_hints(cls, vars(module))
    return _HINTS[cls]


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)



def _load(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    if _is_union(tp):
        options = _args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise SchemaError(f"{path}: null where a value is required")
        records = [o for o in options if isinstance(o, type) and issubclass(o, Record)]
        if len(records) > 1 and isinstance(value, dict):
            for option in records:
                if option.accepts(value):
                    return option.from_dict(value, path)
            raise SchemaError(f"{path}: matches none of {[r.__name__ for r in records]}")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _load(option, value, path)
            except SchemaError as error:
                errors.append(str(error))
        raise SchemaError(errors[0] if len(errors) == 1 else f"{path}: {'; '.join(errors)}")
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = _args(tp)
        return [_load(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected an object, got {type(value).__name__}")
        _, item = _args(tp)
        return {str(k): _load(item, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value, path)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{path}: expected a number, got {value!r}")
        return value  # an int stays an int: the document round-trips exactly
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise SchemaError(f"{path}: expected {tp.__name__}, got {value!r}")
        return value
    raise SchemaError(f"{path}: no rule for type {tp!r}")  # a schema bug, not a user's


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


@dataclasses.dataclass
class Record:
    """The base of every fit.json record (see the module docstring)."""

    @classmethod
    def accepts(cls, data: dict) -> bool:
        """Whether `data` is this record where a field allows several (a `fits` entry)."""
        return True

    @classmethod
    def from_dict(cls: type[R], data: Any, path: str = "fit.json") -> R:
        if not isinstance(data, dict):
            raise SchemaError(f"{path}: expected an object, got {type(data).__name__}")
        hints = _hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            raise SchemaError(f"{path}: unknown field(s) {', '.join(unknown)} in {cls.__name__}")
        # A key left out takes the field's default: a hand-made or partial dict still loads
        return cls(**{name: _load(hints[name], data[name], f"{path}.{name}")
                      for name in names if name in data})

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            out[f.name] = _dump(value)
        return out


# ----------------------------------------------------------------------------- JSON Schema


def _json_type(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    if _is_union(tp):
        return {"anyOf": [_json_type(o, defs) for o in _args(tp)]}
    origin = typing.get_origin(tp)
    if origin is list:
        return {"type": "array", "items": _json_type(_args(tp)[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _json_type(_args(tp)[1], defs)}
    if isinstance(tp, type) and issubclass(tp, Record):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placed first: a record may refer to itself
            defs[tp.__name__] = record_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    simple = {float: "number", int: "integer", str: "string", bool: "boolean",
              type(None): "null"}
    return {"type": simple[tp]}


def record_schema(cls: type[Record], defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema object of one record; the records it holds go into `defs`."""
    hints = _hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        prop = _json_type(hints[f.name], defs)
        if f.metadata.get("doc"):
            prop = {"description": f.metadata["doc"], **prop}
        props[f.name] = prop
        if not f.metadata.get("optional"):
            required.append(f.name)
    doc = " ".join((cls.__doc__ or "").split())
    return {"description": doc, "type": "object", "properties": props,
            "required": required, "additionalProperties": False}


def json_schema(root: type[Record], title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `root` and every record it holds."""
    defs: dict[str, Any] = {}
    body = record_schema(root, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title,
            **body, "$defs": dict(sorted(defs.items()))}
