"""The generated reference (docs/reference/) matches the code, and the code documents itself:
every sweep-file field has a docstring, every results.csv column a description, every
diagnostic code an entry in the codes table."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen():
    path = ROOT / "docs" / "gen_reference.py"
    spec = importlib.util.spec_from_file_location("gen_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_pages_match_the_code(gen):
    stale = [name for name, text in gen.pages().items()
             if not (ROOT / "docs" / "reference" / name).exists()
             or (ROOT / "docs" / "reference" / name).read_text(encoding="utf-8") != text]
    assert not stale, f"docs/reference/{stale} differ from the code: run docs/gen_reference.py"


def test_every_sweep_file_field_has_a_docstring(gen):
    assert gen.missing_field_docs() == []


def test_a_field_without_a_docstring_is_found(gen, tmp_path, monkeypatch):
    (tmp_path / "probe_settings.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Probe:\n"
        "    kept: int = 1\n    \"\"\"Documented.\"\"\"\n    bare: int = 2\n")
    spec = importlib.util.spec_from_file_location("probe_settings", tmp_path / "probe_settings.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "probe_settings", module)  # inspect finds its source
    spec.loader.exec_module(module)
    assert gen.missing_field_docs([module.Probe]) == ["Probe.bare"]


def test_every_results_column_has_a_description():
    from scalecli.results import COLUMN_DOCS, COLUMNS

    assert set(COLUMN_DOCS) == set(COLUMNS)
    assert all(text.strip() for text in COLUMN_DOCS.values())


def _emitted_codes() -> set[str]:
    """Every code passed as a literal to Diagnostic(...) or listing(...) under scalecli/."""
    found = set()
    for path in (ROOT / "scalecli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("Diagnostic", "listing") and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.add(node.args[0].value)
    return found


def test_every_diagnostic_code_is_in_the_table():
    from scalecli.fit.codes import CODES

    emitted = _emitted_codes()
    assert {"non_monotone", "skipped", "prediction_miss"} <= emitted  # the scan finds them
    assert emitted - set(CODES) == set(), "add these codes to scalecli/fit/codes.py"
    assert set(CODES) - emitted == set(), "codes in scalecli/fit/codes.py that nothing emits"


def test_isoflop_reasons_are_the_ones_the_fit_gives():
    from scalecli.fit.codes import ISOFLOP_REASONS

    source = (ROOT / "scalecli" / "fit" / "isoflop.py").read_text(encoding="utf-8")
    given = {node.value for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Constant) and node.value in {
                 "too_few_points", "not_convex", "minimum_outside", "one_sided"}}
    assert given == set(ISOFLOP_REASONS)
