"""A size whose val_loss cells are blank while its val_ppl is filled: the power fit (on
val_ppl) keeps it, the combined prediction past the ladder (on val_loss) leaves it out, and
the seed level drawn for every point of the ladder must be cut to the points that
prediction keeps. It was not: `scalecli fit` crashed with a numpy broadcast error."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from scalecli.fit import driver
from scalecli.fit.driver import compute_fit

SIZES = (2e4, 8e4, 1.5e5, 3e5)
BLANK = 8e4  # the size without a val_loss: point 1 of 4, so a cut to the first 3 is wrong


def write_csv(folder: Path) -> Path:
    losses = {2e4: [4.30, 4.20], 8e4: [4.10, 4.12], 1.5e5: [4.00, 4.02, 4.04],
              3e5: [3.90, 3.94]}
    rows = []
    for n in SIZES:
        for seed, loss in enumerate(losses[n]):
            rows.append({"model": f"m{n:g}", "params_non_embedding": n, "params": 1.2 * n,
                         "tokens": 1e8, "lr": 0.01, "seed": seed, "status": "ok",
                         "val_loss": "" if n == BLANK else loss,
                         "val_ppl": math.exp(loss)})
    path = folder / "results.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_size_without_val_loss_is_left_out_of_the_prediction_and_its_seed_level(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path)
    doc = compute_fit(path, bootstrap=40, holdout=0)  # crashed before the cut
    # 10x the largest size, 3e5, which has a loss
    assert [p["x"] for p in doc["prediction"]["points"]] == [3e6]
    assert doc["fits"]["power"]["n_points"] == 4  # val_ppl has every size

    # A seed level of 0 everywhere but at the blank size, where it is huge: cut to the kept
    # points it is no level at all, so the prediction is the one without a seed level.
    def level_at_blank(lad, rows, y_col):
        column = [p for p, c in enumerate(lad.points)
                  if float(rows[c.rows[0]]["params_non_embedding"]) == BLANK]
        assert len(column) == 1

        def draw(n_boot, rng):
            out = np.zeros((n_boot, len(lad.points)))
            out[:, column] = 1e3
            return out
        return draw

    monkeypatch.setattr(driver, "_seed_level", level_at_blank)
    cut = compute_fit(path, bootstrap=40, holdout=0)["prediction"]
    monkeypatch.setattr(driver, "_seed_level", lambda lad, rows, y_col: None)
    none = compute_fit(path, bootstrap=40, holdout=0)["prediction"]
    assert cut == none
