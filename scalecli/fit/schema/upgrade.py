"""fit.json's layout before `schema_version` (version 0) -> version 1.

Version 1 gave every predicted number one shape (`Predicted`: value, se, ci_low,
ci_high and what the interval holds), where version 0 had {x, y, ci_low, ci_high} for the
laws, {flops, n_opt, d_opt, loss} for the approaches and {y, low, high} in the prediction
block; and it stores chinchilla's compute-optimal allocation once, in its `derived` (v0
had it as plain values, again in `intervals`, `optimal` and `compute_optimal`, and in the
approaches and conventions tables).

`fit` still assembles the version-0 dict in memory (its summary and diagnostics read it),
and its writer passes that through `v0_to_v1` (`build`); the golden files of
tests/golden/ are version 0 and are upgraded the same way.
"""

from __future__ import annotations

from typing import Any

from scalecli.fit.schema.document import SCHEMA_VERSION, FitDoc
from scalecli.fit.schema.fits import is_approach
from scalecli.fit.schema.shapes import PARAMETER, PREDICTION


def predicted(est: dict | None, kind: str = PARAMETER) -> dict | None:
    """{value, se, ci_low, ci_high} -> a Predicted dict with what its interval holds."""
    if est is None:
        return None
    return {"value": est.get("value"), "se": est.get("se"), "ci_low": est.get("ci_low"),
            "ci_high": est.get("ci_high"), "interval": kind}


def _estimate(value: Any) -> dict:
    return {"value": value, "se": None, "ci_low": None, "ci_high": None}


def optimum_rows(rows: list[dict] | None) -> list[dict]:
    """v0 {flops, n_opt, d_opt, loss} rows (approaches, chinchilla's compute_optimal)."""
    return [{"x": r.get("flops"), "y": predicted(r.get("loss")),
             "n_opt": predicted(r.get("n_opt")), "d_opt": predicted(r.get("d_opt"))}
            for r in rows or []]


def _law_rows(rows: list[dict] | None) -> list[dict]:
    """v0 {x, y, ci_low, ci_high} rows (power and saturating at --predict x)."""
    return [{"x": r.get("x"), "y": {"value": r.get("y"), "se": None, "ci_low": r.get("ci_low"),
                                   "ci_high": r.get("ci_high"), "interval": PARAMETER}}
            for r in rows or []]


def _chinchilla_derived(derived: dict) -> dict:
    out = {}
    intervals = derived.get("intervals") or {}
    for key in ("a_opt", "b_opt"):
        if key in derived or key in intervals:
            out[key] = intervals.get(key) or _estimate(derived.get(key))
    if "G" in derived:
        out["G"] = derived["G"]
    if "tokens_per_param" in derived:
        out["tokens_per_param"] = derived["tokens_per_param"]
    if derived.get("compute_optimal"):  # N_opt, D_opt, L_opt at each budget, with intervals
        out["predictions"] = optimum_rows(derived["compute_optimal"])
    elif derived.get("optimal") or derived.get("predictions"):
        losses = {r.get("x"): r for r in derived.get("predictions") or []}
        rows = derived.get("optimal") or [{"C": x} for x in losses]
        out["predictions"] = [{"x": r.get("C"), "y": _law_rows([losses[r.get("C")]])[0]["y"]
                               if r.get("C") in losses else None,
                               "n_opt": predicted(_estimate(r.get("N_opt"))),
                               "d_opt": predicted(_estimate(r.get("D_opt")))} for r in rows]
    elif "predictions" in derived:
        out["predictions"] = []
    return out


# Version 0's keys of the compute-optimal allocation in a law's `derived` (chinchilla's,
# a law that gives N_opt too); a law that did not converge has an empty `derived`.
ALLOCATION_KEYS = ("a_opt", "intervals", "optimal", "compute_optimal")


def _fit(fit: dict) -> dict:
    fit = dict(fit)
    derived = dict(fit.get("derived") or {})
    if is_approach(fit):
        derived["predictions"] = optimum_rows(derived.get("predictions"))
    elif any(key in derived for key in ALLOCATION_KEYS):
        derived = _chinchilla_derived(derived)
    elif "predictions" in derived:
        derived["predictions"] = _law_rows(derived["predictions"])
    fit["derived"] = derived
    return fit


def _row(row: dict) -> dict:
    return {**row, "predictions": optimum_rows(row.get("predictions"))}


def _prediction(block: dict) -> dict:
    def one(p: dict) -> dict:
        return {"value": p.get("y"), "se": None, "ci_low": p.get("low"),
                "ci_high": p.get("high"), "interval": PREDICTION}

    points = []
    for point in block.get("points") or []:
        combined = point.get("combined")
        if combined is not None:
            rest = {k: v for k, v in combined.items() if k not in ("y", "low", "high")}
            combined = {**one(combined), **rest}
        points.append({**point, "forms": {k: one(v) for k, v in
                                          (point.get("forms") or {}).items()},
                       "combined": combined})
    return {**block, "points": points}


def v0_to_v1(doc: dict) -> dict:
    """A version-0 fit.json dict in the version-1 layout (the numbers unchanged)."""
    if doc.get("schema_version") == SCHEMA_VERSION:
        return doc
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    approaches = doc.get("approaches")
    for key, value in doc.items():
        if key == "schema_version":
            continue
        if key == "fits":
            value = {name: _fit(fit) for name, fit in value.items()}
        elif key == "approaches":
            value = [{"approach": r.get("approach"), "form": r.get("form")} for r in value]
        elif key == "conventions":
            value = {column: None if rows == approaches else [_row(r) for r in rows]
                     for column, rows in value.items()}
        elif key == "prediction" and value is not None:
            value = _prediction(value)
        out[key] = value
    return out


def build(doc: dict) -> FitDoc:
    """The typed document of the dict `fit` assembles (a field the schema does not know
    raises SchemaError: the schema is the whole contract)."""
    return FitDoc.from_dict(v0_to_v1(doc))
