"""Diagnostics worked out by hand, each text whole: seed_outlier on seeds just above and
exactly at robust z = 3.5, with a row without a run_id and one without a seed, and two
configurations that both have an outlier; unstable_fit's leave-one-size-out shift just
above, at and below half b's interval, over every budget whatever the ones before it were."""

from __future__ import annotations

import math

import numpy as np

from scalecli.fit import diagnostics as dg
from scalecli.fit.seeds import robust_z
from scalecli.fit.slices import points, sizes_by_budget
from tests.fit.test_diagnostics import evidence
from tests.fit.test_diagnostics_texts import converged, one

LOOK = ". Look at its curve.csv for a divergence, then rerun it or leave it out with --where."
FAR = "A seed is far from the others of its configuration (robust z > 3.5): "


def seed_run(model: str, n: float, loss: float, seed: int | None, run_id: str | None = None
             ) -> dict[str, str]:
    """A row at lr 1e-2 whose val_loss is `loss` to the last bit; seed None: no seed cell,
    run_id None: no run_id cell."""
    row = {"model": model, "params": f"{n + 30e3:g}", "params_non_embedding": f"{n:g}",
           "tokens": "2e6", "lr": "0.01", "val_loss": repr(loss),
           "val_ppl": repr(math.exp(loss)), "status": "ok"}
    if seed is not None:
        row["seed"] = str(seed)
    if run_id is not None:
        row["run_id"] = run_id
    return row


# ------------------------------------------------------------------------- seed_outlier


def test_seed_outlier_lists_each_configurations_outlier_word_for_word() -> None:
    # The robust z is |loss - median| / max(1.4826 MAD, 0.02) (Iglewicz and Hoaglin's
    # modified z-score, 0.6745 = 1 / 1.4826, floored).
    # s1: 4.00, 4.02, 4.124: median 4.02, deviations 0.02, 0, 0.104, MAD 0.02, scale
    # 1.4826 x 0.02 = 0.029652; 4.124 has z = 0.104 / 0.029652 = 3.507, just above 3.5
    # (4.00: z = 0.67). Its run_id cell is blank, as in a CSV.
    # s2: 4.00, 4.02, 4.04, 4.06, 4.30: median 4.04, MAD 0.02, 4.30 has z = 0.26 / 0.029652
    # = 8.768; its row has no seed cell. The others: 1.35, 0.67, 0, 0.67.
    # s3: 3.979864, 4.0, 4.1044877176: median 4, MAD 0.020136, scale 0.0298536336, and
    # 4.1044877176 is 0.1044877176 = 3.5 x 0.0298536336 above: z = 3.5 exactly, not > 3.5.
    rows = [seed_run("s1", 21.7e3, 4.00, 0, "s1-a"), seed_run("s1", 21.7e3, 4.02, 1, "s1-b"),
            seed_run("s1", 21.7e3, 4.124, 2, ""),
            *(seed_run("s2", 84.9e3, v, s, f"s2-{s}") for s, v in
              enumerate((4.00, 4.02, 4.04, 4.06))), seed_run("s2", 84.9e3, 4.30, None, "s2-x"),
            *(seed_run("s3", 150e3, v, s, f"s3-{s}") for s, v in
              enumerate((3.979864, 4.0, 4.1044877176)))]
    assert robust_z(np.array([3.979864, 4.0, 4.1044877176]))[2] == 3.5  # to the last bit
    assert one(dg.seed_outlier(evidence(rows))) == (
        "seed_outlier", "warning", FAR
        + "(no run_id) (s1, seed 2: 4.1240 against a median of 4.0200, z = 3.5); "
        "s2-x (s2, seed ?: 4.3000 against a median of 4.0400, z = 8.8)" + LOOK)


def test_a_seed_at_robust_z_3_5_is_not_an_outlier_and_one_just_above_is() -> None:
    at = [seed_run("s3", 150e3, v, s, f"s3-{s}")
          for s, v in enumerate((3.979864, 4.0, 4.1044877176))]
    assert robust_z(np.array([3.979864, 4.0, 4.1044877176]))[2] == 3.5  # see above
    assert dg.seed_outlier(evidence(at)) == []
    # 1e-6 further out: z = 0.1044887176 / 0.0298536336 = 3.50003
    above = [*at[:2], seed_run("s3", 150e3, 4.1044887176, 2)]  # and without a run_id cell
    assert one(dg.seed_outlier(evidence(above))) == (
        "seed_outlier", "warning", FAR
        + "(no run_id) (s3, seed 2: 4.1045 against a median of 4.0000, z = 3.5)" + LOOK)


# ------------------------------------------------------------------------- unstable_fit
#
# Four sizes 2^k apart (k = 0..3) on the line log y = 3 - 0.1 ln N, the largest d nats off
# it. With u = k ln 2 the least-squares slope moves by d (k3 - mean k) / Sxx / ln 2: with
# all four sizes (mean 1.5, Sxx 5) by 0.3 d / ln 2, without the largest by nothing, without
# k = 0 (mean 2, Sxx 2) by 0.5 d / ln 2, without k = 1 or 2 (Sxx 42/9) by 2d/7 or 5d/14
# (/ ln 2). b's shifts are those less 0.3 d / ln 2: 0.2 d, -d/70, 2d/35 and -0.3 d (/ ln 2),
# so leaving out the largest moves b the most: by -0.3 d / ln 2.

CARRIES = "one size carries the law; check its runs and add sizes around it."


def line_rows(model: str, n0: float, d: float, tokens: str = "2e6", **extra: str
              ) -> list[dict[str, str]]:
    """Sizes {model}1..{model}4 of N = n0 2^k, the largest one d nats off the line."""
    out = []
    for k in range(4):
        loss = 3.0 - 0.1 * math.log(n0 * 2**k) + (d if k == 3 else 0.0)
        out.append({"run_id": f"{model}{k + 1}-{tokens}", "model": f"{model}{k + 1}",
                    "params_non_embedding": repr(n0 * 2**k), "tokens": tokens, "lr": "0.01",
                    "seed": "0", "val_loss": repr(loss), "val_ppl": repr(math.exp(loss)),
                    "status": "ok", **extra})
    return out


def power_b(lo: float, hi: float) -> dict:
    return {"power": converged({"b": {"value": (lo + hi) / 2, "ci_low": lo, "ci_high": hi}},
                               y="val_ppl")}


def test_unstable_fit_at_and_on_either_side_of_half_the_interval() -> None:
    rows = line_rows("s", 1e5, 0.1)
    shift = -0.03 / math.log(2)  # -0.0432809
    # just above: half-width 0.04328, 8.5e-7 below |shift|
    assert one(dg.unstable_fit(evidence(rows, fits=power_b(-0.15, -0.06344)))) == (
        "unstable_fit", "warning", "Leaving out s4 moves b by -0.0433, more than its 95% "
        "interval's half-width 0.0433: " + CARRIES)
    # just below: half-width 0.04329
    assert dg.unstable_fit(evidence(rows, fits=power_b(-0.15, -0.06342))) == []
    # at: the interval [-4|shift|, -2|shift|] has a half-width of |shift| to the last bit
    (sizes,) = sizes_by_budget(evidence(rows)).values()
    x, ly = points(sizes, "val_ppl")
    got = dg.loo_shifts(x, np.exp(ly))[3]
    assert abs(got - shift) < 1e-12
    assert dg.unstable_fit(evidence(rows, fits=power_b(4 * got, 2 * got))) == []
    assert dg.unstable_fit(evidence(rows, fits=power_b(4 * got, 2 * got - 1e-9))) != []


def test_unstable_fit_checks_every_budget_after_ones_it_skips() -> None:
    # Budgets come in the order of their smallest N. Skipped: three sizes (no dof left
    # without one), an isoFLOP budget (a U in N by design), a budget with a blank val_ppl
    # (no point to fit). Then d = 0.1, 0.02 and -0.2: shifts -0.0433, -0.0087 and +0.0866
    # against a half-width of 0.02, so the first and last are said, in budget order.
    three = line_rows("a", 1.0e5, 1.0, "1e6")[:3]
    iso = line_rows("b", 1.1e5, 1.0, "3e6", budget_flops="1e15")
    blank = line_rows("c", 1.2e5, 1.0, "5e6")
    blank[1]["val_ppl"] = ""
    rows = [*three, *iso, *blank, *line_rows("d", 1.3e5, 0.1, "4e6"),
            *line_rows("e", 1.4e5, 0.02, "8e6"), *line_rows("f", 1.5e5, -0.2, "1.6e7")]
    found = dg.unstable_fit(evidence(rows, fits=power_b(-0.12, -0.08)))
    assert [(d.code, d.severity, d.message) for d in found] == [
        ("unstable_fit", "warning", "Leaving out d4 at 4e+06 tokens moves b by -0.0433, more "
         "than its 95% interval's half-width 0.0200: " + CARRIES),
        ("unstable_fit", "warning", "Leaving out f4 at 1.6e+07 tokens moves b by +0.0866, more "
         "than its 95% interval's half-width 0.0200: " + CARRIES)]
    # each skipped budget on its own would have been said: it is the skip that silences it
    alone = [line_rows("a", 1.0e5, 1.0, "1e6"), line_rows("b", 1.1e5, 1.0, "3e6"),
             line_rows("c", 1.2e5, 1.0, "5e6")]
    assert all(len(dg.unstable_fit(evidence(r, fits=power_b(-0.12, -0.08)))) == 1
               for r in alone)
