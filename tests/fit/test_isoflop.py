"""Chinchilla's approaches 1 and 2 (envelope, isoFLOP) on synthetic data with a known law.

The data: L = E + A/N^alpha + B/D^beta with Hoffmann et al.'s (2022) fit, C = 6 N D, 1%
multiplicative noise; 5 budgets over 2 decades, 7 sizes a factor 3 apart per budget,
centred on the true optimum. The true exponents are a = beta / (alpha + beta) and
b = alpha / (alpha + beta).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import chinchilla, compute, isoflop, schema
from scalecli.fit.envelope import analyse_envelope, frontier
from scalecli.fit.isoflop import Budget, analyse_isoflop, fit_vertex, group_budgets

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta
A_TRUE = 0.28 / 0.62
B_TRUE = 0.34 / 0.62
FLOPS = np.geomspace(1e18, 1e20, 5)
STEP = 3.0  # sizes a factor 3 apart: 7 of them span 729x, enough curvature above 1% noise


def synthetic(seed: int = 0, noise: float = 0.01, offsets: dict[int, float] | None = None,
              extra: dict[int, np.ndarray] | None = None) -> list[Budget]:
    """One Budget per FLOPS. `offsets` moves a budget's sizes by a factor (badly centred);
    `extra` adds sizes (in steps of STEP from the optimum) with their own noise stream, so
    that the 7 centred points keep exactly the same noise."""
    rng, far_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1000)
    n_opt = chinchilla.compute_optimal(THETA, FLOPS)["N_opt"]
    out = []
    for i, (c, n0) in enumerate(zip(FLOPS, n_opt, strict=True)):
        k = np.arange(-3, 4, dtype=float)
        eps = rng.normal(0.0, noise, k.size)
        if extra and i in extra:
            k = np.concatenate([k, extra[i]])
            eps = np.concatenate([eps, far_rng.normal(0.0, noise, extra[i].size)])
        order = np.argsort(k)
        n = n0 * (offsets or {}).get(i, 1.0) * STEP ** k[order]
        d = c / (6 * n)
        loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(eps[order])
        out.append(Budget(float(c), float(c), np.log(n), loss, np.log(d)))
    return out


def a_of(budgets: list[Budget]) -> float:
    return analyse_isoflop(budgets, n_boot=0)["params"]["a_opt"]["value"]


SEEDS = 10


def test_isoflop_recovers_a_and_b_within_three_standard_errors():
    # The tolerance is the noise's own: the sd of a over SEEDS seeds (0.014 measured over
    # 60), over sqrt(SEEDS). The mean's error was 0.002 over 60 seeds.
    draws = np.array([[f["params"]["a_opt"]["value"], f["params"]["b_opt"]["value"]]
                      for f in (analyse_isoflop(synthetic(seed=s), n_boot=0)
                                for s in range(SEEDS))])
    sd = draws.std(axis=0, ddof=1)
    assert np.all(sd > 0.005)
    err = draws.mean(axis=0) - [A_TRUE, B_TRUE]
    assert np.all(np.abs(err) < 3 * sd / np.sqrt(SEEDS)), (err, sd)
    fit = analyse_isoflop(synthetic(), n_boot=200)
    assert fit["converged"] and all(b["accepted"] for b in fit["budgets"])
    assert [b["window"] for b in fit["budgets"]] == [7] * 5
    for k, (name, truth) in enumerate((("a_opt", A_TRUE), ("b_opt", B_TRUE))):
        p = fit["params"][name]
        assert p["value"] == pytest.approx(draws[0, k], abs=1e-12)  # seed 0, as above
        assert p["ci_low"] < truth < p["ci_high"]
        assert 0.5 < p["se"] / sd[k] < 2.0  # the bootstrap's se is the seeds' sd (1.1)
    assert len(fit["leave_one_out"]["budgets"]) == 5


def test_parametric_approach_agrees_with_isoflop_within_0_03():
    budgets = synthetic()
    n = np.exp(np.concatenate([b.log_n for b in budgets]))
    d = np.exp(np.concatenate([b.log_d for b in budgets]))
    loss = np.concatenate([b.loss for b in budgets])
    theta = chinchilla.fit_chinchilla(n, d, loss).theta
    a3 = chinchilla.compute_optimal(theta, FLOPS)["a_opt"]
    assert abs(a3 - a_of(budgets)) < 0.03


def test_far_points_do_not_move_a():
    # A fixed ladder reaches far above the optimum at low budgets (huge models on few
    # tokens) and far below it at high ones (tiny models on many): up to 3^7 = 2187x away.
    extra = {i: np.concatenate([np.arange(4, 8 - i), np.arange(-3 - i, -3)]).astype(float)
             for i in range(5)}
    base = a_of(synthetic())
    assert abs(a_of(synthetic(extra=extra)) - base) < 0.005
    # The test has teeth: one parabola through every point of a slice is pulled by them
    # (by 0.013 here; over 0.02 with an unweighted line, whose far-pulled vertices weigh as
    # much as the sharp ones).
    clean, far = a_of(synthetic(noise=0.0)), synthetic(noise=0.0, extra=extra)
    old = isoflop.WINDOW_SIDE
    try:
        isoflop.WINDOW_SIDE = 100
        assert abs(a_of(far) - clean) > 0.01
    finally:
        isoflop.WINDOW_SIDE = old


def test_badly_centred_budget_is_rejected_and_named():
    fit = analyse_isoflop(synthetic(offsets={2: STEP ** 5}), n_boot=0)  # all sizes > N_opt
    bad = fit["budgets"][2]
    assert not bad["accepted"] and bad["reason"] == "minimum_outside"
    assert "outside the sampled sizes" in bad["reason_text"]
    assert all(b["accepted"] for k, b in enumerate(fit["budgets"]) if k != 2)
    assert abs(fit["params"]["a_opt"]["value"] - A_TRUE) < 0.03
    found = compute.isoflop_findings(fit)
    assert [f.code for f in found] == ["isoflop_rejected"]
    assert "minimum_outside" in found[0].message


def parabola_budget(log_n: np.ndarray, loss: np.ndarray) -> Budget:
    return Budget(1e18, None, log_n, loss, np.log(1e18 / 6) - log_n)


@pytest.mark.parametrize(("log_n", "loss", "reason"), [
    (np.arange(4.0), (np.arange(4.0) - 1.5) ** 2, "too_few_points"),
    (np.arange(7.0), -((np.arange(7.0) - 3.0) ** 2), "not_convex"),
    (np.arange(7.0), (np.arange(7.0) + 2.0) ** 2, "minimum_outside"),
    (np.arange(7.0), (np.arange(7.0) - 0.5) ** 2, "one_sided"),
])
def test_each_rejection_rule(log_n, loss, reason):
    vertex = fit_vertex(parabola_budget(log_n, loss))
    assert vertex.reason == reason and vertex.detail


def test_a_centred_parabola_is_accepted_with_its_exact_vertex():
    log_n = np.arange(7.0)
    vertex = fit_vertex(parabola_budget(log_n, 3.0 + 0.5 * (log_n - 2.7) ** 2))
    assert vertex.reason is None and vertex.curvature == pytest.approx(1.0)
    assert vertex.log_n == pytest.approx(2.7) and vertex.loss == pytest.approx(3.0)


def test_budgets_group_by_budget_flops_else_within_5_percent():
    flops = np.array([1.0e12, 1.03e12, 0.99e12, 5e12, 5.1e12, 2e13])
    assert [sorted(g.tolist()) for g in group_budgets(flops)] == [[0, 1, 2], [3, 4], [5]]
    nominal = np.array([1e12, 1e12, 1e12, 5e12, 2e13, 2e13])
    assert [sorted(g.tolist()) for g in group_budgets(flops, nominal)] == [[0, 1, 2], [3],
                                                                            [4, 5]]


def test_envelope_follows_the_optimum_without_noise():
    fit = analyse_envelope(synthetic(noise=0.0), n_boot=50)
    assert fit["converged"] and len(fit["envelope"]) == 5
    assert fit["params"]["a_opt"]["value"] == pytest.approx(A_TRUE, abs=1e-9)
    # each budget's middle size is its N_opt here, so a is right by construction; with
    # noise and a shared ladder, test_compute_mutants checks a, b and the interval
    assert fit["params"]["b_opt"]["value"] == pytest.approx(B_TRUE, abs=1e-9)


def test_a_budget_with_no_lower_loss_is_off_the_envelope():
    budgets = synthetic(noise=0.0)
    budgets[3].loss = budgets[3].loss + 1.0  # worse than the smaller budget at index 2
    assert [k for _, k, _ in frontier(budgets)] == [0, 1, 2, 4]


def test_approaches_disagree_when_intervals_do_not_overlap():
    def row(name: str, lo: float, hi: float) -> dict:
        return {"approach": name, "a_opt": {"value": (lo + hi) / 2, "ci_low": lo, "ci_high": hi}}

    assert compute.disagree([row("1", 0.4, 0.5), row("2", 0.45, 0.6)]) == []
    found = compute.disagree([row("1", 0.4, 0.5), row("2", 0.55, 0.6)])
    assert [f.code for f in found] == ["approaches_disagree"]


def write_csv(path: Path, budgets: list[Budget], flops_jitter: float = 0.0) -> Path:
    """A results.csv without budget_flops whose flops differ by up to `flops_jitter`."""
    rng = np.random.default_rng(1)
    rows = [{"model": f"s{i}", "params": repr(float(np.exp(n))),
             "params_non_embedding": repr(float(0.8 * np.exp(n))),
             "tokens": repr(float(np.exp(d))),
             "flops": repr(b.flops * (1 + flops_jitter * rng.uniform(-1, 1))),
             "val_loss": repr(float(loss)), "status": "ok"}
            for b in budgets for i, (n, d, loss) in enumerate(zip(b.log_n, b.log_d, b.loss,
                                                                   strict=True))]
    with open(path / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path / "results.csv"


def test_fit_compute_prints_the_approaches_and_predicts_a_budget(tmp_path: Path):
    path = write_csv(tmp_path, synthetic(offsets={0: STEP ** 5}), flops_jitter=0.02)
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "compute", "--bootstrap",
                                      "20", "--predict-flops", "1e21"])
    assert result.exit_code == 0, result.output
    assert "compute-optimal, per approach" in result.output
    doc = json.loads((tmp_path / "fit.json").read_text())
    iso = doc["fits"]["isoflop"]
    assert iso["x"] == "params" and iso["c"] == "flops"
    assert [b["accepted"] for b in iso["budgets"]] == [False, True, True, True, True]
    assert set(iso["params"]) == {"a_opt", "b_opt"}
    assert set(iso["params"]["a_opt"]) == {"value", "se", "ci_low", "ci_high"}
    assert doc["approaches"] == [{"approach": a, "form": f} for a, f in (
        ("1: envelope", "envelope"), ("2: isoFLOP", "isoflop"), ("3: parametric", "chinchilla"))]
    # N_opt at 1e21 against the law's: 3 sd of ln N_opt over seeds of the noise (isoFLOP
    # 0.079 over 12 seeds, its mean +0.069, the parabola's known overshoot; approach 3
    # 0.044 over 6). Approach 1 keeps budget 0, whose sizes all lie above its optimum (it
    # has no rejection rule), so its line is checked against its own a and k_N only.
    truth = chinchilla.compute_optimal(THETA, np.array([1e21]))
    tolerance = {"isoflop": 3 * 0.079, "chinchilla": 3 * 0.044}
    for row in schema.read(tmp_path / "fit.json").approach_rows():  # their numbers: the fits'
        (pred,) = row.predictions
        assert pred.x == 1e21 and pred.n_opt.interval == "parameter"
        assert (pred.y is not None) == (row.form == "chinchilla")
        if row.form in tolerance:
            assert abs(np.log(pred.n_opt.value / truth["N_opt"][0])) < tolerance[row.form]
            assert abs(np.log(pred.d_opt.value / truth["D_opt"][0])) < tolerance[row.form]
        else:
            fit = doc["fits"][row.form]
            assert pred.n_opt.value == pytest.approx(
                fit["derived"]["k_n"] * 1e21 ** fit["params"]["a_opt"]["value"], rel=1e-9)
    codes = [d["code"] for d in doc["diagnostics"]]
    assert "isoflop_rejected" in codes


def test_the_report_draws_the_isoflop_fit(tmp_path: Path, monkeypatch):
    from scalecli.fit.schema import read as read_fit
    from scalecli.report import optimum_plot
    from scalecli.report.optimum_plot import optimum_figure

    path = write_csv(tmp_path, synthetic(offsets={0: STEP ** 5}))
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "isoflop", "--bootstrap",
                                      "20"])
    assert result.exit_code == 0, result.output
    report = type("Report", (), {"fit": read_fit(tmp_path / "fit.json")})
    drawn = []
    save = optimum_plot.save
    monkeypatch.setattr(optimum_plot, "save", lambda fig, *a: drawn.append(fig) or save(fig, *a))
    figure = optimum_figure(report, tmp_path)
    assert figure.path == tmp_path / "isoflop_fit.png" and figure.width >= 900
    assert figure.height > 0 and figure.path.read_bytes()[:4] == b"\x89PNG"
    # the figure's numbers are fit.json's: a and its interval in the legend, one star per
    # accepted budget at its (N_opt, loss_opt), the budget minima against C
    iso = json.loads((tmp_path / "fit.json").read_text())["fits"]["isoflop"]
    a = iso["params"]["a_opt"]
    left, right = drawn[0].axes
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert f"fit: a = {a['value']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}]" in labels
    ok = [b for b in iso["budgets"] if b["accepted"]]
    stars = np.concatenate([c.get_offsets() for c in left.collections])
    np.testing.assert_allclose(stars, [[b["n_opt"], b["loss_opt"]] for b in ok], rtol=1e-6)
    minima = np.concatenate([c.get_offsets() for c in right.collections])
    np.testing.assert_allclose(minima, [[b["flops"], b["n_opt"]] for b in ok], rtol=1e-6)
    empty = optimum_figure(type("Report", (), {"fit": None}), tmp_path)
    assert empty.path is None and empty.note is None
