"""The ladder's points and its prediction block, and the lr that a size keeps, on numbers
worked out by hand: a ladder of exactly the default form's minimum of sizes, the reason the
combined prediction gives, and the seed-noise rule of `seeds.pick` with and without a
measured sd."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import ladder_forms, seeds, slices
from scalecli.fit.prediction import FormDraws


def test_a_ladder_of_exactly_three_sizes_has_points_and_of_two_has_none() -> None:
    # The default form (power, a and b) needs 2 + 1 = 3 points: three sizes are a ladder.
    rows = [{"model": f"s{k}", "params_non_embedding": str(n), "tokens": "2000000",
             "seed": str(s), "val_loss": str(loss + 0.02 * s)}
            for k, (n, loss) in enumerate([(22000, 4.29), (90000, 4.15), (360000, 4.08)])
            for s in (0, 1)]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, "params_non_embedding", "tokens")
    points = ladder_forms.ladder_points(lad, rows)
    assert points is not None
    x, y, _ = points
    assert x.tolist() == [22000.0, 90000.0, 360000.0]
    assert y.tolist() == pytest.approx([4.30, 4.16, 4.09], abs=1e-12)  # the two seeds' mean
    two = rows[:4]
    assert ladder_forms.ladder_points(seeds.ladder(two, header, "params_non_embedding",
                                                   "tokens"), two) is None


def _draws(form: str, centre: float) -> FormDraws:
    return FormDraws(form, np.array([centre]), centre + np.linspace(-0.05, 0.05, 20)[:, None])


def test_the_prediction_block_says_which_forms_it_combines_and_why() -> None:
    xs, labels, sources = np.array([1e7]), [None], ["factor"]

    def reason(forms: list[FormDraws], rejected: dict[str, str] | None = None) -> str:
        block = ladder_forms.prediction_block(xs, labels, sources, forms, 0.01, rejected)
        return block["points"][0]["combined"]["reason"]

    power, sat = _draws("power", 3.60), _draws("saturating", 3.70)
    # one converged form and nothing rejected: it is the only one, not one "alone"
    assert reason([power]) == "the only converged form (power)"
    assert reason([power, sat]) == ladder_forms.REASON
    assert reason([power, sat], {"saturating": "its refit missed"}) == (
        "the power form alone: saturating left out, as its refit missed")


def test_without_a_measured_seed_sd_the_lowest_mean_wins_whatever_the_seed_counts() -> None:
    # No sd (no configuration with two finite seeds): nothing tells the means apart by
    # noise, so the plain lowest mean is kept even against a configuration with more rows
    # (3.8 < mean(3.9, 3.95) = 3.925).
    assert seeds.best_config([[3.8], [3.9, 3.95]], None) == 0
    assert seeds.best_config([[3.95], [3.9, 3.94]], None) == 1
    # With an sd of 0.02 the one-run 3.8 still wins: 3.925 - 3.8 = 0.125 is beyond
    # 1.96 * 0.02 * sqrt(1 + 1/2) = 0.048.
    assert seeds.best_config([[3.8], [3.9, 3.95]], 0.02) == 0


def test_the_diagnostics_keep_the_lr_with_more_seeds_within_the_seed_noise() -> None:
    # One size, two lrs: lr 1e-3 with seeds 3.98, 4.00, 4.02 (sd 0.02, the pooled sd) and
    # a one-seed probe at lr 3e-3 with 3.99. The probe is lower by 0.01, inside the noise
    # of the difference, 1.96 * 0.02 * sqrt(1 + 1/3) = 0.045: the size keeps the
    # three-seed lr, whose mean is 4.00, as the fit does (`seeds.pick`).
    def row(lr: str, seed: int, loss: float) -> dict[str, str]:
        return {"model": "s1", "params_non_embedding": "21700", "tokens": "2000000",
                "lr": lr, "seed": str(seed), "val_loss": repr(loss), "val_ppl": repr(np.exp(loss))}

    rows = [row("0.001", 0, 3.98), row("0.001", 1, 4.00), row("0.001", 2, 4.02),
            row("0.003", 0, 3.99)]
    ev = slices.Evidence(rows=rows, header=list(rows[0]), x_col="params_non_embedding",
                         y_col="val_ppl", fits={}, predict=None, data_summary=None)
    assert slices.pooled_seed_sd(ev) == pytest.approx(0.02, rel=1e-9)
    (size,) = slices.all_sizes(ev)
    assert size.label == "s1"
    assert size.loss == pytest.approx(4.00, abs=1e-12)
    assert sorted(r.loss for r in size.best) == [3.98, 4.00, 4.02]
    assert len(size.runs) == 4
