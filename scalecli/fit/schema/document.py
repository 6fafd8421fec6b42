"""The whole of fit.json: `FitDoc`, its version, and how a file is read and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalecli.fit.schema.blocks import (
    ApproachRef,
    ApproachRow,
    ExponentRow,
    PredictionBlock,
    SeedNoise,
    ValidationBlock,
)
from scalecli.fit.schema.fits import ApproachFit, Fit, LawFit
from scalecli.fit.schema.record import Record, SchemaError, json_schema, omitted
from scalecli.fit.schema.shapes import Diagnostic

SCHEMA_VERSION = 1
"""fit.json's layout version, written first as `schema_version`. Bump it with any change a
reader of the old layout would misread; `report` refuses another version."""


@dataclass
class FitDoc(Record):
    """fit.json: what `scalecli fit` measured on one results.csv, and all that `scalecli
    report` reads about the fit."""

    schema_version: int = SCHEMA_VERSION
    scalecli_version: str = ""
    source: str = ""
    filter: list[str] = field(default_factory=list)
    rows_total: int = 0
    rows_used: int = 0
    rows_excluded: dict[str, int] = field(default_factory=dict)
    fits: dict[str, Fit] = field(default_factory=dict)
    exponents: list[ExponentRow] | None = field(default=None, metadata=omitted(
        "fit --form all: the exponent at every scale the design supports"))
    approaches: list[ApproachRef] | None = field(default=None, metadata=omitted(
        "the compute-optimal approaches fitted, each a reference to its fit"))
    conventions: dict[str, list[ApproachRow] | None] | None = field(default=None, metadata=omitted(
        "the approaches with N counted as each column; null for the column they were "
        "fitted with, whose rows are `approaches`"))
    conventions_skipped: dict[str, str] | None = field(default=None,
        metadata=omitted("{column: why it is left out}"))
    seed_noise: SeedNoise | None = field(default=None, metadata=omitted("a CSV with a seed column"))
    prediction: PredictionBlock | None = field(default=None,
        metadata=omitted("power or saturating converged along N"))
    validation: ValidationBlock | None = field(default=None,
        metadata=omitted("results.csv has validation runs"))
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def law(self, form: str) -> LawFit | None:
        fit = self.fits.get(form)
        return fit if isinstance(fit, LawFit) else None

    def approach(self, form: str) -> ApproachFit | None:
        fit = self.fits.get(form)
        return fit if isinstance(fit, ApproachFit) else None

    def approach_rows(self) -> list[ApproachRow]:
        """The approaches table, its numbers read from the fits that hold them."""
        return [_row(ref, self.fits.get(ref.form)) for ref in self.approaches or []]

    def convention_tables(self) -> dict[str, list[ApproachRow]]:
        """{column N was counted as: the approaches table}, in the order fit wrote them."""
        return {column: self.approach_rows() if rows is None else rows
                for column, rows in (self.conventions or {}).items()}


def _row(ref: ApproachRef, fit: Fit | None) -> ApproachRow:
    if isinstance(fit, ApproachFit):
        return ApproachRow(ref.approach, ref.form, fit.params.get("a_opt"),
                           fit.params.get("b_opt"), fit.derived.tokens_per_param,
                           fit.derived.predictions)
    if isinstance(fit, LawFit):  # approach 3: chinchilla's allocation, in its derived
        return ApproachRow(ref.approach, ref.form, fit.derived.a_opt, fit.derived.b_opt,
                           fit.derived.tokens_per_param, fit.derived.predictions or [])
    return ApproachRow(ref.approach, ref.form)


def version_problem(data: Any) -> str | None:
    """Why a fit.json dict is not this schema's version, or None when it is."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    version = data.get("schema_version")
    if version is None:
        return (f"it has no schema_version (written before fit.json had one); this scalecli "
                f"reads version {SCHEMA_VERSION}")
    if version != SCHEMA_VERSION:
        return f"it has schema_version {version!r}; this scalecli reads version {SCHEMA_VERSION}"
    return None


def parse(data: Any) -> FitDoc:
    """A fit.json dict of this version as a `FitDoc`; SchemaError names what is wrong."""
    problem = version_problem(data)
    if problem:
        raise SchemaError(problem)
    return FitDoc.from_dict(data)


def to_json(doc: FitDoc) -> str:
    """fit.json's text: strict JSON (no NaN or inf), two-space indent."""
    return json.dumps(doc.to_dict(), indent=2, allow_nan=False)


def read(path: Path) -> FitDoc:
    """fit.json at `path`; SchemaError (or OSError, ValueError for bad JSON) otherwise."""
    return parse(json.loads(Path(path).read_text(encoding="utf-8")))


def schema() -> dict[str, Any]:
    """fit.json's JSON Schema, generated from the records."""
    return json_schema(FitDoc, f"fit.json, schema_version {SCHEMA_VERSION}")
