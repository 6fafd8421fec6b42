"""What `scalecli fit` says and fits, by the driver's own steps: each error that reads the
rows names the file and the value, with the thresholds at exactly 2 values; `--x tokens`
on two sizes fits each with the bootstrap, seed and holdout asked for; `--form all` keeps
every note and finding past its isoFLOP fit and fits the exponents table as asked; and the
seed level of b's interval is taken on log y for losses in (0, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import scalecli.fit.driver as driver
from scalecli.errors import ScaleError
from scalecli.fit import chinchilla
from scalecli.fit.analysis import analyse
from scalecli.fit.driver import compute_fit, run_fit
from scalecli.fit.forms import registry
from scalecli.fit.forms.base import ComputeForm
from scalecli.fit.request import FitOptions
from tests.fit.test_conventions import write

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # Hoffmann et al.'s E, A, B, alpha, beta


def run(n: float, tokens: float, model: str = "", **extra: str) -> dict[str, str]:
    """One row on Hoffmann et al.'s law, N counted both ways."""
    n, tokens = float(n), float(tokens)
    loss = float(chinchilla.chinchilla_predict(THETA, np.array(n), np.array(tokens)))
    return {"model": model or f"n{n:.3g}", "params": repr(float(n)),
            "params_non_embedding": repr(0.8 * n), "tokens": repr(float(tokens)),
            "val_loss": repr(loss), "val_ppl": repr(math.exp(loss)), "status": "ok", **extra}


def notes_of(options: FitOptions, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The notes `scalecli fit` prints under its tables (the forms it had to skip)."""
    seen: list[list[str]] = []
    monkeypatch.setattr(driver, "print_summary", lambda doc, notes, out: seen.append(notes))
    assert run_fit(options) == 0
    return seen[0]


# ------------------------------------------------------------------ the rows' errors


@pytest.mark.parametrize(("form", "column"), [("power", "params_non_embedding"),
                                              ("power", "val_ppl"), ("chinchilla", "tokens")])
def test_a_cell_that_is_not_a_number_is_named_with_its_file(tmp_path: Path, form: str,
                                                            column: str):
    table = [run(n, d) for n in (1e7, 2e7, 4e7) for d in (1e9, 2e9)]
    table[1][column] = "n/a"
    path = write(tmp_path, table)
    with pytest.raises(ScaleError) as error:
        compute_fit(path, form=form, bootstrap=0, holdout=0)
    assert str(error.value) == (f"column {column!r} in {path} is not numeric: row 2 of the "
                                "fitted rows holds 'n/a'; fix the value or filter the row out "
                                "with --where")


def test_too_few_points_are_counted_as_rows_or_as_seed_averaged_configurations(
        tmp_path: Path):
    plain = write(tmp_path, [run(1e7, 1e9), run(2e7, 1e9)])
    with pytest.raises(ScaleError) as error:
        compute_fit(plain, bootstrap=0, holdout=0)
    assert str(error.value) == (f"2 rows of {plain} are left to fit; the power form has 2 "
                                "parameters and needs at least 3 points")
    folder = tmp_path / "seeds"
    folder.mkdir()
    seeded = write(folder, [run(n, 1e9, seed=str(s)) for n in (1e7, 2e7) for s in (0, 1)])
    with pytest.raises(ScaleError) as error:
        compute_fit(seeded, bootstrap=0, holdout=0)
    assert str(error.value) == (f"2 configurations (4 rows, averaged over seeds) of {seeded} "
                                "are left to fit; the power form has 2 parameters and needs "
                                "at least 3 points")


def test_two_distinct_x_are_enough_for_the_power_form(tmp_path: Path):
    # two runs at N = 1e6 (on two budgets) and one at 2e6: ppl = 40 and 40 * 2^-0.1, so the
    # least-squares line through ln x has slope exactly -0.1
    table = [{"params_non_embedding": n, "tokens": d, "val_ppl": repr(p), "status": "ok"}
             for n, d, p in (("1e6", "1e8", 40.0), ("1e6", "2e8", 40.0),
                             ("2e6", "1e8", 40.0 * 2**-0.1))]
    fit = compute_fit(write(tmp_path, table), bootstrap=0, holdout=0)["fits"]["power"]
    assert fit["n_points"] == 3
    assert fit["exponent"] == pytest.approx(-0.1, rel=1e-9)


def test_one_token_budget_names_the_forms_that_need_none(tmp_path: Path):
    path = write(tmp_path, [run(n, 1e8) for n in np.geomspace(1e7, 1e8, 6)])
    with pytest.raises(ScaleError) as error:
        compute_fit(path, form="chinchilla", bootstrap=0, holdout=0)
    assert str(error.value) == (
        f"all values of column 'tokens' (D) in {path} are equal (1e+08); the chinchilla form "
        "needs at least two token budgets; use --form saturating or power")


def test_two_token_budgets_are_enough_for_the_chinchilla_form(tmp_path: Path):
    path = write(tmp_path, [run(n, d) for n in (1e7, 1e8, 1e9) for d in (1e9, 1e10)])
    fit = compute_fit(path, form="chinchilla", bootstrap=0, holdout=0)["fits"]["chinchilla"]
    assert fit["converged"] and fit["n_points"] == 6
    assert fit["rmse_log"] < 1e-3  # the law's own points: the fit passes through them


# ------------------------------------------------------------- --x tokens, by size


SIZE_KEYS = ("converged", "message", "exponent", "params", "r2_log", "rmse_log",
             "extrapolation_note")


def test_x_tokens_on_two_sizes_fits_each_with_the_bootstrap_seed_and_holdout_asked(
        tmp_path: Path):
    tokens = np.geomspace(1e9, 1.6e10, 5)
    table = [run(1e8, d, "s1") for d in tokens] + [run(4e8, d, "s2") for d in tokens[:2]]
    path = write(tmp_path, table)
    fit = compute_fit(path, x="tokens", bootstrap=60, seed=3, holdout=2)["fits"]["power"]
    first, second = fit["by_size"]
    ppl = np.array([float(r["val_ppl"]) for r in table[:5]])
    alone = analyse("power", tokens, ppl, n_boot=60, seed=3, holdout=2)
    assert first["size"] == "s1" and first["n_points"] == 5
    assert {k: first[k] for k in SIZE_KEYS} == {k: alone[k] for k in SIZE_KEYS}
    assert first["params"]["b"]["ci_low"] is not None  # the bootstrap's own interval
    assert second == {"size": "s2", "n": 0.8 * 4e8, "n_points": 2, "converged": False,
                      "exponent": None, "params": {},
                      "message": "2 distinct x; the power form needs 3 points"}
    assert fit["caveat"] == ("this fit pools 2 sizes, whose losses differ at the same tokens; "
                             "the data exponent of each size is in by_size")
    one = compute_fit(path, x="tokens", where=["model=s1"], bootstrap=0, holdout=0)
    assert "by_size" not in one["fits"]["power"]


def test_the_forms_caveat_and_the_pooled_one_are_joined_by_a_semicolon(tmp_path: Path):
    # two sizes 2% apart: one curve with a clear floor, so E is measured and its own
    # sentence stays out
    tokens = (1e9, 4e9, 1.6e10, 6.4e10)
    path = write(tmp_path, [run(n, d, m) for n, m in ((1e8, "s1"), (1.02e8, "s2"))
                            for d in tokens])
    fit = compute_fit(path, form="saturating", x="tokens", bootstrap=20,
                      holdout=0)["fits"]["saturating"]
    assert len(fit["by_size"]) == 2
    # the saturating form's own caveat on the 8 pooled points over 64x, then the pooling's
    assert fit["caveat"] == (
        "with 8 sizes over 64x the curve's band and predicted intervals are too narrow "
        "(85-91% coverage at 10x the largest size in synthetic sweeps like this); this fit "
        "pools 2 sizes, whose losses differ at the same tokens; the data exponent of each "
        "size is in by_size")


def test_a_d_column_that_is_the_forms_own_x_gets_the_fits_by_size(tmp_path: Path):
    # --d params_non_embedding and no --x: the power form's default x is that D column
    table = [{"model": m, "params_non_embedding": repr(d), "val_ppl": repr(p * d**-0.1),
              "status": "ok"} for m, p in (("a", 50.0), ("b", 40.0)) for d in (1e8, 2e8, 4e8)]
    fit = compute_fit(write(tmp_path, table), d="params_non_embedding", bootstrap=0,
                      holdout=0)["fits"]["power"]
    assert [e["size"] for e in fit["by_size"]] == ["a", "b"]
    assert [e["exponent"] for e in fit["by_size"]] == pytest.approx([-0.1, -0.1], rel=1e-9)
    assert fit["caveat"] == ("this fit pools 2 sizes, whose losses differ at the same "
                             "params_non_embedding; the data exponent of each size is in "
                             "by_size")


# ------------------------------------------------------------------- --form all


def isoflop_rows(**extra) -> list[dict[str, str]]:
    """3 FLOP budgets x 5 sizes a factor 3 apart, centred on the law's optimum, no noise."""
    flops = np.geomspace(1e18, 1e20, 3)
    out = []
    for c, n0 in zip(flops, chinchilla.compute_optimal(THETA, flops)["N_opt"], strict=True):
        for k, n in enumerate(n0 * 3.0 ** np.arange(-2, 3)):
            out.append(run(n, c / (6 * n), f"c{c:.0e}-{k}", budget_flops=repr(float(c)),
                           tokenizer="gpt2" if k % 2 else "llama"))
    return [{k: v for k, v in r.items() if k not in extra.get("drop", ())} for r in out]


MIXED = ("The fitted rows were measured in 2 tokenizers (gpt2, llama), but not every row has "
         "val_bpb, so the fit compares losses per token of different units; fit one tokenizer "
         "at a time with --where tokenizer=...")


def test_form_all_keeps_the_notes_and_findings_from_before_its_isoflop_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path, isoflop_rows(drop=("val_ppl",)))
    notes = notes_of(FitOptions(path, form="all", bootstrap=0, holdout=0), monkeypatch)
    header = ", ".join(isoflop_rows(drop=("val_ppl",))[0])
    assert notes == [f"power: skipped ({path} has no column 'val_ppl'; choose one with "
                     f"--x/--y/--d from: {header})"]
    doc = driver.read_json(tmp_path / "fit.json")
    assert list(doc["fits"]) == ["saturating", "chinchilla", "isoflop"]
    assert doc["fits"]["isoflop"]["converged"]
    mixed = [d for d in doc["diagnostics"] if d["code"] == "mixed_tokenizers"]
    assert [(d["severity"], d["message"]) for d in mixed] == [("warning", MIXED)]


class _FirstBudgetForm(ComputeForm):
    """A budget form `all` fits, before the isoFLOP one, that counts N in a column the CSV
    lacks."""

    name = "first_budget_test"
    approach = "0: test"
    x = "params_matmul"
    in_all = True
    directness = 9


def test_a_budget_form_that_cannot_be_fitted_is_a_note_and_the_next_one_still_fits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path, isoflop_rows())
    form = registry.register(_FirstBudgetForm())
    try:
        notes = notes_of(FitOptions(path, form="all", bootstrap=0, holdout=0), monkeypatch)
    finally:
        registry.unregister(form.name)
    header = ", ".join(isoflop_rows()[0])
    assert notes == [f"first_budget_test: skipped ({path} has no column 'params_matmul'; "
                     f"choose one with --x/--y/--d from: {header})"]
    fits = driver.read_json(tmp_path / "fit.json")["fits"]
    assert list(fits) == ["power", "saturating", "chinchilla", "isoflop"]


def test_exponents_fit_with_the_bootstrap_and_seed_asked_and_blank_budgets_add_no_isoflop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # 3 sizes x 3 token budgets, budget_flops blank (token budgets) and no params or val_loss
    # column: `all` fits the power form alone, and the exponents table
    n, tokens = (1e7, 4e7, 1.6e8), (1e9, 3e9, 9e9)
    table = [{k: r[k] for k in ("model", "params_non_embedding", "tokens", "val_ppl",
                                "status")} | {"budget_flops": ""}
             for r in (run(s, d) for s in n for d in tokens)]
    path = write(tmp_path, table)
    notes = notes_of(FitOptions(path, form="all", bootstrap=50, seed=5, holdout=0),
                     monkeypatch)
    header = ", ".join(table[0])
    assert notes == [f"{form}: skipped ({path} has no column {column!r}; choose one with "
                     f"--x/--y/--d from: {header})"
                     for form, column in (("saturating", "val_loss"), ("chinchilla", "params"))]
    doc = driver.read_json(tmp_path / "fit.json")
    assert list(doc["fits"]) == ["power"]
    at_first_d = next(e for e in doc["exponents"] if e["scale"] == "N"
                      and e["at"] == "tokens = 1e+09")
    ppl = np.array([float(r["val_ppl"]) for r in table[::3]])
    b = analyse("power", 0.8 * np.array(n), ppl, n_boot=50, seed=5, holdout=0)["params"]["b"]
    assert at_first_d["exponent"] == {k: b[k] for k in ("value", "se", "ci_low", "ci_high")}
    assert b["ci_low"] < b["value"] < b["ci_high"]


# ------------------------------------------------------------------- seed level


def seeded_rows(spread: float) -> list[dict[str, str]]:
    """3 sizes 10x apart, 2 seeds each at exp(+-spread) times y = 0.9 (N / 1e6)^-0.05: each
    size's mean is on the law, and every y is a loss below 1."""
    return [{"params_non_embedding": repr(n), "seed": str(s), "status": "ok",
             "val_loss": repr(0.9 * (n / 1e6) ** -0.05 * math.exp(sign * spread))}
            for n in (1e6, 1e7, 1e8) for s, sign in ((0, 1), (1, -1))]


def test_the_seeds_widen_b_interval_on_log_y_of_losses_below_one(tmp_path: Path):
    # The means lie on the law, so the residuals give b no width: all of it is the seed
    # level. Each size's draw is the mean of 2 seeds resampled as residuals +-s inflated by
    # sqrt(2), so +-sqrt(2) s with probability 1/4 each, else 0; b moves by (draw at 1e8 -
    # draw at 1e6) / (2 ln 10), whose extreme +-sqrt(2) s / ln 10 has probability 1/16 each,
    # more than the 2.5% in either tail: the 95% interval is b -+ sqrt(2) s / ln 10.
    s = 0.04
    path = write(tmp_path, seeded_rows(s))
    b = compute_fit(path, y="val_loss", bootstrap=200, seed=0, holdout=0)[
        "fits"]["power"]["params"]["b"]
    assert b["value"] == pytest.approx(-0.05, rel=1e-9)
    half = math.sqrt(2) * s / math.log(10)
    assert b["ci_low"] == pytest.approx(-0.05 - half, rel=1e-9)
    assert b["ci_high"] == pytest.approx(-0.05 + half, rel=1e-9)


def test_a_loss_of_zero_with_seeds_is_one_clear_error(tmp_path: Path):
    table = seeded_rows(0.04)
    table[3]["val_loss"] = "0"
    path = write(tmp_path, table)
    with pytest.raises(ScaleError) as error:
        compute_fit(path, y="val_loss", bootstrap=0, holdout=0)
    assert str(error.value) == (f"column 'val_loss' in {path} holds '0' in row 4 of the "
                                "fitted rows; values on a log axis must be > 0")
