"""The seed, noise and lr rules of the fit: one lr rule for the point and its bootstrap (the
lr search's choice, else seed means that one lucky seed cannot beat), a noise threshold
that counts the seeds, lr_edge that sees diverged runs, isoFLOP budgets tested against the
seed noise, and data_limited against the tokens per parameter the fit measured."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scalecli.fit import diagnostics as dg
from scalecli.fit import seeds
from scalecli.fit.driver import compute_fit
from tests.fit.test_diagnostics import HEADER, LADDER, codes, evidence, ladder, row
from tests.fit.test_seeds import law, write

# The prose corpus's s1 probes (seed 0), and its chosen lr's other two seeds.
PROBES = {5e-3: 4.5894, 1e-2: 4.5687, 2e-2: 4.5587, 4e-2: 4.5751}
CHOSEN = 1e-2
NOISE_SEEDS = (4.5950, 4.5660)  # with the probe at CHOSEN: a three-seed mean of 4.5766


def run_id(model: str, lr: float, seed: int, tokens: float = 2e6) -> str:
    return f"{model}-{lr:g}-{seed}-{tokens:g}"  # as test_seeds.csv_text writes it


def searched_sweep(tmp_path: Path, record: bool = True, probes: dict[float, float] = PROBES,
                   chosen: float = CHOSEN) -> Path:
    """The default sweep's shape: s1's probes at seed 0, seeds 1 and 2 at the chosen lr,
    s2-s5 at the chosen lr with one seed; lr_search.json as the sweep writes it."""
    runs = [("s1", lr, loss, 0, 2e6) for lr, loss in probes.items()]
    runs += [("s1", chosen, loss, s, 2e6) for s, loss in enumerate(NOISE_SEEDS, start=1)]
    runs += [(m, chosen, law(m), 0, 2e6) for m in ("s2", "s3", "s4", "s5")]
    path = write(tmp_path, runs)
    if record:
        (tmp_path / "lr_search.json").write_text(json.dumps({
            "probes": [{"budget_index": 0, "model": "s1", "tokens": 2000000, "lr_base": lr,
                        "lr": lr, "val_loss": loss, "run_id": run_id("s1", lr, 0)}
                       for lr, loss in probes.items()],
            "chosen": [{"budget_index": 0, "lr": chosen}]}))
    return path


def s1_point(doc: dict) -> dict:
    return next(p for p in doc["seed_noise"]["points"] if p["label"] == "s1")


# ------------------------------------------------------------ one lr rule (point, bootstrap)


@pytest.mark.parametrize("record", [True, False])
def test_the_fitted_s1_point_is_the_mean_of_its_seeds_at_one_lr(tmp_path: Path, record: bool):
    # Seed 0 at 2e-2 (4.5587) beats seed 0 at the chosen 1e-2 (4.5687): a paired pick took
    # that one-seed probe. With the search's record the fit keeps its choice; without it, a
    # one-seed mean 0.018 below a three-seed one is within the noise of their difference.
    doc = compute_fit(searched_sweep(tmp_path, record), bootstrap=50, holdout=0)
    s1 = s1_point(doc)
    assert s1["lr"] == CHOSEN and s1["n_seeds"] == 3
    assert s1["mean"] == pytest.approx(np.mean([PROBES[CHOSEN], *NOISE_SEEDS]))
    assert "lr_edge" not in codes_of(doc)


def codes_of(doc: dict) -> list[str]:
    return [d["code"] for d in doc["diagnostics"] if d["severity"] == "warning"]


def test_a_one_seed_lr_wins_when_it_is_better_beyond_the_noise():
    sd = 0.01
    assert seeds.best_config([[4.50], [4.56, 4.55, 4.57]], sd) == 0  # 0.06 > 1.96 sd 1.15
    assert seeds.best_config([[4.55], [4.56, 4.55, 4.57]], sd) == 1  # 0.01: noise
    assert seeds.best_config([[4.55], [4.56]], sd) == 0  # equal seeds: the lowest mean


def test_searched_runs_reads_the_record_the_sweep_writes(tmp_path: Path):
    searched_sweep(tmp_path)
    record = json.loads((tmp_path / "lr_search.json").read_text())
    assert seeds.searched_runs(record) == {run_id("s1", CHOSEN, 0)}
    assert seeds.searched_runs(None) == frozenset() == seeds.searched_runs({"chosen": 3})


def two_sizes(configs_b: list[tuple[str, list[float]]]) -> tuple[seeds.Ladder, np.ndarray]:
    """Size A: one lr, seeds 0, 1, 2 (a pooled sd of 1); size B: `configs_b` (lr, losses)."""
    rows = [{"params_non_embedding": "1", "tokens": "1", "lr": "0.1", "seed": str(s),
             "val_loss": repr(v)} for s, v in enumerate([0.0, 1.0, 2.0])]
    rows += [{"params_non_embedding": "2", "tokens": "1", "lr": lr, "seed": str(s),
              "val_loss": repr(v)} for lr, vs in configs_b for s, v in enumerate(vs)]
    lad = seeds.ladder(rows, list(rows[0]), "params_non_embedding", "tokens")
    return lad, np.array([float(r["val_loss"]) for r in rows])


def test_the_bootstrap_moves_one_seed_lrs_in_the_pick():
    # Two one-seed lrs that tie: the pick between them is noise of sd 1 (the pooled seed
    # sd), so each draw keeps the lower of two such draws: a mean of -1/sqrt(pi).
    lad, log_y = two_sizes([("0.1", [0.0]), ("0.2", [0.0])])
    draws = seeds.seed_level(lad, log_y, 20000, np.random.default_rng(0))
    assert np.mean(draws[:, 1]) == pytest.approx(-1 / math.sqrt(math.pi), abs=0.03)


def test_the_bootstrap_keeps_the_lr_search_choice():
    # The search chose the three-seed lr; a one-seed lr far better is never picked instead.
    rows = [{"run_id": f"r{lr}{s}", "params_non_embedding": "1", "tokens": "1", "lr": lr,
             "seed": str(s), "val_loss": repr(v)}
            for lr, vs in (("0.1", [0.0, 1.0, 2.0]), ("0.2", [-9.0])) for s, v in enumerate(vs)]
    lad = seeds.ladder(rows, list(rows[0]), "params_non_embedding", "tokens",
                       searched=frozenset({"r0.10"}))
    assert [c.rows for c in lad.points] == [[0, 1, 2]]
    draws = seeds.seed_level(lad, np.array([float(r["val_loss"]) for r in rows]), 20000,
                             np.random.default_rng(0))
    assert np.var(draws) == pytest.approx(1 / 3, rel=0.05) and abs(np.mean(draws)) < 0.02


# --------------------------------------------------------- the noise threshold counts seeds


def seeded_sizes(means: dict[str, float], n: dict[str, int], spread=(-0.01, 0.0, 0.01)):
    """Each size's seeds about its mean: a seed sd of 0.01 wherever it has three."""
    sizes = {m: x for m, x, _ in LADDER}
    return [row(m, sizes[m], mean + (spread[s] if n[m] > 1 else 0.0), seed=s)
            for m, mean in means.items() for s in range(n[m])]


def test_within_noise_uses_the_noise_of_a_difference_of_means():
    # Three seeds each: the gap is 1.96 x 0.01 x sqrt(2/3) = 0.016, not 2 x 0.01.
    rows = seeded_sizes({"s1": 4.30, "s2": 4.140, "s3": 4.123}, {"s1": 3, "s2": 3, "s3": 3})
    assert dg.within_noise(evidence(rows)) == []
    # One seed against three: 1.96 x 0.01 x sqrt(4/3) = 0.0226 > 0.021.
    rows = seeded_sizes({"s1": 4.30, "s2": 4.140, "s3": 4.119}, {"s1": 3, "s2": 3, "s3": 1})
    found = dg.within_noise(evidence(rows))
    assert codes(found) == ["within_noise"] and "s2 and s3" in found[0].message
    assert "sqrt(1/n_a + 1/n_b)" in found[0].message


# ----------------------------------------------------------- lr_edge sees diverged runs


def edge_csv(tmp_path: Path, status: str, error: str) -> Path:
    lines = ["run_id,model,params_non_embedding,tokens,lr,seed,val_loss,val_ppl,status,error"]
    for m, n, loss in LADDER:
        for lr, extra in ((3e-3, 0.10), (1e-2, 0.05), (3e-2, 0.0)):
            lines.append(f"{m}-{lr:g},{m},{n:g},2e6,{lr:g},0,{loss + extra!r},"
                         f"{math.exp(loss + extra)!r},ok,")
        lines.append(f"{m}-0.1,{m},{n:g},2e6,0.1,0,,,{status},{error}")
    path = tmp_path / "results.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_lr_edge_says_a_larger_lr_diverged_and_does_not_call_it_the_largest(tmp_path: Path):
    doc = compute_fit(edge_csv(tmp_path, "diverged", "non-finite loss at step 12"),
                      bootstrap=50, holdout=0)
    edge = [d for d in doc["diagnostics"] if d["code"] == "lr_edge"]
    assert edge and all(d["severity"] == "info" for d in edge)
    assert "0.1 diverged (non-finite loss at step 12)" in edge[0]["message"]
    assert "the largest of" not in edge[0]["message"]


def test_lr_edge_warns_when_the_larger_lr_failed_and_measured_nothing(tmp_path: Path):
    doc = compute_fit(edge_csv(tmp_path, "failed", "CUDA out of memory"), bootstrap=50,
                      holdout=0)
    edge = [d for d in doc["diagnostics"] if d["code"] == "lr_edge"]
    assert [d["severity"] for d in edge] == ["warning"]
    assert "s1 at lr 0.03 (the largest that trained of 4 tried; past it 0.1 failed" in \
        edge[0]["message"]


# ----------------------------------------------------------------------- isoFLOP budgets


def isoflop_rows(curvature: dict[float, float], sd: float = 0.02) -> list[dict[str, str]]:
    """Per FLOP budget, 5 sizes on loss = 4 + (c / 2) (ln N - ln N_mid)^2, two seeds each
    (+-sd / sqrt(2), a seed sd of sd); each size's D is C / (6 N)."""
    out = []
    for c, curve in curvature.items():
        for k, n in enumerate(np.geomspace(2e4, 2e5, 5)):
            loss = 4.0 + curve / 2 * (math.log(n) - math.log(2e4 * 10 ** 0.5)) ** 2
            for s, d in enumerate((sd / math.sqrt(2), -sd / math.sqrt(2))):
                r = row(f"i{k}", n, loss + d, tokens=round(c / (6 * n)), seed=s, params=n)
                out.append({**r, "budget_flops": f"{c:g}"})
    return out


def test_an_isoflop_budget_whose_curvature_is_within_the_seed_noise_is_named():
    rows = isoflop_rows({1e12: 0.2, 3e12: 0.002})
    found = dg.within_noise(evidence(rows, header=[*HEADER, "budget_flops"]))
    assert codes(found) == ["within_noise"] and "C = 3e+12" in found[0].message
    assert "C = 1e+12" not in found[0].message
    # The U of each budget is its design, not a larger size doing worse.
    assert dg.non_monotone(evidence(rows, header=[*HEADER, "budget_flops"])) == []


# ------------------------------------------------------------------------ data_limited


def test_data_limited_compares_with_the_tokens_per_parameter_the_fit_measured():
    rows = ladder(tokens=30 * (793e3 + 30e3))  # s5 sees 30 tokens per parameter
    measured = {"isoflop": {"converged": True, "derived": {
        "tokens_per_param": {"flops": 1e12, "value": 50.3}}}}
    found = dg.data_limited(evidence(rows, fits=measured))
    assert codes(found) == ["data_limited"]
    assert "30.0 tokens per parameter" in found[0].message
    assert "50.3 that this fit measured (isoflop, at C = 1e+12)" in found[0].message
    # Without a measured optimum: Hoffmann's 20, said as the fallback.
    assert dg.data_limited(evidence(rows)) == []
    low = dg.data_limited(evidence(ladder()))
    assert "~20 of Hoffmann et al. (2022)" in low[0].message and "measured no" in low[0].message


def test_the_bootstrap_pick_prefers_more_seeds_within_the_noise() -> None:
    # Size B: lr 0.1 with three seeds (a resampled mean X about 1, var 1/3) and lr 0.2 with
    # one seed at 0.5 (a draw Y ~ N(0.5, 1): the pooled seed sd). `pick` keeps the
    # three-seed lr unless Y is below X by more than the gap 1.96 sqrt(1 + 1/3) = 2.263, so
    # the draw is X - 1 + (Y - X) 1{Y - X < -2.263}. With D = Y - X ~ N(-0.5, 4/3):
    # E[D 1{D < c}] = mu Phi(z) - s phi(z), z = (c - mu) / s = -1.526, which is -0.176.
    # A plain argmin (no gap) would keep the lower mean: about -0.56.
    lad, log_y = two_sizes([("0.1", [0.0, 1.0, 2.0]), ("0.2", [0.5])])
    assert [c.rows for c in lad.points] == [[0, 1, 2], [3, 4, 5]] and lad.loss_sd == 1.0
    draws = seeds.seed_level(lad, log_y, 20000, np.random.default_rng(0))
    s = math.sqrt(4 / 3)
    z = (-1.96 * s + 0.5) / s
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    expected = -0.5 * 0.5 * math.erfc(-z / math.sqrt(2)) - s * phi
    assert expected == pytest.approx(-0.176, abs=0.002)
    assert np.mean(draws[:, 1]) == pytest.approx(expected, abs=0.03)
