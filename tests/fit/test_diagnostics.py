"""The rules that say when not to trust a fit: for every code, a case that triggers it and
one that does not, on tiny hand-built rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalecli.fit import diagnostics as dg
from scalecli.fit.analysis import analyse

HEADER = ["run_id", "model", "params", "params_non_embedding", "tokens", "lr", "seed",
          "val_loss", "val_ppl", "status"]
# The default sweep's ladder (README, "What the default sweep gives"): N and val_loss.
LADDER = [("s1", 21.7e3, 4.2942), ("s2", 84.9e3, 4.1406), ("s3", 150e3, 4.0739),
          ("s4", 336e3, 3.9927), ("s5", 793e3, 3.9067)]


def row(model: str, n: float, loss: float, *, tokens: float = 2e6, lr: float = 1e-2,
        seed: int = 0, params: float | None = None) -> dict[str, str]:
    return {
        "run_id": f"{model}-lr{lr:g}-seed{seed}-t{tokens:g}", "model": model,
        "params": f"{params if params is not None else n + 30e3:g}",
        "params_non_embedding": f"{n:g}", "tokens": f"{tokens:g}", "lr": f"{lr:g}",
        "seed": str(seed), "val_loss": f"{loss:.6f}", "val_ppl": f"{math.exp(loss):.6f}",
        "status": "ok",
    }


def ladder(**kwargs) -> list[dict[str, str]]:
    return [row(m, n, loss, **kwargs) for m, n, loss in LADDER]


def power_fits(rows: list[dict[str, str]]) -> dict:
    """fit.json's "fits" for these rows, as the driver builds it (small bootstrap)."""
    x = np.array([float(r["params_non_embedding"]) for r in rows])
    y = np.array([float(r["val_ppl"]) for r in rows])
    result = analyse("power", x, y, n_boot=50, holdout=0)
    return {"power": {"form": "power", "x": "params_non_embedding", "y": "val_ppl", **result}}


def evidence(rows, *, header=HEADER, fits=None, predict=None, data_summary=None,
             y_col="val_ppl") -> dg.Evidence:
    return dg.Evidence(rows=rows, header=header, x_col="params_non_embedding", y_col=y_col,
                       fits=fits or {}, predict=predict, data_summary=data_summary)


def codes(found: list[dg.Diagnostic]) -> list[str]:
    return [d.code for d in found]


def test_to_json_has_the_three_keys():
    d = dg.Diagnostic("lr_edge", "warning", "s1 at lr 0.01")
    assert d.to_json() == {"code": "lr_edge", "severity": "warning", "message": "s1 at lr 0.01"}


def test_a_healthy_sweep_raises_no_warning():
    rows = ladder()
    found = dg.diagnose(evidence(rows, fits=power_fits(rows), predict=[5e6],
                                 data_summary={"train_tokens": 10_000_000}))
    assert [d for d in found if d.severity == "warning"] == []
    assert codes(found) == ["data_limited"]  # 2M tokens: ~2.4 tokens per parameter


def test_diagnose_keeps_a_fixed_order_and_notes_what_it_skipped():
    rows = [{"article_len": str(n), "sentence_len": str(20 - n)} for n in (1, 2, 4, 8)]
    ev = dg.Evidence(rows, ["article_len", "sentence_len"], "article_len", "sentence_len",
                     {}, None, None)
    found = dg.diagnose(ev)
    assert codes(found) == ["skipped"] * 5
    assert all(d.severity == "info" for d in found)
    rules = [d.message.split(" skipped")[0] for d in found]
    assert rules == ["multi_epoch", "data_limited", "lr_edge", "within_noise", "seed_outlier"]


# ------------------------------------------------------------------------- non_monotone


def test_non_monotone_names_the_sizes():
    rows = ladder()
    rows[2] = row("s3", 150e3, 4.20)  # better than s1 (4.29), worse than s2 (4.14)
    found = dg.non_monotone(evidence(rows))
    assert codes(found) == ["non_monotone"] and found[0].severity == "warning"
    assert "s3 (4.2000) is worse than the smaller s2 (4.1406)" in found[0].message


def test_non_monotone_ignores_an_increase_within_the_seed_noise():
    pair = ((0, 0.03), (1, -0.03))  # two seeds 0.06 apart: a seed sd of 0.042
    rows = [row(m, n, loss + d, seed=s) for m, n, loss in LADDER for s, d in pair]
    rows[4:6] = [row("s3", 150e3, 4.15 + d, seed=s) for s, d in pair]
    assert dg.non_monotone(evidence(rows)) == []  # 4.15 > 4.1406 by 0.01 < 2 x 0.042
    assert dg.non_monotone(evidence(ladder())) == []


def test_non_monotone_takes_the_best_lr_of_each_size():
    rows = [*ladder(), row("s3", 150e3, 4.6, lr=3e-2)]  # a bad lr is not the size's loss
    assert dg.non_monotone(evidence(rows)) == []


def test_sizes_are_compared_within_one_budget():
    # s1 at 8M tokens beats s2 at 2M, but that is the budget, not the size.
    rows = [*ladder()[:2], row("s1", 21.7e3, 4.00, tokens=8e6)]
    assert dg.non_monotone(evidence(rows)) == []
    rows.append(row("s2", 84.9e3, 4.05, tokens=8e6))
    found = dg.non_monotone(evidence(rows))
    assert "s2 at 8e+06 tokens (4.0500) is worse than the smaller s1 at 8e+06" in found[0].message


# -------------------------------------------------------------------------- multi_epoch


def test_multi_epoch_is_info_up_to_four_epochs_and_a_warning_beyond():
    info = dg.multi_epoch(evidence(ladder(), data_summary={"train_tokens": 1_840_000}))
    assert codes(info) == ["multi_epoch"] and info[0].severity == "info"
    assert "1.09 epochs" in info[0].message
    warn = dg.multi_epoch(evidence(ladder(tokens=1e7), data_summary={"train_tokens": 2_000_000}))
    assert warn[0].severity == "warning" and "5.00 epochs" in warn[0].message


def test_multi_epoch_is_silent_within_one_epoch():
    assert dg.multi_epoch(evidence(ladder(), data_summary={"train_tokens": 10_000_000})) == []
    assert dg.epochs_message(1e6, 2_000_000) is None
    assert dg.epochs_message(1e7, 2_000_000).severity == "warning"


def test_multi_epoch_is_skipped_without_data_json():
    found = dg.multi_epoch(evidence(ladder(), data_summary=None))
    assert codes(found) == ["skipped"] and found[0].severity == "info"
    assert found[0].message.startswith("multi_epoch skipped") and "data.json" in found[0].message


# ------------------------------------------------------------------------- data_limited


def test_data_limited_gives_the_tokens_per_parameter_of_the_largest_size():
    found = dg.data_limited(evidence(ladder()))
    assert codes(found) == ["data_limited"] and found[0].severity == "info"
    assert "s5" in found[0].message and "2.4 tokens per parameter" in found[0].message


def test_data_limited_is_silent_at_twenty_tokens_per_parameter():
    assert dg.data_limited(evidence(ladder(tokens=1e8))) == []


def test_data_limited_is_skipped_without_a_params_column():
    header = [c for c in HEADER if c != "params"]
    found = dg.data_limited(evidence(ladder(), header=header))
    assert codes(found) == ["skipped"] and "params" in found[0].message


# ------------------------------------------------------------------------------ lr_edge


def lr_grid(losses: tuple[float, float, float]) -> list[dict[str, str]]:
    return [row("s2", 84.9e3, loss, lr=lr) for lr, loss in zip((3e-3, 1e-2, 3e-2), losses,
                                                                strict=True)]


def test_lr_edge_names_the_size_and_the_lr():
    found = dg.lr_edge(evidence([*ladder()[:1], *lr_grid((4.10, 4.14, 4.30))]))
    assert codes(found) == ["lr_edge"] and found[0].severity == "warning"
    assert "s2 at lr 0.003 (the smallest of 3 tried)" in found[0].message


def test_lr_edge_is_silent_with_the_best_lr_inside_the_grid_or_no_grid():
    assert dg.lr_edge(evidence(lr_grid((4.20, 4.14, 4.30)))) == []
    assert dg.lr_edge(evidence(lr_grid((4.10, 4.14, 4.30))[:2])) == []  # two lrs: no grid
    header = [c for c in HEADER if c != "lr"]
    assert codes(dg.lr_edge(evidence(ladder(), header=header))) == ["skipped"]


# ----------------------------------------------------------------------------- poor_fit


def test_poor_fit_flags_a_curve_in_log_log():
    # A saturating loss, E + A N^-alpha, bends away from a line in log ppl vs log N even
    # where R^2 looks fine (0.982 here).
    n = np.logspace(4, 6, 5)
    rows = [row(f"m{i}", v, 3.0 + 5.0 * v**-0.2) for i, v in enumerate(n)]
    found = dg.poor_fit(evidence(rows, fits=power_fits(rows)))
    assert codes(found) == ["poor_fit"] and found[0].severity == "warning"
    assert "R^2" not in found[0].message
    assert "m0 to m4 bend in log-log space (quadratic term p = 0.003)" in found[0].message


def test_poor_fit_flags_a_low_r2():
    rows = ladder()
    fits = power_fits(rows)
    fits["power"]["r2_log"] = 0.87
    found = dg.poor_fit(evidence(rows, fits=fits))
    assert codes(found) == ["poor_fit"] and "R^2 (log) 0.870 < 0.95" in found[0].message
    assert "try --form saturating" in found[0].message


def test_poor_fit_on_runs_of_several_budgets_says_to_fit_one_or_model_d():
    # An isoFLOP design's runs differ in D too: a law in N alone cannot follow them.
    rows = [*ladder(), *ladder(tokens=8e6)]
    fits = power_fits(ladder())
    fits["power"]["r2_log"] = 0.01
    (found,) = dg.poor_fit(evidence(rows, fits=fits))
    assert "--where tokens=" in found.message and "--form chinchilla or compute" in found.message


def test_poor_fit_is_silent_on_a_straight_power_law():
    n = np.logspace(4, 6, 5)
    rows = [row(f"m{i}", v, math.log(200.0 * v**-0.1) + 0.003 * (-1) ** i)
            for i, v in enumerate(n)]
    assert dg.poor_fit(evidence(rows, fits=power_fits(rows))) == []
    assert dg.curvature_p(np.log(n[:3]), np.zeros(3)) is None  # three sizes: no test


# ------------------------------------------------------------------------- within_noise


def seeded(losses: dict[str, tuple[float, float]]) -> list[dict[str, str]]:
    sizes = {m: n for m, n, _ in LADDER}
    return [row(m, sizes[m], loss, seed=s) for m, pair in losses.items()
            for s, loss in enumerate(pair)]


def test_within_noise_names_neighbours_closer_than_two_seed_sds():
    rows = seeded({"s1": (4.30, 4.26), "s2": (4.16, 4.12), "s3": (4.15, 4.11)})
    found = dg.within_noise(evidence(rows))
    assert codes(found) == ["within_noise"] and found[0].severity == "warning"
    assert "s2 and s3" in found[0].message and "s1 and s2" not in found[0].message


def test_an_outlier_seed_does_not_inflate_the_noise_floor():
    rows = [row(m, n, loss + d, seed=s) for m, n, loss in LADDER
            for s, d in ((0, 0.01), (1, -0.01), (2, 0.0))]
    rows[-1] = row("s5", 793e3, 5.0, seed=2)  # a diverged run
    ev = evidence(rows)
    assert codes(dg.seed_outlier(ev)) == ["seed_outlier"]
    assert dg.within_noise(ev) == []
    # The fit keeps that run, so s5's mean is worse than s4's: that is real, and said.
    assert "s5 (4.2711) is worse than the smaller s4" in dg.non_monotone(ev)[0].message


def test_within_noise_is_silent_when_sizes_stand_apart_or_there_is_one_seed():
    rows = seeded({"s1": (4.30, 4.29), "s2": (4.15, 4.14), "s3": (4.00, 4.01)})
    assert dg.within_noise(evidence(rows)) == []
    assert dg.within_noise(evidence(ladder())) == []  # one seed each: nothing to say
    header = [c for c in HEADER if c != "seed"]
    assert codes(dg.within_noise(evidence(ladder(), header=header))) == ["skipped"]


# ------------------------------------------------------------------------- seed_outlier


def test_seed_outlier_names_the_run():
    rows = [row("s2", 84.9e3, loss, seed=s) for s, loss in enumerate((4.14, 4.15, 4.60))]
    found = dg.seed_outlier(evidence(rows))
    assert codes(found) == ["seed_outlier"] and found[0].severity == "warning"
    assert rows[2]["run_id"] in found[0].message
    assert rows[0]["run_id"] not in found[0].message


def test_seed_outlier_is_silent_on_agreeing_seeds_and_floors_a_zero_mad():
    rows = [row("s2", 84.9e3, loss, seed=s) for s, loss in enumerate((4.14, 4.15, 4.16))]
    assert dg.seed_outlier(evidence(rows)) == []
    # Two identical seeds make the MAD 0; a third 0.01 nats off is rounding, not an outlier.
    rows = [row("s2", 84.9e3, loss, seed=s) for s, loss in enumerate((4.14, 4.14, 4.15))]
    assert dg.seed_outlier(evidence(rows)) == []
    assert dg.seed_outlier(evidence(rows[:2])) == []  # two seeds: no median to stand on


# -------------------------------------------------------------------- far_extrapolation


def test_far_extrapolation_flags_a_prediction_beyond_ten_times_the_largest_size():
    # The driver holds --predict as a numpy array.
    found = dg.far_extrapolation(evidence(ladder(), predict=np.array([1e6, 1e8])))
    assert codes(found) == ["far_extrapolation"] and found[0].severity == "warning"
    assert "1e+08" in found[0].message and "126x" in found[0].message


def test_far_extrapolation_is_silent_within_ten_times_or_without_predict():
    assert dg.far_extrapolation(evidence(ladder(), predict=[5e6])) == []
    assert dg.far_extrapolation(evidence(ladder(), predict=None)) == []


def test_far_extrapolation_compares_chinchilla_predictions_with_flops():
    fits = {"chinchilla": {"converged": True, "d": "tokens", "params": {}}}
    # The largest C = 6ND is 6 x 793e3 x 2e6 = 9.5e12 FLOPs.
    assert dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[5e13])) == []
    found = dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[1e15]))
    assert codes(found) == ["far_extrapolation"] and "C = 6ND" in found[0].message


def test_far_extrapolation_counts_n_as_the_chinchilla_fit_did():
    # Under --form all, chinchilla's N is params (s5: 823e3, C = 9.9e12) while x_col is
    # params_non_embedding (793e3, C = 9.5e12): 9.7e13 is within 10x of the first only.
    fits = {"chinchilla": {"converged": True, "d": "tokens", "x": "params", "params": {}}}
    assert dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[9.7e13])) == []
    fits["chinchilla"]["x"] = "params_non_embedding"
    found = dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[9.7e13]))
    assert codes(found) == ["far_extrapolation"]


# ------------------------------------------------------------------------- unstable_fit


def hand_power(lo: float | None, hi: float | None, n_boot: int = 50) -> dict:
    return {"power": {"converged": True, "y": "val_ppl", "bootstrap": {"n": n_boot},
                      "params": {"a": {"value": 214.0, "ci_low": 200.0, "ci_high": 230.0},
                                 "b": {"value": -0.108, "ci_low": lo, "ci_high": hi}}}}


def test_unstable_fit_flags_an_open_interval():
    fits = {"saturating": {"converged": True, "params": {
        "E": {"value": 1.0, "ci_low": 0.0, "ci_high": None},
        "alpha": {"value": 0.3, "ci_low": 0.1, "ci_high": 0.6}}}}
    found = dg.unstable_fit(evidence(ladder(), fits=fits))
    assert codes(found) == ["unstable_fit"] and "saturating E" in found[0].message
    assert "alpha" not in found[0].message


def test_unstable_fit_flags_a_size_that_carries_the_law():
    found = dg.unstable_fit(evidence(ladder(), fits=hand_power(-0.1085, -0.1075)))
    assert codes(found) == ["unstable_fit"] and found[0].severity == "warning"
    assert found[0].message.startswith("Leaving out s")


def test_unstable_fit_is_silent_on_a_stable_fit():
    rows = ladder()
    assert dg.unstable_fit(evidence(rows, fits=power_fits(rows))) == []
    assert dg.unstable_fit(evidence(rows, fits=hand_power(-0.15, -0.07))) == []


def test_unstable_fit_notes_a_missing_interval_but_not_as_instability():
    found = dg.unstable_fit(evidence(ladder(), fits=hand_power(None, None, n_boot=0)))
    assert codes(found) == ["skipped"] and "leave one size out" in found[0].message


@pytest.mark.parametrize("rule", dg.RULES)
def test_every_rule_survives_blank_cells(rule):
    # A blank row and a NaN loss are rows the fit left out: each rule must say of them
    # exactly what it says of the rows without them (the fit made on those), word for word
    clean = [r for i, r in enumerate(ladder()) if i != 1]
    rows = [*ladder(), {c: "" for c in HEADER}]
    rows[1]["val_loss"] = "nan"
    fits = power_fits(clean)
    found = rule(evidence(rows, fits=fits, predict=[1e6]))
    assert all(isinstance(d, dg.Diagnostic) and d.severity in ("info", "warning")
               for d in found)
    expected = rule(evidence(clean, fits=fits, predict=[1e6]))
    assert [(d.code, d.severity, d.message) for d in found] == [
        (d.code, d.severity, d.message) for d in expected]


def test_mixed_schedules_flags_cosine_and_wsd_rows_in_one_fit():
    rows = [{**r, "schedule": "cosine"} for r in ladder()]
    rows[1]["schedule"] = "wsd"
    (found,) = dg.mixed_schedules(evidence(rows, header=[*HEADER, "schedule"]))
    assert found.code == "mixed_schedules" and found.severity == "warning"
    assert "cosine, wsd" in found.message and "--where schedule=wsd" in found.message


def test_mixed_schedules_is_silent_on_one_schedule_or_without_the_column():
    wsd = [{**r, "schedule": "wsd"} for r in ladder()]
    assert dg.mixed_schedules(evidence(wsd, header=[*HEADER, "schedule"])) == []
    assert dg.mixed_schedules(evidence(ladder())) == []


def test_an_exact_power_law_never_bends_whatever_its_rounding() -> None:
    # Noiseless synthetic ladders leave residuals of rounding size; a t of rounding over
    # rounding is any number, and about one such ladder in 400 read as a bend at 5%.
    rng = np.random.default_rng(0)
    for _ in range(400):
        lx = np.sort(rng.uniform(8.0, 22.0, rng.integers(4, 9)))
        assert dg.curvature_p(lx, rng.uniform(1.0, 6.0) + rng.uniform(-0.3, -0.02) * lx) == 1.0
    lx = np.log([1e5, 2e5, 4e5, 8e5, 1.6e6])
    assert dg.curvature_p(lx, 1.0 + 0.01 * (lx - lx.mean()) ** 2) == 0.0  # an exact bend
    noisy = 1.0 - 0.1 * lx + np.array([0.01, -0.01, -0.01, 0.01, 0.0])
    assert 0.0 < dg.curvature_p(lx, noisy) < 1.0  # a real fit keeps its t-test
