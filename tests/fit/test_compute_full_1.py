"""compute.py's approaches side by side, pinned by hand and by an exact law: the table's
tokens per parameter at the shared reference C, approach 3's bootstrap seed, holdout and
reference passed through, a degenerate approach 3 named in the notes, and when the 95%
intervals of a count as disagreeing (closed intervals; every pair compared; each pair
listed in the one diagnostic).

The exact law: Hoffmann et al.'s L = E + A/N^alpha + B/D^beta with C = 6 N D (no compute
column, so approach 3 solves on 6 N D and the closed form N_opt = G (C/6)^a is exact), at
4 budgets of 7 sizes 10^0.15 apart centred on each budget's true N_opt, without noise."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from scalecli.fit import chinchilla, seeds
from scalecli.fit.compute import Job, approach_fits, compute_fits, disagree
from scalecli.fit.forms import registry

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta
FLOPS = np.geomspace(1e18, 1e21, 4)
REFERENCE = 10**19.5  # the geometric middle of FLOPS, where the approaches are compared
SEED = 7  # not analysis.analyse's default (0), so a dropped seed shows


def law_rows(flops: np.ndarray, steps: range) -> list[dict[str, str]]:
    """Rows of the exact law: per budget, sizes 10^(0.15 k) times its true N_opt."""
    rows = []
    for c, n0 in zip(flops, chinchilla.compute_optimal(THETA, flops)["N_opt"], strict=True):
        for k in steps:
            n = float(n0) * 10 ** (0.15 * k)
            d = float(c) / (6 * n)
            loss = float(chinchilla.chinchilla_predict(THETA, np.array([n]), np.array([d]))[0])
            rows.append({"params": repr(n), "tokens": repr(d), "val_loss": repr(loss)})
    return rows


def job_of(rows: list[dict[str, str]]) -> Job:
    header = list(rows[0])
    return Job(rows=rows, header=header, path=Path("/data/results.csv"),
               lad=seeds.ladder(rows, header, "params", "tokens"), x_col="params",
               y_col="val_loss", d_col="tokens", n_boot=0, seed=SEED, predict_flops=None,
               holdout=0)


@cache
def exact_fit() -> tuple:
    """compute_fits('compute') on the exact law (about 1.5 s: approach 3's grid)."""
    return compute_fits(registry.COMPUTE, job_of(law_rows(FLOPS, range(-3, 4))))


def test_the_table_gives_each_approachs_tokens_per_param_at_the_shared_reference() -> None:
    _, table, found, notes = exact_fit()
    # the closed form at C = 10^19.5: N_opt = G (C/6)^a, D_opt = C / (6 N_opt)
    n_opt = chinchilla.compute_optimal(THETA, np.array([REFERENCE]))["N_opt"][0]
    truth = REFERENCE / (6 * n_opt**2)  # 35.85
    assert [r["approach"] for r in table] == ["1: envelope", "2: isoFLOP", "3: parametric"]
    tpp = {r["form"]: r["tokens_per_param"] for r in table}
    assert None not in tpp.values(), tpp  # each row carries its fit's derived block
    for got in tpp.values():  # n_boot 0: a value without an interval
        assert got["flops"] == pytest.approx(REFERENCE, rel=1e-12)
        assert (got["se"], got["ci_low"], got["ci_high"]) == (None, None, None)
    # approach 1: each budget's lowest point is its true N_opt, so its line is exact
    assert tpp["envelope"]["value"] == pytest.approx(truth, rel=1e-9)
    # approach 3 recovers the exact law (its parameters to 1e-7)
    assert tpp["chinchilla"]["value"] == pytest.approx(truth, rel=1e-6)
    # approach 2: a parabola is not the law's slice; over +-0.45 decades its vertex errs
    # by under 1% in N_opt, so under 2% in D_opt / N_opt (measured 1.7% low)
    assert tpp["isoflop"]["value"] == pytest.approx(truth, rel=0.03)
    assert found == [] and notes == []


def test_approach_3_keeps_the_jobs_seed_and_holdout() -> None:
    # A fit of its own, not exact_fit()'s cached one: the mutation harness runs a mutant
    # only against the tests it saw call the mutated function, and a cached result calls
    # nothing (this test passed every mutant of these two arguments under mutmut).
    fits = compute_fits(registry.COMPUTE, job_of(law_rows(FLOPS, range(-3, 4))))[0]
    assert fits["chinchilla"]["bootstrap"] == {"n": 0, "n_ok": 0, "seed": SEED}
    # --holdout 0: no extrapolation check (the default of analyse would hold one size out)
    assert fits["chinchilla"]["extrapolation"] is None
    assert fits["chinchilla"]["extrapolation_note"] == "extrapolation check off (--holdout 0)"


def test_approach_3_on_too_few_points_is_skipped_with_a_note() -> None:
    # one budget of five sizes: the Chinchilla law's five parameters need six points
    fits, notes = approach_fits((registry.get("chinchilla"),),
                                job_of(law_rows(FLOPS[:1], range(-2, 3))))
    assert fits == {}
    assert notes == ["3: parametric (chinchilla) skipped: 5 points, chinchilla needs at least 6"]


def row(name: str, value: float, low: float | None, high: float | None) -> dict:
    return {"approach": name, "a_opt": {"value": value, "se": None, "ci_low": low,
                                        "ci_high": high}}


PREFIX = "The approaches' 95% intervals of a (N_opt ~ C^a) do not overlap: "
SUFFIX = (". One of them is biased by the design: check the isoFLOP budgets' verdicts, and "
          "whether the sizes bracket each optimum.")


def test_intervals_that_touch_overlap_in_either_order() -> None:
    low, high = row("1: envelope", 0.45, 0.40, 0.50), row("2: isoFLOP", 0.55, 0.50, 0.60)
    assert disagree([low, high]) == []
    assert disagree([high, low]) == []


def test_an_approach_without_an_interval_does_not_stop_the_others_being_compared() -> None:
    # approach 2 has no interval (fewer than 10 draws); 1 and 3 still do not overlap
    (found,) = disagree([row("1: envelope", 0.42, 0.40, 0.44),
                         row("2: isoFLOP", 0.5, None, None),
                         row("3: parametric", 0.62, 0.60, 0.64)])
    assert (found.code, found.severity) == ("approaches_disagree", "warning")
    assert found.message == (PREFIX + "approach 1: envelope gives a = 0.420 [0.400, 0.440], "
                             "approach 3: parametric 0.620 [0.600, 0.640]" + SUFFIX)


def test_every_pair_that_disagrees_is_listed_in_one_diagnostic() -> None:
    (found,) = disagree([row("1: envelope", 0.42, 0.40, 0.44),
                         row("2: isoFLOP", 0.52, 0.50, 0.54),
                         row("3: parametric", 0.62, 0.60, 0.64)])
    assert found.message == (
        PREFIX + "approach 1: envelope gives a = 0.420 [0.400, 0.440], approach 2: isoFLOP "
        "0.520 [0.500, 0.540]; approach 1: envelope gives a = 0.420 [0.400, 0.440], "
        "approach 3: parametric 0.620 [0.600, 0.640]; approach 2: isoFLOP gives a = 0.520 "
        "[0.500, 0.540], approach 3: parametric 0.620 [0.600, 0.640]" + SUFFIX)
