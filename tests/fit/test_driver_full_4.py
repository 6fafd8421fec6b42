"""What `scalecli fit` reads beside the fit itself, end to end: under `--form all` a law
form that cannot be fitted is a note, and only when none can is the first form's error
raised (one red line); the diagnostics read the default form's y (a CSV without
val_loss compares its val_ppl), the --predict values, the sweep folder's data.json and
the lr search's record; and rows in several tokenizers fit bits per byte unless --y
chooses a column, which is then honoured and warned about."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.fit.driver import compute_fit
from scalecli.fit.request import FitOptions
from tests.fit.test_conventions import write
from tests.fit.test_driver_full_1 import notes_of, run


def of_code(doc: dict, code: str) -> list[dict[str, str]]:
    return [d for d in doc["diagnostics"] if d["code"] == code]


def ppl_ladder(ppl: list[float], **extra: str) -> list[dict[str, str]]:
    """Sizes N = 1e6, 2e6, 4e6, ... (Kaplan's N) at the given perplexities, one run each,
    no val_loss column."""
    return [{"params_non_embedding": repr(1e6 * 2.0**k), "tokens": "1e8", "val_ppl": repr(p),
             "status": "ok", **extra} for k, p in enumerate(ppl)]


# ------------------------------------------------------------------ --form all's errors


def test_under_all_when_no_law_form_can_be_fitted_the_first_forms_error_is_raised(
        tmp_path: Path):
    # two sizes: power (2 parameters) needs 3 points, saturating 4, chinchilla 6; the
    # power form is fitted first, so its error is the one a user sees
    path = write(tmp_path, [run(1e7, 1e9), run(2e7, 2e9)])
    first = (f"2 rows of {path} are left to fit; the power form has 2 parameters and needs "
             "at least 3 points")
    with pytest.raises(ScaleError) as error:
        compute_fit(path, form="all", bootstrap=0, holdout=0)
    assert str(error.value) == first
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "all", "--bootstrap", "0",
                                      "--holdout", "0"])
    assert result.exit_code == 2
    assert result.output == f"error: {first}\n"  # one line, no traceback
    assert not (tmp_path / "fit.json").exists()


def test_under_all_the_forms_that_cannot_be_fitted_are_notes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # three sizes on one budget: power fits; saturating (3 parameters) needs 4 points and
    # chinchilla (5) needs 6, each said with its own error
    path = write(tmp_path, [run(n, 1e9) for n in (1e7, 2e7, 4e7)])
    notes = notes_of(FitOptions(path, form="all", bootstrap=0, holdout=0), monkeypatch)
    assert notes == [
        f"saturating: skipped (3 rows of {path} are left to fit; the saturating form has 3 "
        "parameters and needs at least 4 points)",
        f"chinchilla: skipped (3 rows of {path} are left to fit; the chinchilla form has 5 "
        "parameters and needs at least 6 points)"]
    doc = json.loads((tmp_path / "fit.json").read_text())
    assert list(doc["fits"]) == ["power"]


# ------------------------------------------------------------ what the diagnostics read


def test_without_val_loss_the_diagnostics_compare_the_default_forms_y(tmp_path: Path):
    # no val_loss: the sizes are compared on val_ppl, the power form's y; 4e6 (39) is
    # worse than the smaller 2e6 (38), and one run per size measures no noise
    path = write(tmp_path, ppl_ladder([40.0, 38.0, 39.0]))
    doc = compute_fit(path, bootstrap=20, holdout=0)
    assert of_code(doc, "non_monotone") == [{
        "code": "non_monotone", "severity": "warning",
        "message": "A larger size has a higher best val_ppl than a smaller one (no seeds "
                   "measure the noise, so any increase counts): 4e+06 (39.000) is worse than "
                   "the smaller 2e+06 (38.000). Check each size's lr and seeds before "
                   "trusting the exponent."}]


def test_the_predict_values_past_ten_times_the_largest_size_are_warned_about(
        tmp_path: Path):
    # the largest N is 4e6: 2e7 is 5x (checked), 1e9 is 250x (a guess)
    path = write(tmp_path, ppl_ladder([40.0 * 2.0 ** (-0.1 * k) for k in range(3)]))
    doc = compute_fit(path, predict=[2e7, 1e9], bootstrap=20, holdout=0)
    assert of_code(doc, "far_extrapolation") == [{
        "code": "far_extrapolation", "severity": "warning",
        "message": "--predict 1e+09 reaches 250x the largest params_non_embedding fitted "
                   "(4e+06); nothing checks a law beyond 10x, so treat it as a guess and add "
                   "larger sizes."}]
    assert of_code(compute_fit(path, predict=[2e7], bootstrap=20, holdout=0),
                   "far_extrapolation") == []


@pytest.mark.parametrize(("train_tokens", "severity", "epochs", "worth"), [
    (100_000_000, "info", "2.00", "repeated tokens are worth nearly as much as fresh ones up "
     "to about 4 epochs (Muennighoff et al. 2023), so this is a note"),
    (40_000_000, "warning", "5.00", "beyond about 4 epochs repeated tokens are worth much "
     "less than fresh ones (Muennighoff et al. 2023), so these losses are higher than fresh "
     "data would give at the same budget"),
])
def test_the_sweep_folders_data_json_counts_the_epochs(tmp_path: Path, train_tokens: int,
                                                       severity: str, epochs: str,
                                                       worth: str):
    # every run trained on 2e8 tokens of a training split of `train_tokens`
    rows = [{**r, "tokens": "200000000"}
            for r in ppl_ladder([40.0 * 2.0 ** (-0.1 * k) for k in range(3)])]
    path = write(tmp_path, rows)
    alone = compute_fit(path, bootstrap=20, holdout=0)
    assert of_code(alone, "skipped")[0]["message"] == (
        "multi_epoch skipped: no data.json beside the CSV (not a sweep folder), so the "
        "number of training tokens is unknown")
    (tmp_path / "data.json").write_text(json.dumps({"train_tokens": train_tokens}))
    doc = compute_fit(path, bootstrap=20, holdout=0)
    assert of_code(doc, "multi_epoch") == [{
        "code": "multi_epoch", "severity": severity,
        "message": f"The budget of 200,000,000 tokens is {epochs} epochs of the "
                   f"{train_tokens:,} training tokens; {worth}. Lower the budget or add "
                   "training data for one pass."}]
    assert not any(d["message"].startswith("multi_epoch") for d in of_code(doc, "skipped"))


LRS = (1e-3, 3e-3, 1e-2)


def lr_grid(tmp_path: Path, record: bool) -> Path:
    """Sizes s1-s3, each at 3 lrs (seed 0), the middle lr best by 0.05 nats; the lr
    search probed s1 and chose the largest lr, 1e-2."""
    penalty = {1e-3: 0.10, 3e-3: 0.0, 1e-2: 0.05}
    rows = [{"model": f"s{k + 1}", "params_non_embedding": repr(1e6 * 2.0**k), "tokens": "1e8",
             "lr": repr(lr), "seed": "0", "run_id": f"s{k + 1}-{lr:g}",
             "val_loss": repr(4.0 - 0.2 * k + penalty[lr]),
             "val_ppl": repr(math.exp(4.0 - 0.2 * k + penalty[lr])), "status": "ok"}
            for k in range(3) for lr in LRS]
    path = write(tmp_path, rows)
    if record:
        (tmp_path / "lr_search.json").write_text(json.dumps({
            "probes": [{"budget_index": 0, "model": "s1", "lr_base": lr, "lr": lr,
                        "run_id": f"s1-{lr:g}"} for lr in LRS],
            "chosen": [{"budget_index": 0, "lr": 1e-2}]}))
    return path


@pytest.mark.parametrize("record", [True, False])
def test_lr_edge_reads_the_lr_that_the_search_chose(tmp_path: Path, record: bool):
    # with the search's record s1 keeps lr 1e-2, the largest of its grid: at the edge;
    # without it each size keeps its best lr, 3e-3, inside the grid
    doc = compute_fit(lr_grid(tmp_path, record), bootstrap=20, holdout=0)
    point = doc["seed_noise"]["points"][0]
    assert (point["label"], point["lr"]) == ("s1", 1e-2 if record else 3e-3)
    assert of_code(doc, "lr_edge") == ([{
        "code": "lr_edge", "severity": "warning",
        "message": "The best learning rate is at the edge of the grid for: s1 at lr 0.01 "
                   "(the largest of 3 tried). The optimum may lie outside it, so that loss is "
                   "too high; extend the grid."}] if record else [])


# --------------------------------------------------------------- bits per byte, --y


def tokenizers_table(tmp_path: Path) -> Path:
    """Five sizes alternating two tokenizers: val_bpb = 1.2 (N/1e6)^-0.08 exactly, val_ppl
    = 30 (N/1e6)^-0.2, so each column's slope says which one was fitted."""
    return write(tmp_path, [
        {"params_non_embedding": repr(1e6 * 2.0**k), "tokens": "1e8",
         "tokenizer": ("gpt2", "llama")[k % 2], "val_bpb": repr(1.2 * 2.0 ** (-0.08 * k)),
         "val_ppl": repr(30.0 * 2.0 ** (-0.2 * k)), "status": "ok"} for k in range(5)])


def test_rows_in_two_tokenizers_fit_bits_per_byte(tmp_path: Path):
    doc = compute_fit(tokenizers_table(tmp_path), bootstrap=20, holdout=0)
    power = doc["fits"]["power"]
    assert power["y"] == "val_bpb"
    assert power["params"]["b"]["value"] == pytest.approx(-0.08, abs=1e-9)
    assert power["params"]["a"]["value"] == pytest.approx(1.2 * 1e6**0.08, rel=1e-8)
    assert of_code(doc, "mixed_tokenizers") == [{
        "code": "mixed_tokenizers", "severity": "info",
        "message": "The fitted rows were measured in 2 tokenizers (gpt2, llama): loss and "
                   "perplexity per token are not comparable across them, so every form fits "
                   "val_bpb (bits per byte of the same text) instead; --y chooses another "
                   "column"}]


def test_a_per_token_y_the_user_chose_is_fitted_and_warned_about(tmp_path: Path):
    doc = compute_fit(tokenizers_table(tmp_path), y="val_ppl", bootstrap=20, holdout=0)
    power = doc["fits"]["power"]
    assert power["y"] == "val_ppl"
    assert power["params"]["b"]["value"] == pytest.approx(-0.2, abs=1e-9)
    assert power["params"]["a"]["value"] == pytest.approx(30.0 * 1e6**0.2, rel=1e-8)
    assert of_code(doc, "mixed_tokenizers") == [{
        "code": "mixed_tokenizers", "severity": "warning",
        "message": "The fitted rows were measured in 2 tokenizers (gpt2, llama), so val_ppl "
                   "(per token) compares different units; fit val_bpb (bits per byte) "
                   "instead, or one tokenizer at a time with --where tokenizer=..."}]
    # bits per byte chosen by the user: nothing to say
    chosen = compute_fit(tokenizers_table(tmp_path), y="val_bpb", bootstrap=20, holdout=0)
    assert chosen["fits"]["power"]["y"] == "val_bpb"
    assert of_code(chosen, "mixed_tokenizers") == []


def test_the_per_byte_choice_is_every_forms_y_and_what_the_diagnostics_compare(
        tmp_path: Path):
    # bits per byte rise from 2e6 to 4e6 while perplexity falls: the comparison is made
    # on the column the fit chose (no val_loss), not on the power form's own val_ppl
    rows = [{"params_non_embedding": repr(1e6 * 2.0**k), "tokens": "1e8",
             "tokenizer": ("gpt2", "llama")[k % 2], "val_bpb": repr(bpb),
             "val_ppl": repr(30.0 * 2.0 ** (-0.2 * k)), "status": "ok"}
            for k, bpb in enumerate([1.30, 1.20, 1.25, 1.10])]
    doc = compute_fit(write(tmp_path, rows), bootstrap=20, holdout=0)
    assert of_code(doc, "non_monotone") == [{
        "code": "non_monotone", "severity": "warning",
        "message": "A larger size has a higher best val_bpb than a smaller one (no seeds "
                   "measure the noise, so any increase counts): 4e+06 (1.2500) is worse than "
                   "the smaller 2e+06 (1.2000). Check each size's lr and seeds before "
                   "trusting the exponent."}]
    assert np.isfinite(doc["fits"]["power"]["params"]["b"]["value"])
