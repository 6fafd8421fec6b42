"""suggest.optimal_params: the N_opt a sweep's `validate: {flops: [...]}` runs train, read
from the ladder's own compute fit (approach 2, else 3, else 1), never from validation rows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

import scalecli.fit.suggest as suggest
from scalecli.errors import ScaleError
from scalecli.fit import chinchilla
from tests.fit.test_isoflop import THETA, synthetic

FLOPS = [1e21, 1e22]


def write(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header or list(rows[0]),
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def isoflop_rows(role: str = "ladder") -> list[dict[str, str]]:
    """5 isoFLOP budgets of 7 sizes on THETA's law with 1% noise (tests/fit/test_isoflop.py)."""
    return [{"run_id": f"{i}-{j}", "model": f"m{j}", "params": repr(float(np.exp(n))),
             "tokens": repr(float(np.exp(d))), "flops": repr(b.flops),
             "budget_flops": repr(b.flops), "val_loss": repr(float(loss)), "status": "ok",
             "role": role}
            for i, b in enumerate(synthetic()) for j, (n, d, loss) in enumerate(zip(
                b.log_n, b.log_d, b.loss, strict=True))]


def validation_rows(role: str = "validation") -> list[dict[str, str]]:
    """A clean parabola at 1e21 centred on 1e8, far below the law's N_opt there (~4e10)."""
    return [{"run_id": f"v{k}", "model": f"v{k}", "params": repr(1e8 * 3.0 ** k),
             "tokens": repr(1e21 / 6 / (1e8 * 3.0 ** k)), "flops": "1e21",
             "budget_flops": "1e21", "val_loss": repr(2.0 + 0.02 * (k * math.log(3.0)) ** 2),
             "status": "ok", "role": role} for k in range(-3, 4)]


def test_ladder_rows_keep_the_header_and_drop_validation_rows(tmp_path: Path) -> None:
    rows = [{"run_id": "a", "val_loss": "4", "role": "ladder"},
            {"run_id": "b", "val_loss": "3", "role": "validation"},
            {"run_id": "c", "val_loss": "2", "role": ""}]
    header = ["val_loss", "run_id", "role"]  # the file's order, not the rows' keys' order
    header_read, kept = suggest.ladder_rows(write(tmp_path / "r.csv", rows, header))
    assert header_read == header
    assert [r["run_id"] for r in kept] == ["a", "c"]  # a blank role is a ladder run


def test_n_opt_is_approach_2s_on_the_ladder_rows_alone(tmp_path: Path) -> None:
    truth = chinchilla.compute_optimal(THETA, np.array(FLOPS))["N_opt"]
    ladder = suggest.optimal_params(write(tmp_path / "a.csv", isoflop_rows()), FLOPS)
    assert [approach for _, approach in ladder] == ["2: isoFLOP"] * 2
    # 1% noise on 35 runs: approach 2 extrapolates 10-100x past the ladder within 25%
    for (n_opt, _), true in zip(ladder, truth, strict=True):
        assert n_opt == pytest.approx(true, rel=0.25)
    assert ladder[1][0] / ladder[0][0] == pytest.approx(truth[1] / truth[0], rel=0.05)
    # The validation parabola at 1e21 (centred on 1e8) changes nothing...
    with_validation = write(tmp_path / "b.csv", isoflop_rows() + validation_rows())
    assert suggest.optimal_params(with_validation, FLOPS) == ladder
    # ...and as ladder rows it would have pulled N_opt down.
    as_ladder = write(tmp_path / "c.csv", isoflop_rows() + validation_rows("ladder"))
    assert suggest.optimal_params(as_ladder, FLOPS)[0][0] < 0.8 * ladder[0][0]


def test_no_ladder_rows_is_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "results.csv", validation_rows())
    with pytest.raises(ScaleError) as caught:
        suggest.optimal_params(path, FLOPS)
    assert str(caught.value) == (f"{path} has no ladder runs to fit; validate.flops needs "
                                 "the ladder's results")


def row(approach: str, form: str, *values: float | None) -> dict:
    return {"form": form, "approach": approach,
            "predictions": [{"n_opt": {"value": v}} for v in values]}


ISO = ("2: isoFLOP", "isoflop")
PARAM = ("3: parametric", "chinchilla")
ENV = ("1: envelope", "envelope")


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """compute_fit replaced by canned fit.json docs, one per form asked for (a ScaleError
    instance is raised); records each call's form, options and the CSV it was given."""
    calls: list[dict] = []
    docs: dict[str, object] = {}

    def compute_fit(csv_path: Path, **options) -> dict:
        with open(csv_path, encoding="utf-8", newline="") as handle:
            text = handle.read()
        calls.append({**options, "folder": Path(csv_path).parent, "text": text})
        doc = docs[options["form"]]
        if isinstance(doc, ScaleError):
            raise doc
        return doc

    monkeypatch.setattr(suggest, "compute_fit", compute_fit)
    path = write(tmp_path / "results.csv", [
        {"run_id": "a", "params": "1e5", "role": "ladder"},
        {"run_id": "v", "params": "1e9", "role": "validation"},
        {"run_id": "b", "params": "2e5", "role": ""}])
    return path, docs, calls


def test_approach_2_alone_is_fitted_when_it_converges(fake_fit) -> None:
    path, docs, calls = fake_fit
    docs["isoflop"] = {"approaches": [row(*ISO, 3e9, 2e10)]}
    assert suggest.optimal_params(path, FLOPS) == [(3e9, "2: isoFLOP"), (2e10, "2: isoFLOP")]
    (call,) = calls  # `compute` (approach 3's grid of starts) is never fitted
    assert call["form"] == "isoflop" and call["predict_flops"] == FLOPS
    assert call["bootstrap"] == 0 and call["holdout"] == 0  # point estimates only
    # The CSV fitted: the file's header, the ladder rows, no validation row.
    assert call["text"] == ("run_id,params,role\na,1e5,ladder\nb,2e5,\n")
    assert call["folder"].name.startswith("scalecli-suggest-")
    assert not call["folder"].exists()  # the temporary folder is removed


def test_without_approach_2_the_parametric_then_the_envelope_answer(fake_fit) -> None:
    path, docs, calls = fake_fit
    docs["isoflop"] = ScaleError("no budget has three sizes")
    docs["compute"] = {"approaches": [row(*ENV, 5e9, 6e10), row(*PARAM, 4e9, 3e10),
                                      row(*ISO, None, None)]}
    assert suggest.optimal_params(path, FLOPS) == [(4e9, "3: parametric"),
                                                   (3e10, "3: parametric")]
    assert [c["form"] for c in calls] == ["isoflop", "compute"]
    assert calls[1]["predict_flops"] == FLOPS
    assert (calls[1]["bootstrap"], calls[1]["holdout"]) == (0, 0)
    # approach 3 with a missing value, with 0, or with too few predictions: approach 1
    for bad in (row(*PARAM, 4e9, None), row(*PARAM, 4e9, 0.0), row(*PARAM, 4e9)):
        docs["compute"] = {"approaches": [row(*ENV, 5e9, 6e10), bad]}
        assert suggest.optimal_params(path, FLOPS) == [(5e9, "1: envelope"),
                                                       (6e10, "1: envelope")]


def test_an_approach_2_doc_without_its_row_falls_back_to_compute(fake_fit) -> None:
    path, docs, calls = fake_fit
    docs["isoflop"] = {"approaches": [row(*ENV, 1e9, 1e10)]}
    docs["compute"] = {"approaches": [row(*ENV, 5e9, 6e10)]}
    assert suggest.optimal_params(path, FLOPS)[0] == (5e9, "1: envelope")
    assert [c["form"] for c in calls] == ["isoflop", "compute"]


def test_when_no_approach_converges_the_error_says_what_is_needed(fake_fit) -> None:
    path, docs, _ = fake_fit
    docs["isoflop"] = {}
    docs["compute"] = {"approaches": [row(*ENV, None, None), row(*PARAM, -1.0, 2.0)]}
    with pytest.raises(ScaleError) as caught:
        suggest.optimal_params(path, FLOPS)
    assert str(caught.value) == (
        "validate.flops needs an isoFLOP design: no compute-optimal approach converged on "
        f"the ladder's runs in {path} (give budget.flops at least 2 budgets, each with "
        "sizes on both sides of its optimum)")
    docs["compute"] = ScaleError("no rows with flops")
    with pytest.raises(ScaleError) as caught:
        suggest.optimal_params(path, FLOPS)
    assert str(caught.value) == ("validate.flops needs an isoFLOP design: the compute fit "
                                 "of the ladder's runs failed (no rows with flops)")


def test_a_failed_compute_fit_is_told_by_the_users_csv_not_the_temporary_copy(
        fake_fit, monkeypatch: pytest.MonkeyPatch) -> None:
    path, docs, calls = fake_fit
    docs["isoflop"] = {}

    def failing(csv_path: Path, **options) -> dict:
        calls.append(options)
        if options["form"] == "compute":
            raise ScaleError(f"no row of {csv_path} is left after --where status=ok")
        return {}

    monkeypatch.setattr(suggest, "compute_fit", failing)
    with pytest.raises(ScaleError) as caught:
        suggest.optimal_params(path, FLOPS)
    assert str(caught.value) == (
        "validate.flops needs an isoFLOP design: the compute fit of the ladder's runs failed "
        f"(no row of {path} is left after --where status=ok)")


def searched_isoflop(tmp_path: Path) -> Path:
    """isoflop_rows at one lr, plus a second lr at budget 0's smallest size whose loss is
    0.5 lower: lowest loss would keep it (and pull that budget's vertex to small N), but the
    lr search chose the first lr there (lr_search.json beside the CSV)."""
    rows = [{**r, "lr": "0.01", "seed": "0"} for r in isoflop_rows()]
    small = rows[0]
    rows.append({**small, "run_id": "probe-hi", "lr": "0.02",
                 "val_loss": repr(float(small["val_loss"]) - 0.5)})
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "lr_search.json").write_text(json.dumps({
        "probes": [{"budget_index": 0, "lr_base": 0.01, "run_id": small["run_id"]},
                   {"budget_index": 0, "lr_base": 0.02, "run_id": "probe-hi"}],
        "chosen": [{"budget_index": 0, "lr": 0.01}]}), encoding="utf-8")
    return write(folder / "results.csv", rows)


def test_n_opt_keeps_the_lr_the_search_chose_as_fit_does(tmp_path: Path) -> None:
    from scalecli.fit.driver import compute_fit

    path = searched_isoflop(tmp_path)
    fit = compute_fit(path, form="isoflop", predict_flops=FLOPS, bootstrap=0, holdout=0)
    (row_,) = [r for r in fit["approaches"] if r["form"] == "isoflop"]
    expected = [p["n_opt"]["value"] for p in row_["predictions"]]
    assert [n for n, _ in suggest.optimal_params(path, FLOPS)] == pytest.approx(expected)
    # the same ladder without the record keeps the lower-loss lr: another N_opt, so the
    # comparison above can fail
    (path.parent / "lr_search.json").unlink()
    alone = [n for n, _ in suggest.optimal_params(path, FLOPS)]
    assert alone[0] != pytest.approx(expected[0], rel=1e-3)
