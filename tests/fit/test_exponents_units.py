"""fit.exponents by hand: which points each scale's power fit gets, what its row says it
was measured at, and why a design lacks a scale (the exact words a user reads)."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import exponents as ex


def slope_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """A power fit stand-in: the log-log slope, with the points it got."""
    b = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    return {"converged": True, "n_points": x.size, "r2_log": 1.0, "x_seen": x.tolist(),
            "params": {"b": {"value": b, "se": 0.01, "ci_low": b - 0.02, "ci_high": b + 0.02,
                             "extra": 1}}}


def test_an_entry_is_a_fit_or_its_reason() -> None:
    got = ex._entry("N", "params", "val_ppl", "tokens = 1e+09", slope_fit(
        np.array([1.0, 10.0, 100.0]), np.array([100.0, 50.0, 25.0])))
    b = np.log10(0.5)
    assert got == {"scale": "N", "x": "params", "y": "val_ppl", "at": "tokens = 1e+09",
                   "kind": "power slope",
                   "quantity": "b of val_ppl = k params^b (d ln val_ppl / d ln params)",
                   "exponent": {"value": pytest.approx(b), "se": 0.01,
                                "ci_low": pytest.approx(b - 0.02),
                                "ci_high": pytest.approx(b + 0.02)},
                   "n_points": 3, "r2_log": 1.0}
    failed = ex._entry("N", "x", "y", "at", {"converged": False, "message": "singular"})
    assert failed["exponent"] is None and failed["reason"] == "singular"
    assert ex._entry("N", "x", "y", "at", {"converged": False})["reason"] == "no fit"
    assert ex._entry("N", "x", "y", "at")["reason"] == "no fit"
    assert ex._entry("N", "x", "y", "at", reason="why")["reason"] == "why"


def test_along_n_fits_each_token_budget_with_three_sizes() -> None:
    n = np.array([1.0, 10.0, 100.0, 1.0, 10.0, 1.0, 10.0, 100.0])
    d = np.array([1e9, 1e9, 1e9, 2e9, 2e9, 4e9, 4e9, 4e9])
    y = 50.0 * n ** -0.1 * np.array([1, 1, 1, 1, 1, 2, 2, 2.0])
    out = ex.along_n(n, d, y, "params", "val_ppl", "tokens", slope_fit)
    assert [e["at"] for e in out] == ["tokens = 1e+09", "tokens = 4e+09"]
    assert [e["exponent"]["value"] for e in out] == pytest.approx([-0.1, -0.1])
    # one budget holds every point: the whole power fit (with the seeds' noise) is reused
    whole = {**slope_fit(n[:3], y[:3]), "x": "params", "params": {"b": {
        "value": -0.5, "se": None, "ci_low": None, "ci_high": None}}}
    (entry,) = ex.along_n(n[:3], d[:3], y[:3], "params", "val_ppl", "tokens", slope_fit,
                          whole)
    assert entry["exponent"]["value"] == -0.5
    other_x = {**whole, "x": "params_non_embedding"}
    (entry,) = ex.along_n(n[:3], d[:3], y[:3], "params", "val_ppl", "tokens", slope_fit,
                          other_x)
    assert entry["exponent"]["value"] == pytest.approx(-0.1)
    (entry,) = ex.along_n(n, d, y, "params", "val_ppl", "tokens", slope_fit, whole)[:1]
    assert entry["exponent"]["value"] == pytest.approx(-0.1)  # not all points: its own fit


def test_along_n_without_a_budget_of_three_sizes_says_why() -> None:
    n = np.array([1.0, 10.0, 100.0, 1000.0])
    d = np.array([1e9, 1e9, 2e9, 3e9])
    (entry,) = ex.along_n(n, d, n, "params", "val_ppl", "tokens", slope_fit)
    assert entry["at"] == "fixed tokens" and entry["exponent"] is None
    assert entry["reason"] == (
        "no tokens value has 3 sizes (at most 2): each size was trained on its own D (an "
        "isoFLOP design, or tokens_per_param), so N and D moved together. The N dependence "
        "is in a and alpha; for the N exponent at a fixed D, train 3+ sizes on one "
        "budget.tokens")


def test_along_d_fits_each_size_with_three_token_budgets_smallest_first() -> None:
    labels = np.array(["b", "b", "b", "a", "a", "a", "c", "c"], dtype=object)
    n = np.array([2e6] * 3 + [1e6] * 3 + [3e6] * 2)
    d = np.array([1e9, 2e9, 4e9, 1e9, 2e9, 4e9, 1e9, 2e9])
    y = 30.0 * d ** np.where(labels == "a", -0.2, -0.1)
    out = ex.along_d(n, d, y, labels, "val_ppl", "tokens", slope_fit)
    assert [e["at"] for e in out] == ["a (N = 1e+06)", "b (N = 2e+06)"]
    assert [e["x"] for e in out] == ["tokens", "tokens"]
    assert [e["exponent"]["value"] for e in out] == pytest.approx([-0.2, -0.1])
    (entry,) = ex.along_d(n[6:], d[6:], y[6:], labels[6:], "val_ppl", "tokens", slope_fit)
    assert entry["at"] == "fixed N" and entry["reason"] == (
        "no size was trained on 3 token budgets (at most 2); for the D exponent, give "
        "budget.tokens a grid (schedule: wsd trains it as branches of one run per size)")


def test_along_c_on_the_frontier_or_why_not() -> None:
    n = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    d = np.array([1.0, 1.0, 2.0, 2.0, 4.0, 4.0])
    c = 6 * n * d
    y = np.array([5.0, 4.5, 4.0, 3.5, 3.2, 3.0])
    entry = ex.along_c(n, d, c, y, "flops", "val_ppl", slope_fit)
    # budgets at C = 6, 12 (two runs), 24 (two runs), 48: each below the cheaper ones
    assert entry["at"] == "compute frontier (4 of 4 budgets, 6 runs)"
    assert entry["x"] == "flops" and entry["n_points"] == 4
    # a size alone, or a budget alone, is not a compute frontier
    alone = ex.along_c(n[::2], d[::2], c[::2], y[::2], "flops", "val_ppl", slope_fit)
    assert alone["reason"] == (
        "the runs span 1 size(s) and 3 token budget(s): with one of either, C moves with "
        "the other alone and L(C) is L(N) or L(D) under another name. Train several sizes "
        "on several budgets (an isoFLOP design or a token grid)")
    assert ex.along_c(n[:2], d[:2], c[:2], y[:2], "flops", "y", slope_fit)["reason"] \
        .startswith("the runs span 2 size(s) and 1 token budget(s)")
    assert ex.along_c(n, d, None, y, None, "val_ppl", slope_fit) == {
        "scale": "C", "x": "flops", "y": "val_ppl", "at": "compute frontier",
        "kind": "power slope",
        "quantity": "b of val_ppl = k flops^b (d ln val_ppl / d ln flops)",
        "exponent": None, "reason": "the CSV has no flops or flops_6nd column"}
    worse = np.array([5.0, 4.5, 6.0, 6.0, 7.0, 7.0])  # only the cheapest budgets are low
    short = ex.along_c(n, d, c, worse, "flops", "val_ppl", slope_fit)
    assert short["reason"] == "the frontier has 2 of 4 FLOP budgets, the power form needs 3"


def test_compute_optimal_rows_from_approach_2() -> None:
    iso = {"converged": True, "budgets": [{"accepted": True}, {"accepted": False},
                                          {"accepted": True}],
           "params": {"a_opt": {"value": 0.45, "se": 0.01, "ci_low": 0.43, "ci_high": 0.47,
                                "x": 1},
                      "b_opt": {"value": 0.55, "se": 0.01, "ci_low": 0.53, "ci_high": 0.57}}}
    a, b = ex.compute_optimal(iso)
    assert a == {"scale": "N_opt(C)", "x": "flops", "y": "N_opt",
                 "at": "isoFLOP budgets (2 accepted)", "kind": "compute-optimal exponent",
                 "quantity": "a of N_opt ~ C^a",
                 "exponent": {"value": 0.45, "se": 0.01, "ci_low": 0.43, "ci_high": 0.47}}
    assert b["quantity"] == "b of D_opt ~ C^b" and b["exponent"]["value"] == 0.55
    none_a, _ = ex.compute_optimal(None)
    assert none_a["exponent"] is None and none_a["at"] == "isoFLOP budgets"
    assert none_a["reason"] == ("the CSV has no budget_flops: add budget: {flops: [...]} to "
                                "the sweep for the compute-optimal a and b")
    failed_a, _ = ex.compute_optimal({"converged": False, "message": "1 budget(s) accepted"})
    assert failed_a["reason"] == "1 budget(s) accepted"
    assert ex.compute_optimal({"converged": True, "params": {}})[0]["reason"] == "no fit"


def test_parametric_rows_are_minus_alpha_and_minus_beta() -> None:
    chin = {"converged": True, "x": "params", "d": "tokens", "y": "val_loss", "n_points": 30,
            "r2_log": 0.99, "params": {
                "alpha": {"value": 0.34, "se": 0.02, "ci_low": 0.3, "ci_high": 0.4},
                "beta": {"value": 0.28, "se": None, "ci_low": None, "ci_high": 0.35}}}
    alpha, beta = ex.parametric(chin)
    assert alpha == {"scale": "N", "x": "params", "y": "val_loss",
                     "at": "parametric (-alpha), every run", "kind": "reducible-loss exponent",
                     "quantity": "-alpha of A / N^alpha in L - E = A / N^alpha + B / D^beta",
                     "exponent": {"value": -0.34, "se": 0.02, "ci_low": -0.4,
                                  "ci_high": -0.3},
                     "n_points": 30, "r2_log": 0.99}
    assert beta["x"] == "tokens" and beta["at"] == "parametric (-beta), every run"
    assert beta["quantity"] == "-beta of B / D^beta in L - E = A / N^alpha + B / D^beta"
    assert beta["exponent"] == {"value": -0.28, "se": None, "ci_low": -0.35, "ci_high": None}
    assert ex.parametric(None) == [] and ex.parametric({"converged": False}) == []
    no_beta = {**chin, "params": {"alpha": chin["params"]["alpha"]}}
    assert [r["scale"] for r in ex.parametric(no_beta)] == ["N"]


class OneRowPerPoint:
    """A seeds.Ladder of one row per configuration."""

    @staticmethod
    def first(values: np.ndarray) -> np.ndarray:
        return values

    mean = first


def test_the_table_reuses_the_power_fit_of_the_same_y_only() -> None:
    rows = [{"model": f"m{k}", "params": str(n), "tokens": "1e9", "val_ppl": str(y)}
            for k, (n, y) in enumerate([(1e6, 40.0), (1e7, 32.0), (1e8, 25.6)])]
    header = ["model", "params", "tokens", "val_ppl"]
    power = {"x": "params", "y": "val_ppl", "converged": True, "n_points": 3, "r2_log": 1.0,
             "params": {"b": {"value": -0.5, "se": None, "ci_low": None, "ci_high": None}}}

    def table(fits: dict) -> list[dict]:
        return ex.exponents(rows, header, OneRowPerPoint(), "params", "val_ppl", "tokens",
                            None, slope_fit, fits)

    got = table({"power": power})
    assert [e["scale"] for e in got] == ["N", "D", "C", "N_opt(C)", "D_opt(C)"]
    assert got[0]["exponent"]["value"] == -0.5  # the whole fit, as `fit --form power`
    other = table({"power": {**power, "y": "val_loss"}})
    assert other[0]["exponent"]["value"] == pytest.approx(np.log10(0.8))  # its own fit
    assert got[1]["reason"].startswith("no size was trained on 3 token budgets (at most 1)")
    assert got[2]["reason"] == "the CSV has no flops or flops_6nd column"


def test_rows_without_a_number_are_left_out_and_the_frontier_row_names_y() -> None:
    rows = [{"model": f"m{k}", "params": n, "tokens": "1e9", "flops": "1", "val_ppl": y}
            for k, (n, y) in enumerate([("1e6", "40"), ("1e7", "32"), ("1e8", "25.6"),
                                        ("", "20")])]
    header = ["model", "params", "tokens", "flops", "val_ppl"]
    got = ex.exponents(rows, header, OneRowPerPoint(), "params", "val_ppl", "tokens",
                       "flops", slope_fit, {})
    assert got[0]["n_points"] == 3  # the row without params is not a point
    assert got[0]["exponent"]["value"] == pytest.approx(np.log10(0.8))
    assert got[2]["scale"] == "C" and got[2]["y"] == "val_ppl" and got[2]["x"] == "flops"
    # no points at all: no token budget has sizes, "at most 0"
    (entry,) = ex.along_n(np.array([]), np.array([]), np.array([]), "params", "val_ppl",
                          "tokens", slope_fit)
    assert entry["reason"].startswith("no tokens value has 3 sizes (at most 0)")
