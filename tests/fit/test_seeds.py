"""Seeds in `fit`: one point per configuration (the mean over its seeds), the best lr picked
on seed means, the seed noise in fit.json and the summary, and the seed level of b's
bootstrap; a CSV with one seed per configuration fits as it did before."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import laws, seeds
from scalecli.fit.driver import compute_fit

HEADER = "run_id,model,params_non_embedding,tokens,lr,seed,val_loss,val_ppl,status"
SIZES = {"s1": 21720.0, "s2": 84912.0, "s3": 150080.0, "s4": 335712.0, "s5": 793344.0}
TRUE_B = -0.108  # ln ppl = ln 214 + b ln N: the default sweep's fit


def csv_text(runs: list[tuple[str, float, float, int, float]]) -> str:
    """(model, lr, loss, seed, tokens) -> results.csv text."""
    lines = [HEADER] + [
        f"{m}-{lr:g}-{seed}-{t:g},{m},{SIZES[m]:g},{t:g},{lr:g},{seed},{loss!r},"
        f"{math.exp(loss)!r},ok" for m, lr, loss, seed, t in runs]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, runs, name: str = "results.csv") -> Path:
    path = tmp_path / name
    path.write_text(csv_text(runs), encoding="utf-8")
    return path


def law(model: str) -> float:
    return math.log(214.0) + TRUE_B * math.log(SIZES[model])


def ladder_runs(rng: np.random.Generator, seed_sd: float, lrs=(5e-3, 1e-2, 2e-2),
                n_seeds: int = 3) -> list[tuple[str, float, float, int, float]]:
    """Every size at every lr and seed: the law, a penalty in ln(lr / 1e-2), seed noise."""
    return [(m, lr, law(m) + 0.06 * math.log(lr / 1e-2) ** 2 + rng.normal(0, seed_sd), s, 2e6)
            for m in SIZES for lr in lrs for s in range(n_seeds)]


# ----------------------------------------------------------------------------- recovery


def test_recovers_the_exponent_from_seeded_noisy_data(tmp_path: Path):
    path = write(tmp_path, ladder_runs(np.random.default_rng(0), seed_sd=0.015))
    doc = compute_fit(path, bootstrap=400, holdout=0)
    power = doc["fits"]["power"]
    assert power["n_points"] == 5  # one point per size: the best lr's mean over 3 seeds
    assert doc["rows_used"] == 15 and doc["rows_excluded"] == {"not the best lr of its size": 30}
    b = power["params"]["b"]
    assert b["value"] == pytest.approx(TRUE_B, abs=0.01)
    assert b["ci_low"] < TRUE_B < b["ci_high"]
    assert "seeds resampled" in power["method"]
    assert [p["lr"] for p in doc["seed_noise"]["points"]] == [1e-2] * 5


# ----------------------------------------------------------------------------- grouping


def test_each_configuration_is_one_point_at_the_mean_of_its_seeds(tmp_path: Path):
    losses = {"s1": (4.30, 4.26), "s2": (4.15, 4.11), "s3": (4.07, 4.09), "s4": (3.99, 3.97)}
    path = write(tmp_path, [(m, 1e-2, v, s, 2e6) for m, pair in losses.items()
                            for s, v in enumerate(pair)])
    doc = compute_fit(path, form="all", bootstrap=50, holdout=0)
    x = np.array([SIZES[m] for m in losses])
    mean_loss = np.array([np.mean(pair) for pair in losses.values()])
    # Perplexity's point is exp(mean val_loss), its log the mean loss: the same point.
    expected = laws.fit_power(x, np.exp(mean_loss)).theta
    power = doc["fits"]["power"]
    assert power["n_points"] == 4 and doc["rows_used"] == 8
    assert power["params"]["b"]["value"] == pytest.approx(expected[1], rel=1e-9)
    assert power["params"]["a"]["value"] == pytest.approx(expected[0], rel=1e-9)
    # The loss forms take the geometric mean of the losses (log space): the same to 1e-4.
    assert doc["fits"]["saturating"]["n_points"] == 4
    means = [p["mean"] for p in doc["seed_noise"]["points"]]
    assert means == pytest.approx(list(mean_loss), abs=1e-12)


def test_ladder_groups_by_configuration_and_keeps_row_order():
    rows = [{"params_non_embedding": n, "tokens": t, "lr": lr, "seed": s, "val_loss": v}
            for n, t, lr, s, v in [("1", "10", "0.1", "0", "3.0"), ("2", "10", "0.1", "0", "2.0"),
                                   ("1", "10", "0.1", "1", "3.2"), ("1", "20", "0.1", "0", "2.5")]]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, "params_non_embedding", "tokens")
    assert [c.rows for c in lad.points] == [[0, 2], [1], [3]]  # x=1 at D=20 is its own point
    assert lad.fitted_rows() == [0, 1, 2, 3]
    values = np.array([3.0, 2.0, 3.2, 2.5])
    assert lad.mean(values) == pytest.approx([math.sqrt(3.0 * 3.2), 2.0, 2.5])
    assert lad.first(values) == pytest.approx([3.0, 2.0, 2.5])
    # Without a seed column every row is a configuration of its own.
    alone = seeds.ladder([{k: v for k, v in r.items() if k != "seed"} for r in rows],
                         [h for h in header if h != "seed"], "params_non_embedding", "tokens")
    assert [c.rows for c in alone.points] == [[0], [1], [2], [3]] and not alone.seeded()


def test_best_lr_is_picked_on_seed_means_not_on_the_luckiest_seed(tmp_path: Path):
    # s3 at lr 3e-3 has the best single run (3.95) but the worse mean (4.10 vs 4.05).
    runs = [(m, 1e-2, law(m) + d, s, 2e6) for m in SIZES for s, d in enumerate((0.0, 0.01))]
    runs = [r for r in runs if r[0] != "s3"] + [
        ("s3", 3e-3, 3.95, 0, 2e6), ("s3", 3e-3, 4.25, 1, 2e6),
        ("s3", 1e-2, 4.04, 0, 2e6), ("s3", 1e-2, 4.06, 1, 2e6)]
    doc = compute_fit(write(tmp_path, runs), bootstrap=50, holdout=0)
    assert doc["rows_excluded"] == {"not the best lr of its size": 2}  # both seeds of 3e-3
    s3 = next(p for p in doc["seed_noise"]["points"] if p["label"] == "s3")
    assert s3["lr"] == 1e-2 and s3["n_seeds"] == 2 and s3["mean"] == pytest.approx(4.05)
    # --all-lrs fits both lrs of s3, each the mean of its two seeds.
    every = compute_fit(write(tmp_path, runs), bootstrap=50, holdout=0, all_lrs=True)
    assert every["fits"]["power"]["n_points"] == 6 and every["rows_excluded"] == {}


# ------------------------------------------------------------------------ the seed noise


def test_seed_noise_matches_a_hand_computation(tmp_path: Path):
    runs = [("s1", 1e-2, 4.30, 0, 2e6), ("s1", 1e-2, 4.20, 1, 2e6),
            ("s2", 1e-2, 4.10, 0, 2e6), ("s2", 1e-2, 4.12, 1, 2e6), ("s2", 1e-2, 4.14, 2, 2e6),
            ("s2", 3e-2, 4.40, 0, 2e6), ("s2", 3e-2, 4.46, 1, 2e6),  # a worse lr: pooled too
            ("s3", 1e-2, 4.00, 0, 2e6)]
    path = write(tmp_path, runs)
    noise = compute_fit(path, bootstrap=20, holdout=0)["seed_noise"]
    # Sums of squares about each configuration's mean, by hand:
    ss_s1 = 2 * 0.05**2  # mean 4.25
    ss_s2 = 0.02**2 + 0.0**2 + 0.02**2  # mean 4.12
    ss_s2_bad = 2 * 0.03**2  # mean 4.43
    assert noise["column"] == "val_loss"
    assert noise["dof"] == 1 + 2 + 1 and noise["configs_pooled"] == 3
    assert noise["pooled_sd"] == pytest.approx(math.sqrt((ss_s1 + ss_s2 + ss_s2_bad) / 4))
    assert noise["outliers_left_out"] == 0
    by = {p["label"]: p for p in noise["points"]}
    assert by["s1"]["sd"] == pytest.approx(math.sqrt(ss_s1 / 1))
    assert by["s2"]["sd"] == pytest.approx(math.sqrt(ss_s2 / 2)) and by["s2"]["n_seeds"] == 3
    assert by["s3"]["sd"] is None and by["s3"]["n_seeds"] == 1
    result = CliRunner().invoke(app, ["fit", str(path), "--bootstrap", "20", "--holdout", "0"])
    assert result.exit_code == 0, result.output
    assert f"pooled sd of val_loss {noise['pooled_sd']:.4g} (4 degrees of freedom" in result.output
    assert "s2 3x 4.12 +- 0.02;" in result.output


def test_pooled_sd_leaves_out_an_outlier_seed():
    pooled = seeds.pooled_sd([np.array([4.00, 4.01, 4.02, 5.0]), np.array([3.9, 3.92])])
    assert pooled.left_out == 1 and pooled.dof == 2 + 1
    assert pooled.sd == pytest.approx(math.sqrt((2 * 0.01**2 + 2 * 0.01**2) / 3))
    assert seeds.pooled_sd([np.array([4.0])]).sd is None


# ------------------------------------------------------------------- one seed: unchanged


def test_one_seed_per_configuration_fits_as_before(tmp_path: Path):
    # An lr grid, one seed: the best row per size, and the bootstrap's random stream is the
    # plain fixed-design one (no seed-level draws come first), so b's CI is to the bit what
    # laws.bootstrap_power gives on those rows.
    runs = [(m, lr, law(m) + 0.05 * abs(math.log(lr / 1e-2)) + 0.003 * i, 0, 2e6)
            for i, m in enumerate(SIZES) for lr in (3e-3, 1e-2, 3e-2)]
    doc = compute_fit(write(tmp_path, runs), bootstrap=200, seed=3, holdout=0)
    x = np.array(list(SIZES.values()))
    y = np.exp([law(m) + 0.003 * i for i, m in enumerate(SIZES)])
    boots, _ = laws.bootstrap_power(x, y, 200, np.random.default_rng(3))
    lo, hi = np.percentile(boots[:, 1], [2.5, 97.5])
    b = doc["fits"]["power"]["params"]["b"]
    assert b["value"] == laws.fit_power(x, y).theta[1]
    assert (b["ci_low"], b["ci_high"]) == (lo, hi)
    assert "seeds resampled" not in doc["fits"]["power"]["method"]
    assert doc["seed_noise"]["pooled_sd"] is None and doc["seed_noise"]["dof"] == 0


# ----------------------------------------------------------------------- the seed level


def one_config_ladder(values: list[list[float]], lrs: list[str]) -> tuple[seeds.Ladder, list]:
    rows = [{"params_non_embedding": "1", "tokens": "1", "lr": lr, "seed": str(s),
             "val_loss": repr(v)} for vs, lr in zip(values, lrs, strict=True)
            for s, v in enumerate(vs)]
    return seeds.ladder(rows, list(rows[0]), "params_non_embedding", "tokens"), rows


def test_seed_level_has_the_variance_of_a_mean_of_n_seeds():
    # Inflated residuals: a mean of 3 seeds with sd 1 varies by 1/3, not (2/3)(1/3).
    lad, rows = one_config_ladder([[0.0, 1.0, 2.0]], ["0.1"])
    log_y = np.array([float(r["val_loss"]) for r in rows])
    draws = seeds.seed_level(lad, log_y, 40000, np.random.default_rng(0))
    assert draws.shape == (40000, 1)
    assert np.var(draws) == pytest.approx(1.0 / 3.0, rel=0.03)
    assert np.mean(draws) == pytest.approx(0.0, abs=0.01)


def test_seed_level_repicks_the_lr_and_so_carries_its_noise():
    # Two lrs that tie: each resample keeps whichever looks better, so the picked mean sits
    # below the fitted one on average (the winner's curse the fit's point also has).
    lad, rows = one_config_ladder([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], ["0.1", "0.2"])
    log_y = np.array([float(r["val_loss"]) for r in rows])
    draws = seeds.seed_level(lad, log_y, 20000, np.random.default_rng(1))
    assert draws.shape == (20000, 1) and np.mean(draws) < -0.2
    # An lr far worse than the best is never picked: the draws are those of one config.
    lad, rows = one_config_ladder([[0.0, 1.0, 2.0], [9.0, 10.0, 11.0]], ["0.1", "0.2"])
    log_y = np.array([float(r["val_loss"]) for r in rows])
    draws = seeds.seed_level(lad, log_y, 20000, np.random.default_rng(1))
    assert np.mean(draws) == pytest.approx(0.0, abs=0.01)


def test_bootstrap_noise_is_at_least_the_seed_level():
    # Means exactly on the law leave no residuals; b's spread is then the seed level's alone.
    x = np.array(list(SIZES.values()))
    y = 214.0 * x**TRUE_B * np.exp(np.array([1e-9, -1e-9, 0.0, 1e-9, -1e-9]))
    rng = np.random.default_rng(2)
    level = rng.normal(0.0, 0.01, (20000, x.size))
    boots, _ = laws.bootstrap_power(x, y, 20000, rng, level)
    sxx = np.sum((np.log(x) - np.log(x).mean()) ** 2)
    assert np.std(boots[:, 1]) == pytest.approx(0.01 / math.sqrt(sxx), rel=0.03)
    # Residual noise far above the seed level: the refits' noise is the residuals' alone.
    noisy = y * np.exp(np.random.default_rng(3).normal(0, 0.05, x.size))
    plain, _ = laws.bootstrap_power(x, noisy, 20000, np.random.default_rng(4))
    tiny = np.random.default_rng(5).normal(0.0, 1e-4, (20000, x.size))
    with_level, _ = laws.bootstrap_power(x, noisy, 20000, np.random.default_rng(4), tiny)
    assert np.std(with_level[:, 1]) == pytest.approx(np.std(plain[:, 1]), rel=0.01)


def test_fit_json_with_seeds_is_strict_json(tmp_path: Path):
    path = write(tmp_path, ladder_runs(np.random.default_rng(1), seed_sd=0.02, n_seeds=2))
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "all", "--bootstrap", "30"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "fit.json").read_text())
    assert doc["seed_noise"]["configs_pooled"] == 15 and doc["fits"]["power"]["n_points"] == 5


def test_a_one_seed_probe_beats_a_three_seed_mean_only_beyond_the_noise(tmp_path: Path):
    # The lr search's shape: probes of s1 with seed 0 only, the chosen lr with seeds 0-2.
    # The three-seed mean at 1e-2 (4.323) is above the one-seed probes (4.30, 4.31), but
    # by less than 1.96 sd sqrt(1/1 + 1/3) of the pooled seed sd (0.037): a single lucky
    # seed may not win by that little (`seeds.pick`), so the fit keeps the mean of three.
    runs = [("s1", 5e-3, 4.30, 0, 2e6), ("s1", 1e-2, 4.28, 0, 2e6), ("s1", 1e-2, 4.34, 1, 2e6),
            ("s1", 1e-2, 4.35, 2, 2e6), ("s1", 2e-2, 4.31, 0, 2e6)]
    runs += [(m, 1e-2, law(m), 0, 2e6) for m in ("s2", "s3")]
    doc = compute_fit(write(tmp_path, runs), bootstrap=50, holdout=0)
    s1 = [p for p in doc["seed_noise"]["points"] if p["n_seeds"] == 3]
    assert len(s1) == 1 and s1[0]["lr"] == pytest.approx(1e-2)
    assert s1[0]["mean"] == pytest.approx((4.28 + 4.34 + 4.35) / 3)


def test_three_ordinary_seeds_are_not_outliers_and_a_far_one_is():
    # Two seeds that happen to agree make the MAD tiny; the floor keeps the third ordinary.
    assert seeds.robust_z(np.array([4.100, 4.101, 4.130])).max() < seeds.OUTLIER_Z
    # The 0.4-nat seed of the prose corpus (4.523, 4.497, 4.934) is one.
    assert seeds.robust_z(np.array([4.523, 4.497, 4.934])).max() > seeds.OUTLIER_Z
