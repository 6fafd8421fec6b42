"""schema.text: how fit's summary and the report write a number, an interval, an estimate
and the exponents table; the exact strings a user reads."""

from __future__ import annotations

from scalecli.fit.schema.blocks import ExponentRow
from scalecli.fit.schema.shapes import Estimate
from scalecli.fit.schema.text import (
    CONVENTIONS,
    EXPONENT_HEADERS,
    NAMES,
    estimate_text,
    exponent_rows,
    interval_text,
    sig4,
)


def two(value: float | None) -> str:
    return f"{value:.2f}"


def test_sig4_is_four_significant_digits_or_a_dash() -> None:
    assert sig4(0.123456) == "0.1235"
    assert sig4(123456.0) == "1.235e+05"
    assert sig4(0.0) == "0"
    assert sig4(None) == "-"


def test_an_interval_with_an_open_end_is_shown_as_infinite() -> None:
    assert interval_text(0.1, 0.25, two) == "[0.10, 0.25]"
    assert interval_text(None, 0.25, two) == "[-inf, 0.25]"
    assert interval_text(0.1, None, two) == "[0.10, inf]"
    assert interval_text(None, None, two) == "-"
    assert interval_text(0.0, 0.0, two) == "[0.00, 0.00]"  # zero is a bound, not a missing one


def test_an_estimate_as_a_dict_or_a_record() -> None:
    p = {"value": 0.3401234, "se": 0.01, "ci_low": 0.3201234, "ci_high": 0.3612345}
    assert estimate_text(p) == "0.3401 [0.3201, 0.3612]"
    assert estimate_text(Estimate(**p)) == "0.3401 [0.3201, 0.3612]"
    assert estimate_text(p, two) == "0.34 [0.32, 0.36]"
    assert estimate_text({**p, "ci_high": None}) == "0.3401 [0.3201, inf]"
    assert estimate_text({**p, "ci_low": None}) == "0.3401 [-inf, 0.3612]"
    assert estimate_text({"value": 2.5, "ci_low": None, "ci_high": None}) == "2.5"
    assert estimate_text(Estimate(value=2.5)) == "2.5"
    assert estimate_text({"value": None, "ci_low": 1.0, "ci_high": 2.0}) == "-"
    assert estimate_text(None) == "-"
    assert estimate_text({"value": 0.0}) == "0"


def test_exponent_rows_and_the_scales_the_design_lacks() -> None:
    fitted = {"scale": "N", "at": "final point", "x": "params", "y": "val_loss",
              "kind": "loss", "quantity": "",
              "exponent": {"value": -0.0761, "ci_low": -0.08, "ci_high": -0.07},
              "n_points": 7, "r2_log": 0.99912}
    named = ExponentRow(scale="C", at="isoFLOP budgets", quantity="a in N_opt ~ C^a",
                        exponent=Estimate(value=0.5012))
    lacking = {"scale": "D", "at": "fixed N", "exponent": None,
               "reason": "one token budget per size"}
    silent = {"scale": "N", "at": "every eval point", "exponent": None}
    rows, missing = exponent_rows([fitted, named, lacking, silent])
    assert rows == [["N", "final point", "val_loss vs params", "-0.0761 [-0.08, -0.07]", "7",
                     "0.999"],
                    ["C", "isoFLOP budgets", "a in N_opt ~ C^a", "0.5012", "-", "-"]]
    assert missing == ["D (fixed N): one token budget per size",
                       "N (every eval point): no fit"]
    rows, _ = exponent_rows([fitted], two)
    assert rows[0][3] == "-0.08 [-0.08, -0.07]"


def test_the_contracts_fixed_words() -> None:
    assert CONVENTIONS == (("params", "total"), ("params_non_embedding", "non-embedding"),
                           ("params_matmul", "matmul-only"))
    assert NAMES == {"params": "total", "params_non_embedding": "non-embedding",
                     "params_matmul": "matmul-only"}
    assert EXPONENT_HEADERS == ("scale", "at", "what the number is", "value (95% CI)",
                                "points", "R^2 (log)")
