"""fit.json's schema: every golden file, upgraded, round-trips exactly; a field the schema
does not know is an error; the schema is stdlib-only; predictions have one shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scalecli.fit import schema

GOLDEN = sorted((Path(__file__).parents[1] / "golden").glob("*/fit.json"))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.parent.name)
def test_every_golden_fit_json_upgraded_round_trips_exactly(path: Path) -> None:
    upgraded = schema.v0_to_v1(json.loads(path.read_text(encoding="utf-8")))
    doc = schema.FitDoc.from_dict(upgraded)
    assert doc.schema_version == schema.SCHEMA_VERSION
    assert doc.to_dict() == upgraded
    assert schema.parse(json.loads(schema.to_json(doc))).to_dict() == upgraded


def test_a_field_the_schema_does_not_know_is_an_error() -> None:
    doc = schema.v0_to_v1(json.loads(GOLDEN[0].read_text(encoding="utf-8")))
    first = next(iter(doc["fits"]))
    doc["fits"][first]["params"][next(iter(doc["fits"][first]["params"]))]["median"] = 1.0
    with pytest.raises(schema.SchemaError, match=rf"fits\.{first}\.params\..*median"):
        schema.FitDoc.from_dict(doc)
    with pytest.raises(schema.SchemaError, match="expected a number"):
        schema.Estimate.from_dict({"value": "3.1"})


def test_another_version_or_none_is_named() -> None:
    assert "no schema_version" in schema.version_problem({"fits": {}})
    assert "schema_version 0" in schema.version_problem({"schema_version": 0})
    assert schema.version_problem({"schema_version": schema.SCHEMA_VERSION}) is None
    with pytest.raises(schema.SchemaError, match="no schema_version"):
        schema.parse({"fits": {}})


def test_the_schema_imports_no_fitting_code() -> None:
    # nor when it reads a file: it tells laws from approaches by their data, not by asking
    # the forms registry (which loads numpy)
    code = ("import json, sys, scalecli.fit.schema as s\n"
            f"[s.build(json.load(open(p))) for p in {[str(p) for p in GOLDEN]!r}]\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'pandas')"
            " or (m.startswith('scalecli.fit.') and not m.startswith('scalecli.fit.schema'))]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_fits_entry_is_a_law_or_an_approach_by_its_data_not_its_name() -> None:
    # a form registered after this schema was written: its entries are read alike
    est = {"value": 0.5, "se": 0.01, "ci_low": 0.48, "ci_high": 0.52}
    v0 = {"fits": {
        "toy_law": {"form": "toy_law", "params": {"c": est}, "derived": {"predictions": [
            {"x": 1e7, "y": 3.5, "ci_low": 3.4, "ci_high": 3.7}]}},
        "toy_approach": {"form": "toy_approach", "params": {"a_opt": est, "b_opt": est},
                         "budgets": [{"flops": 1e15, "n_opt": 2e5, "accepted": True}],
                         "derived": {"k_n": 0.1, "predictions": [
                             {"flops": 1e16, "n_opt": est, "d_opt": est, "loss": None}]}}}}
    doc = schema.parse(json.loads(schema.to_json(schema.build(v0))))
    law, approach = doc.fits["toy_law"], doc.fits["toy_approach"]
    assert isinstance(law, schema.LawFit) and law.derived.predictions[0].y.value == 3.5
    assert isinstance(approach, schema.ApproachFit) and approach.budgets[0].n_opt == 2e5
    assert (approach.derived.predictions[0].x, approach.derived.predictions[0].n_opt.value) == (
        1e16, 0.5)
    assert doc.law("toy_approach") is None and doc.approach("toy_approach") is approach


def test_predictions_of_every_form_have_one_shape() -> None:
    est = {"value": 2e5, "se": 1e4, "ci_low": 1.8e5, "ci_high": 2.3e5}
    v0 = {"fits": {
        "power": {"form": "power", "derived": {"predictions": [
            {"x": 1e7, "y": 3.5, "ci_low": 3.4, "ci_high": 3.7}]}},
        "isoflop": {"form": "isoflop", "budgets": [], "derived": {"predictions": [
            {"flops": 1e15, "n_opt": est, "d_opt": est, "loss": None}]}},
        "chinchilla": {"form": "chinchilla", "derived": {
            "a_opt": 0.5, "b_opt": 0.5, "G": 0.1,
            "optimal": [{"C": 1e15, "N_opt": 2e5, "D_opt": 8e8}],
            "intervals": {"a_opt": {**est, "value": 0.5}, "b_opt": {**est, "value": 0.5}},
            "compute_optimal": [{"flops": 1e15, "n_opt": est, "d_opt": est,
                                 "loss": {**est, "value": 3.1}}],
            "predictions": [{"x": 1e15, "y": 3.1, "ci_low": 3.0, "ci_high": 3.2}]}}}}
    doc = schema.build(v0)
    power, iso, chin = (doc.fits[k].derived.predictions[0]
                        for k in ("power", "isoflop", "chinchilla"))
    assert (power.x, power.y.value, power.y.ci_low, power.y.interval) == (1e7, 3.5, 3.4,
                                                                          "parameter")
    assert (iso.x, iso.y, iso.n_opt.value, iso.n_opt.ci_high) == (1e15, None, 2e5, 2.3e5)
    assert (chin.y.value, chin.n_opt.value) == (3.1, 2e5)
    # chinchilla's allocation is stored once: no `optimal`, `intervals`, `compute_optimal`
    derived = doc.to_dict()["fits"]["chinchilla"]["derived"]
    assert set(derived) == {"a_opt", "b_opt", "G", "predictions"}
    assert derived["a_opt"]["ci_low"] == est["ci_low"]


def test_the_approaches_table_refers_to_the_fits_and_reads_the_same_numbers() -> None:
    path = next(p for p in GOLDEN if p.parent.name == "isoflop")
    v0 = json.loads(path.read_text(encoding="utf-8"))
    doc = schema.build(v0)
    stored = doc.to_dict()
    assert all(set(r) == {"approach", "form"} for r in stored["approaches"])
    assert stored["conventions"]["params"] is None  # the fitted N: the approaches table
    rows = [r.to_dict() for r in doc.approach_rows()]
    assert rows == v0["approaches"]
    tables = doc.convention_tables()
    assert list(tables) == list(v0["conventions"])
    assert [r.to_dict() for r in tables["params_non_embedding"]] == \
        v0["conventions"]["params_non_embedding"]


def test_the_json_schema_names_every_record_and_forbids_other_fields() -> None:
    generated = schema.schema()
    assert generated["properties"]["schema_version"] == {"type": "integer"}
    assert generated["additionalProperties"] is False
    for name in ("LawFit", "ApproachFit", "Estimate", "Predicted", "Diagnostic"):
        assert generated["$defs"][name]["additionalProperties"] is False
    assert "by_size" not in generated["$defs"]["LawFit"]["required"]
