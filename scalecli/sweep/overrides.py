"""`--set KEY=VALUE` and `--data`: command-line edits of a sweep file's raw mapping.

They change the mapping read from YAML before it is validated, so a value given on the
command line passes exactly the checks the same value in the file would. A value is
YAML (`yaml.safe_load`): `3e-3` is a number, `[s1, s2]` a list, `{n_layer: 2}` a mapping,
and text that is not YAML (`*.txt`) is taken as it stands.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from scalecli.errors import ScaleError


def _did_you_mean(key: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`train.lr=3e-3` -> (["train", "lr"], "3e-3" as YAML reads it)."""
    import yaml

    key, sep, value = text.partition("=")
    key = key.strip()
    path = key.split(".")
    if not sep or not all(path):
        raise ScaleError(f"--set {text}: expected KEY=VALUE with a dotted key, "
                         "e.g. --set train.lr=3e-3")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        if value.lstrip().startswith(("[", "{")):  # meant as a list or mapping: say so
            raise ScaleError(f"--set {key}: '{value}' is not a valid YAML list or mapping; "
                             "e.g. --set models=[s1,s2]") from None
        parsed = value  # `*.txt` is a YAML alias, but here it can only mean the text
    return path, parsed


def apply_sets(raw: dict[str, Any], assignments: Sequence[str],
               schema: Mapping[str, type | None]) -> dict[str, Any]:
    """A copy of `raw` with each `KEY=VALUE` assigned, in order (a later one wins).

    `schema` maps each top-level key to the dataclass of its section (whose field names
    are the keys it holds) or to None (a value, a list or free-form). A key that the sweep
    file does not have is one error that names it, before anything else is checked.
    """
    raw = copy.deepcopy(raw)
    for text in assignments:
        path, value = parse_assignment(text)
        key = ".".join(path)
        top = path[0]
        if top not in schema:
            raise ScaleError(f"--set {key}: unknown key '{top}'{_did_you_mean(top, schema)}; "
                             f"the sweep file holds {', '.join(schema)}")
        section = schema[top]
        if section is not None and len(path) > 1:
            names = [f.name for f in fields(section)]
            if path[1] not in names:
                hint = _did_you_mean(path[1], names) or f"; {top} holds {', '.join(names)}"
                raise ScaleError(f"--set {key}: unknown key '{path[1]}' in {top}{hint}")
            if len(path) > 2:
                raise ScaleError(f"--set {key}: {top}.{path[1]} is a value, not a mapping")
        _assign(raw, path, value, key)
    return raw


def _assign(node: Any, path: list[str], value: Any, key: str) -> None:
    for depth, part in enumerate(path[:-1]):
        where = ".".join(path[: depth + 1])
        if isinstance(node, list):
            node = node[_index(node, part, where, key)]
            continue
        if not isinstance(node, dict):
            raise ScaleError(f"--set {key}: {where} is a value, not a mapping")
        child = node.get(part)
        if child is None:  # a section the file leaves out: --set creates it
            child = node[part] = {}
        node = child
    last = path[-1]
    if isinstance(node, list):
        node[_index(node, last, ".".join(path), key)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScaleError(f"--set {key}: {'.'.join(path[:-1])} is a value, not a mapping")


def _index(items: list[Any], part: str, where: str, key: str) -> int:
    """A list item by its position: `models.1.n_embd=64` edits the second model."""
    if not re.fullmatch(r"\d+", part) or int(part) >= len(items):
        raise ScaleError(f"--set {key}: {where.rsplit('.', 1)[0]} is a list of {len(items)}; "
                         f"index it with 0 to {len(items) - 1}")
    index = int(part)
    if isinstance(items[index], str):  # a size name like s1: expand it to edit one field
        raise ScaleError(f"--set {key}: item {index} is the size name '{items[index]}'; "
                         "give the whole list instead, e.g. --set models=[s1,s2]")
    return index


def data_name(dataset: str) -> str:
    """A short name for a dataset, for the sweep's folder: `corpus/` -> corpus,
    `texts/*.txt` -> texts, `roneneldan/TinyStories` -> TinyStories."""
    text = os.path.expanduser(dataset).rstrip("/\\")
    parts = [p for p in re.split(r"[/\\]", text) if p and not any(c in p for c in "*?[")]
    stem = parts[-1] if parts else "data"
    if "." in stem and not os.path.isdir(text):
        stem = stem.rsplit(".", 1)[0] or stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "data"
