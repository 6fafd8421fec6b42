"""compute.py by hand, second part: budget_flops (not the 5% flops chains) groups a sweep's
runs; sizes tied in N keep the CSV's order; fit.json names C "6 N D" without a compute
column; the isoFLOP approach reports its tokens per parameter at the C shared by every
approach even when it rejects a budget; the rejected budgets' diagnostic lists each one; an
unstable fit is one whose leave-one-out shift is strictly above half the interval; and
seed_sd names the file of a bad loss cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit import chinchilla, seeds
from scalecli.fit.compute import (
    Job,
    approach_fits,
    budgets_of,
    compute_fits,
    isoflop_findings,
    seed_sd,
)
from scalecli.fit.diagnostics import Diagnostic
from scalecli.fit.forms import registry
from tests.fit.test_budgets_of import OneRowPerPoint

PATH = Path("/data/results.csv")




def job(rows: list[dict[str, str]], lad=None, n_boot: int = 0) -> Job:
    header = list(rows[0])
    return Job(rows=rows, header=header, path=PATH,
               lad=lad if lad is not None else OneRowPerPoint(len(rows)), x_col="params",
               y_col="val_loss", d_col="tokens", n_boot=n_boot, seed=0, predict_flops=None,
               holdout=0)


def row(n: float, d: float, loss: float, **more: str) -> dict[str, str]:
    return {"params": repr(n), "tokens": repr(d), "val_loss": repr(loss), **more}


def test_budget_flops_groups_runs_whose_flops_are_more_than_5_percent_apart() -> None:
    # a sweep's nominal budget: the runs' exact flops miss it by the rounding of steps and
    # the embeddings' share, here by 20% and 22% (more than the 5% that chains flops alone)
    rows = [row(2e6, 1e9, 3.0, flops="1.2e16", budget_flops="1e16"),
            row(1e6, 1.67e9, 3.1, flops="1e16", budget_flops="1e16"),
            row(8e6, 2e9, 2.7, flops="1.1e17", budget_flops="1e17"),
            row(4e6, 3.75e9, 2.8, flops="9e16", budget_flops="1e17")]
    low, high = budgets_of(job(rows))
    assert (low.nominal, high.nominal) == (1e16, 1e17)
    assert low.flops == pytest.approx(np.sqrt(1e16 * 1.2e16), rel=1e-12)
    assert high.flops == pytest.approx(np.sqrt(9e16 * 1.1e17), rel=1e-12)
    assert np.exp(low.log_n).tolist() == pytest.approx([1e6, 2e6])
    assert low.loss.tolist() == [3.1, 3.0] and high.loss.tolist() == [2.8, 2.7]
    # without budget_flops the same flops make four one-run budgets
    plain = [{k: v for k, v in r.items() if k != "budget_flops"} for r in rows]
    assert [b.flops for b in budgets_of(job(plain))] == pytest.approx([1e16, 1.2e16, 9e16,
                                                                         1.1e17])


def test_sizes_tied_in_n_keep_the_csvs_order() -> None:
    # two shapes with one parameter count (e.g. wide-shallow and narrow-deep) in a budget:
    # a stable sort keeps them in the CSV's order, so the fit does not hang on the sort
    # algorithm (numpy's default sort, vectorised on AVX-512 machines, reorders these ties)
    sizes = [3e6, 1e6, 2e6, 1e6, 1e6, 2e6, 3e6, 1e6]
    rows = [row(n, 1e15 / (6 * n), 3.0 + k / 10, flops="1e15") for k, n in enumerate(sizes)]
    (only,) = budgets_of(job(rows))
    assert np.exp(only.log_n).tolist() == pytest.approx([1e6] * 4 + [2e6] * 2 + [3e6] * 2)
    assert only.loss.tolist() == [3.1, 3.3, 3.4, 3.7, 3.2, 3.5, 3.0, 3.6]


# Hoffmann et al.'s exact law with C = 6 N D: 4 budgets 10^18 to 10^21, 7 sizes 10^0.15
# apart, centred on each budget's true N_opt (compute_optimal), without noise
THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta
FLOPS = np.geomspace(1e18, 1e21, 4)


def law_rows(shift_last: int = 0) -> list[dict[str, str]]:
    """The law's rows; the last budget's sizes moved up by `shift_last` steps of 10^0.15."""
    rows = []
    n_opt = chinchilla.compute_optimal(THETA, FLOPS)["N_opt"]
    for j, (c, n0) in enumerate(zip(FLOPS, n_opt, strict=True)):
        for k in range(-3, 4):
            n = float(n0) * 10 ** (0.15 * (k + (shift_last if j == 3 else 0)))
            d = float(c) / (6 * n)
            loss = float(chinchilla.chinchilla_predict(THETA, np.array([n]), np.array([d]))[0])
            rows.append(row(n, d, loss))
    return rows


def test_without_a_compute_column_fit_json_names_c_6_n_d() -> None:
    rows = law_rows()
    forms = tuple(f for f in registry.selected(registry.COMPUTE) if f.name != "chinchilla")
    fits, notes = approach_fits(forms, job(rows, seeds.ladder(rows, list(rows[0]), "params",
                                                               "tokens")))
    assert sorted(fits) == ["envelope", "isoflop"] and notes == []
    for fit in fits.values():
        assert (fit["x"], fit["y"], fit["d"], fit["c"]) == ("params", "val_loss", "tokens",
                                                            "6 N D")


def test_isoflop_gives_tokens_per_param_at_the_shared_c_when_it_rejects_a_budget() -> None:
    # the last budget's sizes run from 10^0.3 to 10^1.2 times its N_opt: its loss rises
    # throughout, so isoFLOP rejects it; the table still compares the approaches at the
    # geometric middle of all 4 budgets, 10^19.5 (not 10^19, the middle of the 3 accepted)
    rows = law_rows(shift_last=5)
    fits, _, found, _ = compute_fits("isoflop", job(rows, seeds.ladder(
        rows, list(rows[0]), "params", "tokens")))
    iso = fits["isoflop"]
    assert [b["accepted"] for b in iso["budgets"]] == [True, True, True, False]
    assert [d.code for d in found] == ["isoflop_rejected"]
    assert found[0].severity == "info"  # 3 accepted: a still has a check
    tpp = iso["derived"]["tokens_per_param"]
    assert tpp["flops"] == pytest.approx(10**19.5, rel=1e-12)
    # the closed form there: D_opt / N_opt = C / (6 N_opt^2); a parabola's vertex errs by
    # under 1% in N_opt over +-0.45 decades, so under 3% here
    n_opt = chinchilla.compute_optimal(THETA, np.array([10**19.5]))["N_opt"][0]
    assert tpp["value"] == pytest.approx(10**19.5 / (6 * n_opt**2), rel=0.03)


def budget(flops: float, reason: str | None, text: str = "") -> dict:
    return {"flops": flops, "accepted": reason is None, "reason": reason, "reason_text": text}


def test_the_rejected_budgets_are_each_listed() -> None:
    fit = {"budgets": [budget(1e18, "minimum_outside", "the vertex lies below the sizes"),
                       budget(1e19, None), budget(1e20, None),
                       budget(1e21, "one_sided", "1 size below the vertex")]}
    assert isoflop_findings(fit) == [Diagnostic(
        "isoflop_rejected", "warning",
        "2 isoFLOP budget(s) rejected and left out of a and b (2 accepted): C = 1e+18: "
        "minimum_outside (the vertex lies below the sizes); C = 1e+21: one_sided (1 size "
        "below the vertex). Centre each budget's sizes on its expected optimum, with at "
        "least 2 on each side.")]


@pytest.mark.parametrize(("shift", "unstable"), [(0.25, False), (0.3, True)])
def test_unstable_when_one_budget_moves_a_by_more_than_half_its_interval(
        shift: float, unstable: bool) -> None:
    # a's 95% interval [0.25, 0.75]: half-width 0.25, exact in binary
    fit = {"budgets": [budget(c, None) for c in (1e18, 1e19, 1e20)],
           "params": {"a_opt": {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75}},
           "leave_one_out": {"max_shift_a": shift}}
    expected = [Diagnostic(
        "unstable_fit", "warning", "Leaving one isoFLOP budget out moves a by up to 0.300, "
        "more than its 95% interval's half-width 0.250: one budget carries the law.")]
    assert isoflop_findings(fit) == (expected if unstable else [])


def test_seed_sd_names_the_file_of_a_bad_loss() -> None:
    rows = [{"params": "1e6", "tokens": "1e9", "seed": s, "val_loss": v}
            for s, v in (("0", "3.0"), ("1", "nan"))]
    header = list(rows[0])
    with pytest.raises(ScaleError) as caught:
        seed_sd(rows, header, PATH, "val_loss", seeds.ladder(rows, header, "params", "tokens"))
    assert str(caught.value) == (
        "column 'val_loss' in /data/results.csv holds 'nan' (NaN or inf) in row 2 of the "
        "fitted rows; remove that row or filter it out with --where")
