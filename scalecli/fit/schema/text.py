"""fit.json's numbers as text, and the fixed words that are part of the contract: what
`fit`'s summary and `report` both print, so that the two say a number the same way.

The one definition of each: `fit.summary`, `fit.conventions` and the report import them
from here. A form's own text (its formula, its exponent's interval) is the form's
(`fit.forms`)."""

from __future__ import annotations

from collections.abc import Callable

from scalecli.fit.schema.blocks import ExponentRow
from scalecli.fit.schema.shapes import Estimate, Predicted, TokensPerParam

# How approach 3 solves, said wherever its numbers are shown (each fit's `method` says
# which flops per token it used).
PARAMETRIC_C = ("N_opt(C) minimises L(N, C / flops_per_token(N)) on the compute column's C, "
                "flops per token as the runs count it (the closed form G (C/6)^a assumes "
                "C = 6 N D, and is used only where that holds)")

# The conventions of N (fit.json's `conventions` keys) and how the summary and the report
# name them, in the order they are shown.
CONVENTIONS = (("params", "total"), ("params_non_embedding", "non-embedding"),
               ("params_matmul", "matmul-only"))
NAMES = dict(CONVENTIONS)

EXPONENT_HEADERS = ("scale", "at", "what the number is", "value (95% CI)", "points",
                    "R^2 (log)")

Number = Callable[[float | None], str]


def sig4(value: float | None) -> str:
    """A number to 4 significant digits; '-' when there is none."""
    return "-" if value is None else f"{value:.4g}"


def interval_text(lo: float | None, hi: float | None, fmt: Number) -> str:
    """'[lo, hi]'; '-' when there is no interval. One null end is a profile interval that
    the data do not bound on that side, shown as -inf or inf."""
    if lo is None and hi is None:
        return "-"
    return f"[{'-inf' if lo is None else fmt(lo)}, {'inf' if hi is None else fmt(hi)}]"


def _get(p: object, key: str) -> float | None:
    return p.get(key) if isinstance(p, dict) else getattr(p, key, None)


def estimate_text(p: Estimate | Predicted | TokensPerParam | dict | None,
                  fmt: Number = sig4) -> str:
    """'value [lo, hi]' of an estimate (a record or its dict), '-' without a value."""
    if p is None or _get(p, "value") is None:
        return "-"
    ci = interval_text(_get(p, "ci_low"), _get(p, "ci_high"), fmt)
    return fmt(_get(p, "value")) + ("" if ci == "-" else f" {ci}")


def exponent_rows(entries: list[ExponentRow] | list[dict], fmt: Number = sig4
                  ) -> tuple[list[list[str]], list[str]]:
    """The exponents as table rows (scale, at, x, exponent [CI], points, R^2) for the
    fitted ones, and one 'scale: why not' line for each that the design lacks."""
    rows, missing = [], []
    for e in entries:
        e = ExponentRow.from_dict(e) if isinstance(e, dict) else e
        if e.exponent is None:
            missing.append(f"{e.scale} ({e.at}): {e.reason or 'no fit'}")
            continue
        rows.append([e.scale, e.at, e.quantity or f"{e.y} vs {e.x}",
                     estimate_text(e.exponent, fmt),
                     "-" if e.n_points is None else str(e.n_points),
                     "-" if e.r2_log is None else f"{e.r2_log:.3f}"])
    return rows, missing
