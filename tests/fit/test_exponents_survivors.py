"""The exponents table, the compute approaches' findings and the diagnostics that read a fit's
own y, by the numbers and words a user reads: a frontier grouped by budget_flops, a failed
isoFLOP fit's rows whole, the parametric beta's scale, the disagreement's full text, when a
rejected budget is a warning, and the rules that test the column the power law was fitted on.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import compute, diagnostics
from scalecli.fit import exponents as ex
from scalecli.fit.slices import Evidence
from tests.fit.test_exponents_units import OneRowPerPoint


def slope_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """A power fit stand-in: the least-squares log-log slope b of y = k x^b."""
    b = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    return {"converged": True, "n_points": x.size, "r2_log": 1.0,
            "params": {"b": {"value": b, "se": 0.01, "ci_low": b - 0.02, "ci_high": b + 0.02}}}


def test_the_frontier_groups_runs_by_budget_flops_when_the_csv_has_it() -> None:
    # Three budgets; each runs 3 sizes whose C are 0.9x, 1x and 1.1x the nominal (more than
    # the 5% that C alone would join), the middle one best, its perplexity 100 (C/1e15)^-0.1.
    # By budget_flops the frontier is the three budgets' best runs at each budget's C
    # (nominal x a constant), so the slope is exactly -0.1; by C alone they would be 9.
    rows = []
    for nominal in (1e15, 1e16, 1e17):
        best = 100.0 * (nominal / 1e15) ** -0.1
        for n, f, ppl in ((1e6, 0.9, 1.05 * best), (2e6, 1.0, best), (4e6, 1.1, 1.05 * best)):
            c = f * nominal
            rows.append({"model": f"m{n:.0e}", "params": repr(n), "tokens": repr(c / (6 * n)),
                         "flops": repr(c), "budget_flops": repr(nominal), "val_ppl": repr(ppl)})
    header = list(rows[0])
    got = ex.exponents(rows, header, OneRowPerPoint(), "params", "val_ppl", "tokens", "flops",
                       slope_fit, {})
    (c_row,) = [e for e in got if e["scale"] == "C"]
    assert c_row["at"] == "compute frontier (3 of 3 budgets, 9 runs)"
    assert c_row["n_points"] == 3
    assert c_row["exponent"]["value"] == pytest.approx(-0.1, rel=1e-9)


def test_a_failed_isoflop_fit_gives_rows_with_no_exponent_and_its_message() -> None:
    a, b = ex.compute_optimal({"converged": False, "message": "1 budget(s) accepted"})
    assert a == {"scale": "N_opt(C)", "x": "flops", "y": "N_opt", "at": "isoFLOP budgets",
                 "kind": "compute-optimal exponent", "quantity": "a of N_opt ~ C^a",
                 "exponent": None, "reason": "1 budget(s) accepted"}
    assert b == {"scale": "D_opt(C)", "x": "flops", "y": "D_opt", "at": "isoFLOP budgets",
                 "kind": "compute-optimal exponent", "quantity": "b of D_opt ~ C^b",
                 "exponent": None, "reason": "1 budget(s) accepted"}


def test_the_parametric_beta_row_is_on_the_d_scale() -> None:
    chin = {"converged": True, "x": "params", "d": "tokens", "y": "val_loss", "n_points": 30,
            "r2_log": 0.99, "params": {
                "alpha": {"value": 0.34, "se": 0.02, "ci_low": 0.3, "ci_high": 0.4},
                "beta": {"value": 0.28, "se": 0.01, "ci_low": 0.26, "ci_high": 0.3}}}
    alpha, beta = ex.parametric(chin)
    assert alpha["scale"] == "N"
    assert beta == {"scale": "D", "x": "tokens", "y": "val_loss",
                    "at": "parametric (-beta), every run", "kind": "reducible-loss exponent",
                    "quantity": "-beta of B / D^beta in L - E = A / N^alpha + B / D^beta",
                    "exponent": {"value": -0.28, "se": 0.01, "ci_low": -0.3, "ci_high": -0.26},
                    "n_points": 30, "r2_log": 0.99}


def approach(name: str, value: float, low: float, high: float) -> dict:
    return {"approach": name, "a_opt": {"value": value, "ci_low": low, "ci_high": high}}


def test_approaches_that_disagree_say_so_in_full() -> None:
    (found,) = compute.disagree([approach("1: envelope", 0.5, 0.48, 0.52),
                                 approach("2: isoFLOP", 0.6, 0.58, 0.62)])
    assert found.code == "approaches_disagree" and found.severity == "warning"
    assert found.message == (
        "The approaches' 95% intervals of a (N_opt ~ C^a) do not overlap: approach 1: "
        "envelope gives a = 0.500 [0.480, 0.520], approach 2: isoFLOP 0.600 [0.580, 0.620]. "
        "One of them is biased by the design: check the isoFLOP budgets' verdicts, and "
        "whether the sizes bracket each optimum.")


@pytest.mark.parametrize(("accepted", "severity"), [(2, "warning"), (3, "info")])
def test_a_rejected_budget_warns_only_when_fewer_than_three_are_left(accepted: int,
                                                                     severity: str) -> None:
    # three accepted budgets still check the line of a; two would not
    budgets = [{"flops": 1e18 * 10**k, "accepted": True} for k in range(accepted)]
    budgets.append({"flops": 1e21, "accepted": False, "reason": "edge",
                    "reason_text": "the optimum is at the largest size"})
    (found,) = compute.isoflop_findings({"budgets": budgets})
    assert (found.code, found.severity) == ("isoflop_rejected", severity)
    assert found.message.startswith(f"1 isoFLOP budget(s) rejected and left out of a and b "
                                    f"({accepted} accepted): C = 1e+21: edge (the optimum is "
                                    "at the largest size).")


def test_a_flat_curve_fitted_exactly_has_no_curvature() -> None:
    # every log y 0: the quadratic fit is exact, its residuals and its c2 exactly 0
    lx = np.log(np.geomspace(1e6, 1.6e7, 5))
    assert diagnostics.curvature_p(lx, np.zeros(5)) == 1.0


SIZES = 1e6 * 2.0 ** np.arange(5)


def evidence(log_ppl: np.ndarray, fits: dict) -> Evidence:
    """One token budget of sizes m1, m2, ... with val_ppl = exp(log_ppl). Evidence's y_col
    is a column the rows lack: only the fit's own y (val_ppl) can be read."""
    rows = [{"model": f"m{k + 1}", "params_non_embedding": repr(float(n)), "tokens": "1e9",
             "val_loss": repr(float(v)), "val_ppl": repr(float(np.exp(v)))}
            for k, (n, v) in enumerate(zip(SIZES[:len(log_ppl)], log_ppl, strict=True))]
    return Evidence(rows=rows, header=list(rows[0]), x_col="params_non_embedding",
                    y_col="val_bpb", fits=fits, predict=None, data_summary=None)


def test_a_bend_is_looked_for_in_the_y_the_power_law_was_fitted_on() -> None:
    u = np.log(SIZES / SIZES[0])
    ev = evidence(3.0 - 0.1 * u + 0.05 * u**2,  # a parabola in log-log: p of c2 is ~0
                  {"power": {"converged": True, "r2_log": 0.99, "y": "val_ppl"}})
    (found,) = diagnostics.poor_fit(ev)
    assert (found.code, found.severity) == ("poor_fit", "warning")
    assert found.message.startswith("The power law fits poorly: m1 to m5 bend in log-log "
                                    "space (quadratic term p = 0.000). ")


def test_leaving_a_size_out_is_tried_on_the_y_the_power_law_was_fitted_on() -> None:
    u = np.log(SIZES[:4] / SIZES[0])
    log_ppl = 3.0 - 0.1 * u - np.array([0.0, 0.0, 0.0, 0.3])  # the largest size carries b
    b = {"value": -0.2, "se": 0.005, "ci_low": -0.21, "ci_high": -0.19}  # half-width 0.01
    ev = evidence(log_ppl, {"power": {"converged": True, "y": "val_ppl", "params": {"b": b}}})
    # b of the least-squares line in log-log, with each size left out in turn
    slope = np.polyfit(u, log_ppl, 1)[0]
    shifts = [np.polyfit(np.delete(u, k), np.delete(log_ppl, k), 1)[0] - slope
              for k in range(4)]
    worst = int(np.argmax(np.abs(shifts)))
    assert worst == 3 and shifts[worst] > 0.01
    assert [d.message for d in diagnostics.unstable_fit(ev)] == [
        f"Leaving out m4 moves b by {shifts[worst]:+.4f}, more than its 95% interval's "
        "half-width 0.0100: one size carries the law; check its runs and add sizes around it."]
