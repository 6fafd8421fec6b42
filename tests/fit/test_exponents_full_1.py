"""fit.json's `exponents` rows whole, worked out by hand: the table of a CSV with no usable
point (every scale says why, "at most 0"), the D rows of named sizes in order of N (not of
name) and of shapes of one N in order of name, and the compute frontier of 2 sizes on 2 token
budgets (the smallest design that trades N against D), fitted or, when the frontier has too
few budgets, its reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import analysis
from scalecli.fit import exponents as ex
from scalecli.fit.forms import registry
from tests.fit.test_exponents_units import OneRowPerPoint


def slope_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """A power fit stand-in: the least-squares log-log slope b of y = k x^b."""
    b = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    return {"converged": True, "n_points": x.size, "r2_log": 1.0,
            "params": {"b": {"value": b, "se": 0.01, "ci_low": b - 0.02, "ci_high": b + 0.02}}}


def power_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """The fit `fit --form all` gives each row: the default form, bootstrapped, no holdout."""
    return analysis.analyse(registry.default(), x, y, n_boot=50, seed=0, holdout=0)


def table(rows: list[dict[str, str]], c_col: str | None, fit_one=slope_fit) -> list[dict]:
    header = list(rows[0])
    return ex.exponents(rows, header, OneRowPerPoint(), "params", "val_ppl", "tokens", c_col,
                        fit_one, {})


def row(scale: str, x: str, at: str, **rest) -> dict:
    return {"scale": scale, "x": x, "y": "val_ppl", "at": at, "kind": "power slope",
            "quantity": f"b of val_ppl = k {x}^b (d ln val_ppl / d ln {x})", **rest}


NO_FLOPS_BUDGETS = [
    {"scale": scale, "x": "flops", "y": scale[0] + "_opt", "at": "isoFLOP budgets",
     "kind": "compute-optimal exponent", "quantity": f"{a} of {scale[0]}_opt ~ C^{a}",
     "exponent": None, "reason": "the CSV has no budget_flops: add budget: {flops: [...]} to "
                                 "the sweep for the compute-optimal a and b"}
    for scale, a in (("N_opt(C)", "a"), ("D_opt(C)", "b"))]


def test_a_csv_without_one_usable_point_says_why_for_every_scale_at_most_0() -> None:
    # Three sizes on three token budgets, but every run failed (val_ppl blank, or 0, which
    # no log can take): no point is left, so no budget holds a size ("at most 0"), no size
    # a budget ("at most 0"), and the runs span 0 sizes and 0 budgets.
    rows = [{"model": f"s{i}", "params": repr(n), "tokens": repr(t), "flops": repr(6 * n * t),
             "val_ppl": "" if (i + j) % 2 else "0"}
            for i, n in enumerate((1e6, 1e7, 1e8)) for j, t in enumerate((1e9, 2e9, 4e9))]
    assert table(rows, "flops") == [
        row("N", "params", "fixed tokens", exponent=None, reason=(
            "no tokens value has 3 sizes (at most 0): each size was trained on its own D (an "
            "isoFLOP design, or tokens_per_param), so N and D moved together. The N "
            "dependence is in a and alpha; for the N exponent at a fixed D, train 3+ sizes "
            "on one budget.tokens")),
        row("D", "tokens", "fixed N", exponent=None, reason=(
            "no size was trained on 3 token budgets (at most 0); for the D exponent, give "
            "budget.tokens a grid (schedule: wsd trains it as branches of one run per size)")),
        row("C", "flops", "compute frontier", exponent=None, reason=(
            "the runs span 0 size(s) and 0 token budget(s): with one of either, C moves with "
            "the other alone and L(C) is L(N) or L(D) under another name. Train several "
            "sizes on several budgets (an isoFLOP design or a token grid)")),
        *NO_FLOPS_BUDGETS]


def d_rows(rows: list[dict[str, str]]) -> list[dict]:
    return [e for e in table(rows, None) if e["scale"] == "D"]


def fitted_d(at: str, b: float) -> dict:
    return row("D", "tokens", at, exponent={
        "value": pytest.approx(b, abs=1e-12), "se": 0.01,
        "ci_low": pytest.approx(b - 0.02, abs=1e-12),
        "ci_high": pytest.approx(b + 0.02, abs=1e-12)}, n_points=3, r2_log=1.0)


def test_named_sizes_each_get_their_d_exponent_smallest_n_first_not_by_name() -> None:
    # GPT-2's three sizes, each on 3 token budgets: ppl = 40 (D / 1e9)^b with b -0.05 for
    # small, -0.1 for medium, -0.2 for large, listed in the CSV large first. By name the
    # order would be large, medium, small; the table goes by N.
    sizes = (("gpt2-large", 7.74e8, -0.2), ("gpt2-medium", 3.55e8, -0.1),
             ("gpt2-small", 1.24e8, -0.05))
    rows = [{"model": name, "params": repr(n), "tokens": repr(t),
             "val_ppl": repr(40.0 * (t / 1e9) ** b)}
            for name, n, b in sizes for t in (1e9, 2e9, 4e9)]
    assert d_rows(rows) == [fitted_d("gpt2-small (N = 1.24e+08)", -0.05),
                            fitted_d("gpt2-medium (N = 3.55e+08)", -0.1),
                            fitted_d("gpt2-large (N = 7.74e+08)", -0.2)]


def test_shapes_of_one_size_get_their_d_exponents_in_order_of_name() -> None:
    # An aspect-ratio study: 8 shapes of one parameter count (1e8), each on 3 token
    # budgets, in the CSV in reverse name order. Equal N, so the rows go by name; shape k's
    # law is ppl = 30 (D / 1e9)^(-0.01 k).
    names = [f"shape-{k}" for k in range(1, 9)]
    rows = [{"model": name, "params": "1e8", "tokens": repr(t),
             "val_ppl": repr(30.0 * (t / 1e9) ** (-0.01 * k))}
            for k, name in reversed(list(enumerate(names, start=1)))
            for t in (1e9, 3e9, 9e9)]
    assert d_rows(rows) == [fitted_d(f"{name} (N = 1e+08)", -0.01 * k)
                            for k, name in enumerate(names, start=1)]


def two_by_two(ppl_at_4c0: float) -> list[dict[str, str]]:
    # 2 sizes (1e6, 2e6) on 2 token budgets (1e9, 2e9): C = 6 N D is C0 = 6e15, 2 C0 for
    # two runs (1e6 on 2e9, 2e6 on 1e9) and 4 C0; ppl = 100 (C / C0)^-0.1 at C0 and at the
    # better 2 C0 run (2e6 on 1e9; the other is 5% above it).
    runs = [(1e6, 1e9, 100.0), (1e6, 2e9, 1.05 * 100.0 * 2 ** -0.1),
            (2e6, 1e9, 100.0 * 2 ** -0.1), (2e6, 2e9, ppl_at_4c0)]
    return [{"model": f"m{n:.0e}", "params": repr(n), "tokens": repr(t),
             "flops": repr(6 * n * t), "val_ppl": repr(ppl)} for n, t, ppl in runs]


def test_two_sizes_on_two_token_budgets_have_a_compute_frontier_of_three_budgets() -> None:
    # At 4 C0 ppl is on the law: the frontier is the 3 budgets' best runs at C0, 2 C0 and
    # 4 C0 (each budget's C, the geometric mean of its runs', is exact), so the power fit
    # gives b = -0.1 exactly, its bootstrap draws all -0.1 and r2 1.
    (c_row,) = [e for e in table(two_by_two(100.0 * 4 ** -0.1), "flops", power_fit)
                if e["scale"] == "C"]
    assert c_row == row("C", "flops", "compute frontier (3 of 3 budgets, 4 runs)", exponent={
        "value": pytest.approx(-0.1, abs=1e-9), "se": pytest.approx(0.0, abs=1e-9),
        "ci_low": pytest.approx(-0.1, abs=1e-9), "ci_high": pytest.approx(-0.1, abs=1e-9)},
        n_points=3, r2_log=pytest.approx(1.0, abs=1e-9))


def test_a_frontier_of_two_budgets_is_no_fit_and_says_how_many_it_has() -> None:
    # At 4 C0 ppl is 100, no lower than the 2 C0 best: the frontier keeps C0 and 2 C0 only.
    (c_row,) = [e for e in table(two_by_two(100.0), "flops") if e["scale"] == "C"]
    assert c_row == row("C", "flops", "compute frontier", exponent=None,
                        reason="the frontier has 2 of 3 FLOP budgets, the power form needs 3")
