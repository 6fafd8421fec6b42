"""validation.build's `validation` and `prediction` blocks, whole, on numbers worked out by
hand: which validation runs are scored along N (a run at the ladder's largest budget is;
a run of no positive size is not), approach 3 (the chinchilla law) scoring them at their
(N, D) read from the fit's own D column, only when every run has a positive N and D, the
new-run noise drawn from default_rng(seed + 2), and the ladder's holdout rejection drawing
one run's seed noise.

The law E = 1, A = B = 1e5, alpha = beta = 1/2 gives L(1e10, 1e10) = 1 + 1 + 1 = 3 and
L(1e10, 4e10) = 2.5. Its bootstrap draws differ in E only, by 0.001 steps from -0.02 to
+0.02: 41 draws whose 2.5 and 97.5 percentiles (np.percentile's 2nd and 40th values) are
L - 0.019 and L + 0.019."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import seeds, validation
from scalecli.fit.laws import FitResult

THETA = np.array([1.0, 1e5, 1e5, 0.5, 0.5])  # E, A, B, alpha, beta
STEPS = np.linspace(-0.02, 0.02, 41)
SPREAD_BOOTS = np.tile(THETA, (41, 1))
SPREAD_BOOTS[:, 0] += STEPS  # E - 0.02 .. E + 0.02
FLAT_BOOTS = np.tile(THETA, (40, 1))  # every draw on THETA: only seed noise spreads them
HEADER = ["run_id", "model", "params_non_embedding", "params", "tokens", "train_tokens",
          "budget_flops", "seed", "val_loss", "status", "role"]
X_COL, Y_COL = "params_non_embedding", "val_loss"


def law(n: float, d: float) -> float:
    e, a, b, alpha, beta = THETA
    return float(e + a / n**alpha + b / d**beta)


def isoflop_ladder() -> tuple[list[dict[str, str]], seeds.Ladder]:
    """Three sizes on one budget (1e18 FLOPs, the largest of the ladder): no one law along
    N, so no 1-D form predicts; only approach 3 scores the validation runs."""
    rows = [{"run_id": f"l{k}", "model": f"l{k}", "params_non_embedding": repr(n),
             "params": repr(n), "tokens": repr(1e18 / (6 * n)),
             "train_tokens": repr(1e18 / (6 * n)), "budget_flops": "1e18", "seed": "0",
             "val_loss": repr(law(n, 1e18 / (6 * n))), "status": "ok", "role": ""}
            for k, n in enumerate([1e7, 3e7, 1e8])]
    return rows, seeds.ladder(rows, HEADER, X_COL, "tokens")


def held_run(run_id: str, x: str, n: str, tokens: str, loss: float, budget: str = "",
             train_tokens: str = "") -> dict[str, str]:
    return {"run_id": run_id, "model": f"m-{run_id}", "params_non_embedding": x,
            "params": n, "tokens": tokens, "train_tokens": train_tokens,
            "budget_flops": budget, "seed": "0", "val_loss": repr(loss), "status": "ok",
            "role": "validation"}


def chinchilla(d: str | None = "tokens") -> dict:
    block = {"converged": True, "x": "params", "y": Y_COL}
    if d is not None:
        block["d"] = d
    return block


def build(held: list[dict[str, str]], fits: dict, boots: np.ndarray = SPREAD_BOOTS,
          seed: int = 0, seed_sd: float | None = 0.0):
    rows, lad = isoflop_ladder()
    draws = {"chinchilla": (FitResult("chinchilla", THETA, True, ""), boots)}
    return validation.build(rows, lad, held, HEADER, fits, draws, 100, seed, None, seed_sd)


def entry(run: dict[str, str], scores: list[dict]) -> dict:
    """A scored run as fit.json's validation.runs lists it (no n, no budget_flops)."""
    best = scores[0]["form"] if scores else None
    return {"run_id": run["run_id"], "model": run["model"],
            "x": float(run["params_non_embedding"]), "tokens": float(run["tokens"]),
            "flops": None, "observed": float(run["val_loss"]), "n_seeds": 1,
            "scores": scores, "best_form": best}


def on_spread(predicted: float, observed: float) -> dict:
    """approach 3's score for SPREAD_BOOTS and no seed noise."""
    low, high = predicted - 0.019, predicted + 0.019
    return {"form": "chinchilla", "predicted": pytest.approx(predicted, rel=1e-12),
            "low": pytest.approx(low, rel=1e-12), "high": pytest.approx(high, rel=1e-12),
            "rel_error": pytest.approx((predicted - observed) / observed, abs=1e-12),
            "inside": low <= observed <= high}


def empty_block() -> dict:
    return {"x": X_COL, "y": Y_COL, "runs": [], "best_form": None, "ruled_out": [],
            "misses": 0}


# ------------------------------------------------- which runs are scored along N


def test_a_run_at_the_ladders_largest_budget_is_scored_along_n_at_the_fits_d_column():
    """--d train_tokens: approach 3 reads D from that column (1e10: L = 3, the observed
    loss), not from tokens (4e10: L = 2.5). The run's budget is the ladder's own largest,
    1e18, not one beyond it: it is scored along N and gives no validation.compute."""
    run = held_run("v0", "8e9", "1e10", "4e10", 3.0, budget="1e18", train_tokens="1e10")
    pred, block, found = build([run], {"chinchilla": chinchilla("train_tokens")})
    assert pred is None
    assert block == {**empty_block(), "runs": [entry(run, [on_spread(3.0, 3.0)])],
                     "best_form": "chinchilla"}
    assert found == []


def test_a_chinchilla_block_without_a_d_column_reads_tokens():
    """No `d` in the fit's block: D is the tokens column, 4e10, where the law says 2.5; the
    run observed 3.0, 0.481 above the interval's top, 2.519: a miss, said once."""
    run = held_run("v0", "8e9", "1e10", "4e10", 3.0, budget="1e18", train_tokens="1e10")
    _, block, found = build([run], {"chinchilla": chinchilla(None)})
    score = on_spread(2.5, 3.0)
    assert score["inside"] is False
    assert block == {"x": X_COL, "y": Y_COL, "runs": [entry(run, [score])],
                     "best_form": "chinchilla", "ruled_out": ["chinchilla"], "misses": 1}
    (miss,) = found
    assert miss.message == (
        "The chinchilla form's 95% prediction interval missed a validation run: m-v0: "
        "predicted 2.5 [2.481, 2.519], observed 3 (-16.7%, 0.481 nats outside). Do not "
        "extrapolate with this form alone.")


def test_a_run_of_no_positive_size_is_left_out_and_one_of_size_one_is_scored():
    """params_non_embedding 0 (a count that was never filled in) is no point along N: the
    run is not listed. Size 1 is a size: scored at its (N, D) = (1e10, 1e10)."""
    zero = held_run("v0", "0", "1e10", "1e10", 3.0)
    one = held_run("v1", "1", "1e10", "1e10", 3.0)
    _, block, found = build([zero, one], {"chinchilla": chinchilla()})
    assert block == {**empty_block(), "runs": [entry(one, [on_spread(3.0, 3.0)])],
                     "best_form": "chinchilla"}
    assert found == []


def test_a_run_along_n_that_nothing_can_score_is_not_listed():
    # no 1-D form (an isoFLOP ladder) and no chinchilla fit: validation.runs stays empty
    run = held_run("v0", "8e9", "1e10", "1e10", 3.0)
    pred, block, found = build([run], {})
    assert pred is None and block == empty_block() and found == []


# ------------------------------------------- approach 3 needs a positive N and D per run


@pytest.mark.parametrize(("n", "d", "scored"), [
    ("0", "1e10", False), ("1e10", "0", False), ("", "1e10", False), ("1e10", "", False),
    ("-1e10", "1e10", False), ("1e10", "-1e10", False),
    # N or D of 1 is still positive: L = 1 + 1e5 + 1
    ("1", "1e10", True), ("1e10", "1", True)])
def test_approach_3_scores_the_runs_only_when_each_has_a_positive_total_n_and_d(
        n: str, d: str, scored: bool):
    """One run with a blank, zero or negative N or D, and approach 3 scores none of the
    runs (the law has no value there); nothing else scores them on an isoFLOP ladder."""
    observed = law(float(n), float(d)) if scored else 3.0
    run = held_run("v0", "8e9", n, d, observed, train_tokens=d)
    _, block, found = build([run], {"chinchilla": chinchilla("train_tokens")})
    if scored:
        assert observed == pytest.approx(100002.0)
        # entry() reads tokens; here D is the same train_tokens cell
        assert block == {**empty_block(), "runs": [entry(run, [on_spread(observed, observed)])],
                         "best_form": "chinchilla"}
    else:
        assert block == empty_block()
    assert found == []


# ------------------------------------------------------- the new-run noise's draws


def test_approach_3s_new_run_noise_is_drawn_from_default_rng_seed_plus_2():
    """Every bootstrap draw on THETA, seed sd 0.1: the draws at the runs are L(N, D) plus
    0.1 z, z default_rng(seed + 2)'s standard normals, one (40, 2) block for the two runs
    (column j for run j); so the interval is L plus those normals' percentiles."""
    seed, sd = 5, 0.1
    runs = [held_run("v0", "8e9", "1e10", "1e10", 3.0),
            held_run("v1", "2e10", "2.5e10", "4e10", 2.6)]
    _, block, _ = build(runs, {"chinchilla": chinchilla()}, FLAT_BOOTS, seed, sd)
    z = np.random.default_rng(seed + 2).normal(0.0, sd, (40, 2))
    low, high = np.percentile(z, [2.5, 97.5], axis=0)
    for j, (got, n, d) in enumerate(zip(block["runs"], (1e10, 2.5e10), (1e10, 4e10),
                                        strict=True)):
        (score,) = got["scores"]
        truth = law(n, d)
        assert score["predicted"] == pytest.approx(truth, rel=1e-12)
        assert score["low"] == pytest.approx(truth + low[j], rel=1e-12)
        assert score["high"] == pytest.approx(truth + high[j], rel=1e-12)
    # the same seed draws the same interval: fit.json is reproducible
    _, again, _ = build(runs, {"chinchilla": chinchilla()}, FLAT_BOOTS, seed, sd)
    assert again == block


# -------------------------------------------- the ladder's holdout rejection with seeds

SIZES = np.geomspace(2e4, 2e6, 6).round()


def saturating(n: float) -> float:
    return 3.0 + 40.0 * n**-0.35


def test_the_holdout_rejection_draws_one_runs_seed_noise():
    """An exact saturating ladder but for its largest size, 0.03 above the law. The refit
    without that size is the law exactly, so with no seed noise its interval is the point
    law(top) and 0.03 misses it: the saturating form is rejected, quoting that point. With a
    seed sd of 0.05 the interval is law(top) +- about 1.96 x 0.05 = 0.098, which holds 0.03:
    only the power law (straight in ln N, the ladder bends) is left out."""
    top = SIZES[-1]
    rows = [{"run_id": f"r{i}", "model": f"s{i}", "params_non_embedding": repr(float(n)),
             "tokens": "2000000", "seed": "0", "val_loss": repr(
                 float(saturating(n)) + (0.03 if n == top else 0.0)), "status": "ok", "role": ""}
            for i, n in enumerate(SIZES)]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, X_COL, "tokens")
    texts = {}
    for sd in (None, 0.05):
        pred, block, found = validation.build(rows, lad, [], header, {}, {}, 100, 0, None, sd)
        assert block is None and found == []
        texts[sd] = pred["rejected"]
    assert set(texts[0.05]) == {"power"}
    assert texts[None]["power"] == texts[0.05]["power"]
    truth = float(saturating(top))
    assert set(texts[None]) == {"power", "saturating"}
    assert texts[None]["saturating"] == (
        f"its refit without the largest size predicted it at {truth:.3f} [{truth:.3f}, "
        f"{truth:.3f}], observed {truth + 0.03:.3f} (holdout check)")
