"""The compute-optimal approaches and the exponents table, on synthetic Chinchilla laws.

Each test recovers a known number from data drawn from Hoffmann et al.'s law (test_isoflop's
THETA, C = 6 N D unless it says otherwise): the L(C) frontier one point per budget, the
labels of the exponents table, approach 2's vertex rule over several noise seeds, approach
1's interval from noise at fixed sizes, and approach 3 solved on the same C as 1 and 2.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from scalecli.fit import analysis, axes, chinchilla, compute, exponents, isoflop, seeds
from scalecli.fit.driver import compute_fit
from scalecli.fit.envelope import analyse_envelope, noise_of
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.isoflop import Budget, analyse_isoflop
from tests.fit.test_isoflop import A_TRUE, FLOPS, THETA, synthetic


def dense(seed: int) -> list[Budget]:
    """5 budgets over 2 decades, 7 sizes over +-0.6 decades of the optimum, 1% noise."""
    rng = np.random.default_rng(seed)
    out = []
    for c, n0 in zip(FLOPS, chinchilla.compute_optimal(THETA, FLOPS)["N_opt"], strict=True):
        n = n0 * 10 ** np.linspace(-0.6, 0.6, 7)
        d = c / (6 * n)
        loss = chinchilla.chinchilla_predict(THETA, n, d) * np.exp(rng.normal(0, 0.01, 7))
        out.append(Budget(float(c), float(c), np.log(n), loss, np.log(d)))
    return out


# ---------------------------------------------------------------- the L(C) frontier


def stepped_runs(budgets=(1e16, 4e16, 1.6e17), sizes: int = 6) -> tuple[np.ndarray, ...]:
    """(C, loss, budget_flops): each budget's runs with tokens rounded to whole steps (137
    at the optimum), so their C differ by up to 1.5%."""
    n_opt = chinchilla.compute_optimal(THETA, np.array(budgets))["N_opt"]
    c, loss, nominal = [], [], []
    for b, n0 in zip(budgets, n_opt, strict=True):
        n = n0 * 10 ** np.linspace(-0.75, 0.75, sizes)
        batch = b / (6 * n0) / 137
        tokens = np.round(b / (6 * n) / batch) * batch
        c += list(6 * n * tokens)
        loss += list(chinchilla.chinchilla_predict(THETA, n, tokens))
        nominal += [b] * sizes
    return np.array(c), np.array(loss), np.array(nominal)


def test_the_frontier_has_one_point_per_budget_at_the_budgets_c():
    c, loss, nominal = stepped_runs()
    assert np.abs(c / nominal - 1).max() < 0.016
    assert len(axes.frontier(c, loss)) == 3  # by runs, 12 of the 18 were on it
    for given in (None, nominal):
        keep, c_of = axes.frontier_points(c, loss, given)
        assert keep.size == 3
        for k, i in enumerate(keep):
            same = nominal == nominal[i]
            assert loss[i] == loss[same].min()
            assert c_of[k] == np.exp(np.mean(np.log(c[same])))
    entry = exponents.along_c(np.arange(c.size), np.arange(c.size), c, loss, "flops",
                              "val_loss", lambda x, y: analysis.analyse("power", x, y,
                                                                       n_boot=0, holdout=0))
    assert entry["at"] == "compute frontier (3 of 3 budgets, 18 runs)"
    assert entry["n_points"] == 3


# ---------------------------------------------------------- the exponents table's labels


def test_the_exponents_table_names_power_slopes_apart_from_reducible_loss_exponents():
    n = np.geomspace(1e6, 1e8, 5)
    d = np.full(5, 1e9)
    ppl = np.exp(chinchilla.chinchilla_predict(THETA, n, d))
    (slope,) = exponents.along_n(n, d, ppl, "params", "val_ppl", "tokens",
                                 lambda x, y: analysis.analyse("power", x, y, n_boot=0,
                                                               holdout=0))
    # the power slope is d ln ppl / d ln N = d L / d ln N, far from -alpha = -0.34 here
    truth = np.polyfit(np.log(n), np.log(ppl), 1)[0]
    assert slope["kind"] == exponents.POWER_SLOPE and "d ln val_ppl / d ln params" in \
        slope["quantity"]
    assert abs(slope["exponent"]["value"] - truth) < 1e-9 and abs(truth + 0.34) > 0.2
    fit = {"converged": True, "x": "params", "d": "tokens", "y": "val_loss", "n_points": 35,
           "r2_log": 0.99, "params": {
               "alpha": {"value": 0.34, "se": 0.01, "ci_low": 0.32, "ci_high": 0.37},
               "beta": {"value": 0.28, "se": 0.01, "ci_low": 0.26, "ci_high": 0.30}}}
    alpha, beta = exponents.parametric(fit)
    assert alpha["kind"] == beta["kind"] == exponents.REDUCIBLE
    assert alpha["quantity"].startswith("-alpha of A / N^alpha in L - E")
    assert beta["quantity"].startswith("-beta of B / D^beta in L - E")
    assert alpha["exponent"] == {"value": -0.34, "se": 0.01, "ci_low": -0.37, "ci_high": -0.32}
    rows = exponents.compute_optimal({"converged": True, "budgets": [], "params": {
        "a_opt": {"value": 0.45}, "b_opt": {"value": 0.55}}})
    assert [r["kind"] for r in rows] == [exponents.COMPUTE_OPTIMAL] * 2
    assert [r["quantity"] for r in rows] == ["a of N_opt ~ C^a", "b of D_opt ~ C^b"]


# ------------------------------------------------------------ approach 2's vertex rule


def test_isoflop_a_over_noise_seeds():
    # Sizes 3x apart over +-1.4 decades: every seed within 0.03 of the truth.
    for seed in range(5):
        assert abs(analyse_isoflop(synthetic(seed=seed), n_boot=0)["params"]["a_opt"]["value"]
                   - A_TRUE) < 0.03, seed
    # +-0.6 decades: the slice rises 3-5% at its ends against 1% noise, so a single seed's
    # a has an sd of about 0.031 (0.035 with an unweighted line, 0.044 with a window on the
    # noisy argmin; 200 seeds, bench/isoflop_window.py). Over these 20 seeds the rms error
    # is 0.026 with each vertex weighted by its precision, 0.039 with equal weights.
    errors = np.array([analyse_isoflop(dense(s), n_boot=0)["params"]["a_opt"]["value"]
                       for s in range(20)]) - A_TRUE
    assert abs(errors.mean()) < 0.015
    assert np.sqrt(np.mean(errors ** 2)) < 0.03


def test_a_vertex_spread_is_the_variance_of_its_n_opt_over_noise():
    # The line's weights: Var(ln N_opt) / sigma^2 by the delta method, checked against the
    # scatter of the vertex over 1,000 noise draws (0.3% noise: the linear regime), on an
    # off-centre window at the lowest and highest budget.
    spreads = []
    for c in (FLOPS[0], FLOPS[-1]):
        n0 = chinchilla.compute_optimal(THETA, np.array([c]))["N_opt"][0]
        n = 1.3 * n0 * 10 ** np.linspace(-0.6, 0.6, 7)
        d = c / (6 * n)
        exact = chinchilla.chinchilla_predict(THETA, n, d)
        sigma = 0.003 * exact.mean()
        rng = np.random.default_rng(0)
        spread = isoflop.fit_vertex(Budget(c, c, np.log(n), exact, np.log(d))).spread
        scatter = np.var([isoflop.fit_vertex(Budget(
            c, c, np.log(n), exact + rng.normal(0.0, sigma, 7), np.log(d))).log_n
            for _ in range(1000)])
        assert 0.85 < scatter / (spread * sigma ** 2) < 1.15, c
        spreads.append(spread)
    # the flatter slice at high C pins its vertex about 2x less well: it weighs less
    assert spreads[1] > 1.5 * spreads[0]


# ------------------------------------------------------------- approach 1's interval


def one_step_of_a(budgets: list[Budget]) -> float:
    """How much a moves when one budget's N_opt moves by one step of its size grid."""
    log_c = np.log([b.flops for b in budgets])
    step = float(np.diff(budgets[0].log_n).max())
    lever = np.abs(log_c - log_c.mean()) / np.sum((log_c - log_c.mean()) ** 2)
    return step * float(lever.max())


def test_the_envelope_interval_is_noise_at_fixed_sizes_not_resampling():
    budgets = synthetic(noise=0.0)[:4]
    fit = analyse_envelope(budgets, n_boot=200)
    a = fit["params"]["a_opt"]
    assert abs(a["value"] - A_TRUE) < 0.01
    # the old bootstrap over runs gave [0.15, 0.75] here: its draws lose the winning size
    assert a["ci_high"] - a["ci_low"] <= one_step_of_a(budgets)
    assert "residual sd" in fit["method"]
    covered = 0
    for seed in range(10):
        a = analyse_envelope(synthetic(seed=seed), n_boot=100, seed=seed)["params"]["a_opt"]
        covered += a["ci_low"] <= A_TRUE <= a["ci_high"]
    assert covered >= 8


def test_the_envelope_takes_the_seed_sd_over_the_seeds_of_each_point():
    budgets = synthetic(noise=0.0)
    sds, noise = noise_of(budgets, 0.02, [np.full(7, 4.0)] * 5)
    assert np.allclose(np.concatenate(sds), 0.01) and "seed sd 0.02" in noise
    fit = analyse_envelope(budgets, n_boot=100, seed_sd=0.02, n_seeds=[np.full(7, 4.0)] * 5)
    assert "seed sd" in fit["method"] and fit["params"]["a_opt"]["ci_low"] is not None


# ------------------------------------------------- approach 3 on the compute column's C

SIZES = np.geomspace(2e7, 2e10, 13)  # the runs' N: flops per token is measured at these


def ratio_of(n: np.ndarray) -> np.ndarray:
    """flops_per_token / 6N: 1.29 at the smallest size, 1.10 at the largest, linear in ln N
    between (as the embeddings' and attention's share shrinks), held beyond."""
    t = np.clip(np.log(n / SIZES[0]) / np.log(SIZES[-1] / SIZES[0]), 0.0, 1.0)
    return np.exp(np.log(1.29) + t * (np.log(1.10) - np.log(1.29)))


def brute_force_n_opt(theta: np.ndarray, c: float) -> float:
    """argmin over N of L(N, C / fpt(N)) on a grid 1e-5 apart in ln N."""
    n = np.exp(np.arange(np.log(SIZES[0]) - 2, np.log(SIZES[-1]) + 2, 1e-5))
    return float(n[np.argmin(chinchilla.chinchilla_predict(theta, n,
                                                           c / (6 * n * ratio_of(n))))])


def test_approach_3_solves_on_the_compute_column_not_6nd():
    fpt = FlopsPerToken.from_runs(SIZES, 6 * SIZES * ratio_of(SIZES), np.full(13, 1e19))
    budgets = np.array([1e18, 1e19, 1e20])
    solved = chinchilla.compute_optimal(THETA, budgets, fpt)
    closed = chinchilla.compute_optimal(THETA, budgets)  # G (C/6)^a: C = 6 N D
    for k, c in enumerate(budgets):
        truth = brute_force_n_opt(THETA, c)
        d_truth = c / (6 * truth * ratio_of(truth))
        assert abs(solved["N_opt"][k] / truth - 1) < 0.01, c
        assert abs(solved["D_opt"][k] / d_truth - 1) < 0.01, c
        # the closed form: N_opt 4-7% too large, D_opt = C / 6N 14-17% too large
        assert closed["N_opt"][k] / truth > 1.03, c
        assert closed["D_opt"][k] / d_truth > 1.1, c
    # the bootstrap path solves each theta alike
    many = chinchilla.optimal_many(np.stack([THETA, THETA]), budgets, fpt)[0]
    assert np.allclose(many, solved["N_opt"], rtol=1e-9)


def test_with_flops_per_token_6n_the_solver_is_the_closed_form():
    assert FlopsPerToken.from_runs(SIZES, 6 * SIZES, np.full(13, 1e19)) is None
    six = FlopsPerToken(np.log(SIZES), np.zeros(13), (1e18, 1e20))
    budgets = np.array([1e17, 1e19, 1e22])  # inside and beyond the runs' C
    solved = chinchilla.compute_optimal(THETA, budgets, six)
    closed = chinchilla.compute_optimal(THETA, budgets)
    for key in ("N_opt", "D_opt", "L_opt"):
        assert np.allclose(solved[key], closed[key], rtol=1e-6), key
    assert np.allclose(chinchilla.chinchilla_law(THETA, six), chinchilla.chinchilla_law(THETA),
                       atol=1e-6)


def ratio_rows(seed: int = 0) -> list[dict[str, str]]:
    """An isoFLOP design (5 budgets, 7 sizes 3x apart about the optimum, 1% noise) whose
    flops per token is ratio_of(N) x 6N, and tokens = C / flops_per_token."""
    rng = np.random.default_rng(seed)
    out = []
    for c in FLOPS:
        n = brute_force_n_opt(THETA, c) * 3.0 ** np.arange(-3, 4)
        per_token = 6 * n * ratio_of(n)
        tokens = c / per_token
        loss = chinchilla.chinchilla_predict(THETA, n, tokens) * np.exp(rng.normal(0, 0.01, 7))
        out += [{"run_id": f"{c:.0e}-{k}", "params": str(n[k]), "tokens": str(tokens[k]),
                 "flops_per_token": str(per_token[k]), "flops": str(c),
                 "flops_6nd": str(6 * n[k] * tokens[k]), "budget_flops": str(c),
                 "val_loss": str(loss[k]), "status": "ok"} for k in range(7)]
    return out


def test_fit_form_compute_puts_approach_3_on_the_same_c(tmp_path: Path):
    table = ratio_rows()
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    predict = [1e19, 1e21]
    doc = compute_fit(path, form="compute", bootstrap=20, holdout=0, predict_flops=predict)
    chin = doc["fits"]["chinchilla"]
    assert "L(N, C / flops_per_token(N))" in chin["method"]
    assert "from 1.29 at the smallest N" in chin["method"]
    theta = np.array([chin["params"][k]["value"] for k in ("E", "A", "B", "alpha", "beta")])
    row = next(r for r in doc["approaches"] if r["form"] == "chinchilla")
    for p, c in zip(row["predictions"], predict, strict=True):
        truth = brute_force_n_opt(theta, c)  # the fitted law, solved on the flops column
        assert abs(p["n_opt"]["value"] / truth - 1) < 0.01, c
        assert p["n_opt"]["ci_low"] is not None
    # D_opt at 1e19 within the noise of the true law's; the closed form's C / 6N is 15% over
    d3, truth = row["predictions"][0]["d_opt"]["value"], brute_force_n_opt(THETA, 1e19)
    d_truth = 1e19 / (6 * truth * ratio_of(truth))
    closed = chinchilla.compute_optimal(theta, np.array(predict[:1]))["D_opt"][0]
    assert abs(np.log(d3 / d_truth)) < 0.06 and closed / d_truth > 1.1


def test_flops_per_token_comes_from_the_compute_column():
    table = ratio_rows()
    header = list(table[0])
    lad = seeds.ladder(table, header, "params", "tokens")
    fpt = compute.per_token(table, header, "params", "tokens", lad)
    n = np.array([float(r["params"]) for r in table])
    assert np.allclose(np.exp(fpt.log_ratio[[0, -1]]), ratio_of(n[[n.argmin(), n.argmax()]]),
                       rtol=1e-9)
    assert fpt.c_range == (FLOPS[0], FLOPS[-1])
    # C = 6 N D (flops_6nd alone, or no compute column): the closed form, exact
    for r in table:
        del r["flops"], r["flops_per_token"]
    assert compute.per_token(table, list(table[0]), "params", "tokens", lad) is None
    for r in table:
        del r["flops_6nd"]
    assert compute.per_token(table, list(table[0]), "params", "tokens", lad) is None


def test_an_approach_that_fits_no_law_is_a_note_and_one_that_does_is_not(tmp_path: Path):
    # approach_fits notes each approach that did not converge, and only those: three sizes
    # per budget are too few for a parabola (isoFLOP fits nothing), seven are enough.
    from typer.testing import CliRunner

    from scalecli.cli import app

    def fit_output(keep: tuple[str, ...], folder: Path) -> str:
        table = [r for r in ratio_rows() if r["run_id"].endswith(keep)]
        folder.mkdir()
        with open(folder / "results.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        result = CliRunner().invoke(app, ["fit", str(folder), "--form", "compute",
                                          "--bootstrap", "10", "--holdout", "0"])
        assert result.exit_code == 0, result.output
        return result.output

    few = fit_output(("-2", "-3", "-4"), tmp_path / "few")
    assert "note: isoflop: 0 budget(s) accepted; a law needs 2" in few
    enough = fit_output(tuple(f"-{k}" for k in range(7)), tmp_path / "enough")
    assert "note: isoflop:" not in enough and "note: envelope:" not in enough
