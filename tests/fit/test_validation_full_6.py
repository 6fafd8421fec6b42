"""validation.validation_runs, the runs that fit.json's validation.runs scores (each entry is
one there, less n and budget_flops), worked out by hand:

- every configuration of a validation size is its own run: an lr held out at two values
  is scored at both, not cut to the better lr as the ladder's sizes are (`all_lrs`);
- a configuration with no finite loss (unfinished, diverged) is skipped, and the ones
  after it are still scored;
- each run carries its own flops cell;
- with Kaplan's N in the CSV and no model column, the runs are told apart by that N.

The losses are exact in binary, so each mean over seeds is exact and the entries compare
whole with ==.
"""

from __future__ import annotations

from scalecli.fit import validation as vd

HEADER = ["run_id", "model", "params_non_embedding", "params", "tokens", "flops", "lr", "seed",
          "val_loss"]


def row(run_id: str, model: str, n: str, n_total: str, tokens: str, flops: str, lr: str,
        seed: str, loss: str) -> dict[str, str]:
    return dict(zip(HEADER, (run_id, model, n, n_total, tokens, flops, lr, seed, loss),
                    strict=True))


def run(run_id: str, observed: float, n_seeds: int) -> dict:
    # v1: N = 1e8 (1.2e8 with embeddings) on 2e9 tokens, 6 x 1.2e8 x 2e9 = 1.44e18 FLOPs
    return {"run_id": run_id, "model": "v1", "x": 1e8, "n": 1.2e8, "tokens": 2e9,
            "flops": 1.44e18, "budget_flops": None, "observed": observed, "n_seeds": n_seeds}


def test_each_lr_of_a_validation_size_is_a_run_after_one_without_a_loss() -> None:
    rows = [
        # v0 never finished: no val_loss, so nothing to score, and v1 still is
        row("v0-0", "v0", "5e7", "6e7", "1e9", "3.6e17", "1e-3", "0", ""),
        row("v1-a-0", "v1", "1e8", "1.2e8", "2e9", "1.44e18", "1e-3", "0", "3.0"),
        row("v1-a-1", "v1", "1e8", "1.2e8", "2e9", "1.44e18", "1e-3", "1", "3.5"),
        # the other lr, lower than lr 1e-3's mean 3.25: a ladder size would keep one of
        # them (the pick); a validation run is scored at every lr it was trained at
        row("v1-b-0", "v1", "1e8", "1.2e8", "2e9", "1.44e18", "2e-3", "0", "2.875"),
    ]
    assert vd.validation_runs(rows, HEADER) == [run("v1-a-0", 3.25, 2), run("v1-b-0", 2.875, 1)]


def test_without_a_model_column_runs_are_told_apart_by_kaplans_n() -> None:
    # no params column either: a CSV that counts N without embeddings only; two sizes on
    # the same tokens, the first with two seeds
    header = ["params_non_embedding", "tokens", "seed", "val_loss"]
    rows = [dict(zip(header, values, strict=True)) for values in (
        ("1e8", "1e9", "0", "3.0"), ("1e8", "1e9", "1", "3.5"), ("2e8", "1e9", "0", "2.75"))]
    common = {"run_id": None, "model": None, "n": None, "tokens": 1e9, "flops": None,
              "budget_flops": None}
    assert vd.validation_runs(rows, header) == [
        {**common, "x": 1e8, "observed": 3.25, "n_seeds": 2},
        {**common, "x": 2e8, "observed": 2.75, "n_seeds": 1}]
