"""FitRequest.parse and read_runs: the errors a user reads word for word, the columns that
define a size when --x and --d name columns of the user's own, and --predict values given
as Python integers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit.forms import registry
from scalecli.fit.request import FitOptions, FitRequest, read_runs


def write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def request(path: Path, **options: object) -> FitRequest:
    return FitRequest.parse(FitOptions(path=path, **options), path)


def test_an_unknown_form_names_every_choice(tmp_path: Path) -> None:
    with pytest.raises(ScaleError) as caught:
        request(tmp_path / "r.csv", form="cubic")
    assert str(caught.value) == (
        f"--form 'cubic' is unknown; use {', '.join(registry.choices())}")
    assert "power, " in str(caught.value)  # the separator between choices, not a copy of it


@pytest.mark.parametrize("form", ["power", "saturating"])
def test_predict_flops_on_a_law_form_says_to_use_predict(tmp_path: Path, form: str) -> None:
    with pytest.raises(ScaleError) as caught:
        request(tmp_path / "r.csv", form=form, predict_flops=[1e20])
    assert str(caught.value) == (
        f"--predict-flops is for the compute-optimal forms; --form {form} "
        "predicts at x with --predict")


def test_predict_flops_on_a_compute_form_is_its_predict(tmp_path: Path) -> None:
    req = request(tmp_path / "r.csv", form="isoflop", predict_flops=[1e20, 1e21])
    assert req.predict.tolist() == [1e20, 1e21]


def test_predict_given_as_python_integers_is_floats(tmp_path: Path) -> None:
    # 10**20 does not fit an int64: without dtype=float numpy keeps Python ints in an
    # object array, whose log (every law's x axis) raises instead of giving 20.
    req = request(tmp_path / "r.csv", predict=[10**20, 10**21])
    assert req.predict.dtype == np.float64
    assert np.log10(req.predict).tolist() == pytest.approx([20.0, 21.0])
    flops = request(tmp_path / "r.csv", form="isoflop", predict_flops=[10**20])
    assert np.log10(flops.predict).tolist() == pytest.approx([20.0])


def test_a_where_on_a_missing_column_names_the_users_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "runs.csv", ["params", "tokens", "val_loss"], [[1e6, 1e8, 4.0]])
    with pytest.raises(ScaleError) as caught:
        read_runs(request(path, where=["seed=1"]))
    assert str(caught.value) == (
        f"--where: {path} has no column 'seed'; columns: params, tokens, val_loss")


def test_a_filter_that_keeps_nothing_counts_each_reason(tmp_path: Path) -> None:
    header = ["params", "tokens", "val_loss", "status", "seed"]
    path = write(tmp_path / "runs.csv", header, [
        [1e6, 1e8, 4.0, "ok", 0], [1e6, 1e8, 4.1, "ok", 1], [2e6, 1e8, 3.9, "failed", 0]])
    with pytest.raises(ScaleError) as caught:
        read_runs(request(path, where=["status=ok", "seed=7"]))
    assert str(caught.value) == (
        f"no row of {path} is left after --where status=ok seed=7 "
        "(3 rows: 2 seed!=7, 1 failed); change or drop the filter")


def lr_grid(size_col: str) -> tuple[list[str], list[list[object]]]:
    """Two sizes that differ only in `size_col` (no RUN_KEY column tells them apart), each
    with an lr grid of two; the best lr differs between the sizes."""
    header = [size_col, "lr", "val_loss", "seed"]
    rows = [[1, 0.01, 4.0, 0], [1, 0.02, 4.5, 0],   # size 1: lr 0.01 is best
            [2, 0.01, 3.9, 0], [2, 0.02, 3.5, 0]]   # size 2: lr 0.02 is best
    return header, rows


def test_the_x_column_tells_sizes_apart_in_the_lr_pick(tmp_path: Path) -> None:
    header, rows = lr_grid("my_n")
    path = write(tmp_path / "runs.csv", ["tokens", *header], [[1e8, *r] for r in rows])
    runs = read_runs(request(path, x="my_n"))
    assert [(r["my_n"], r["lr"]) for r in runs.kept] == [("1", "0.01"), ("2", "0.02")]


def test_the_d_column_tells_budgets_apart_in_the_lr_pick(tmp_path: Path) -> None:
    header, rows = lr_grid("my_d")
    path = write(tmp_path / "runs.csv", ["params", *header], [[1e6, *r] for r in rows])
    runs = read_runs(request(path, form="chinchilla", d="my_d"))
    assert [(r["my_d"], r["lr"]) for r in runs.kept] == [("1", "0.01"), ("2", "0.02")]
