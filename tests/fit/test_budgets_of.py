"""compute.budgets_of by hand: the runs grouped into FLOP budgets (the compute column, or
6 N D without one; budget_flops where set), each sorted by N, with the budget's C the
geometric mean of its runs'; and a bad cell named with its column and file."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from scalecli.errors import ScaleError
from scalecli.fit.compute import Job, budgets_of, compute_column


class OneRowPerPoint:
    def __init__(self, n: int) -> None:
        self.points = [SimpleNamespace(rows=[i]) for i in range(n)]

    @staticmethod
    def first(values: np.ndarray) -> np.ndarray:
        return values

    mean = first


def job(rows: list[dict[str, str]], path: Path = Path("/data/results.csv")) -> Job:
    return Job(rows=rows, header=list(rows[0]), path=path, lad=OneRowPerPoint(len(rows)),
               x_col="params", y_col="val_loss", d_col="tokens", n_boot=0, seed=0,
               predict_flops=None, holdout=0)


def row(n: float, d: float, loss: float, **more: str) -> dict[str, str]:
    return {"params": repr(n), "tokens": repr(d), "val_loss": repr(loss), **more}


def test_without_a_compute_column_c_is_6_n_d() -> None:
    rows = [row(2e6, 1e9, 3.0), row(1e6, 2e9, 3.1), row(1e6, 1e9, 3.5)]
    assert compute_column(list(rows[0])) is None
    low, high = budgets_of(job(rows))
    assert low.flops == pytest.approx(6e15) and low.nominal is None
    assert np.exp(low.log_n).tolist() == pytest.approx([1e6])
    assert high.flops == pytest.approx(1.2e16)
    assert np.exp(high.log_n).tolist() == pytest.approx([1e6, 2e6])  # sorted by N
    assert high.loss.tolist() == [3.1, 3.0]
    assert np.exp(high.log_d).tolist() == pytest.approx([2e9, 1e9])
    assert high.n_seeds.tolist() == [1, 1]


def test_the_compute_column_and_budget_flops_group_the_runs() -> None:
    rows = [row(1e6, 1e9, 3.0, flops="6e15", budget_flops="6e15"),
            row(2e6, 5e8, 3.1, flops="6.3e15", budget_flops="6e15"),
            row(4e6, 1e9, 2.9, flops="2.4e16", budget_flops="2.4e16")]
    assert compute_column(list(rows[0])) == "flops"
    first, second = budgets_of(job(rows))
    assert first.nominal == 6e15 and second.nominal == 2.4e16
    assert first.flops == pytest.approx(math.sqrt(6e15 * 6.3e15))
    assert np.exp(first.log_n).tolist() == pytest.approx([1e6, 2e6])
    assert compute_column(["flops_6nd", "params"]) == "flops_6nd"
    assert compute_column(["flops", "flops_6nd"]) == "flops"
    # budget_flops blank (token budgets): the flops column alone groups them
    blank = [{**r, "budget_flops": ""} for r in rows]
    assert [b.nominal for b in budgets_of(job(blank))] == [None, None]


@pytest.mark.parametrize("column", ["params", "val_loss", "tokens", "flops"])
def test_a_bad_cell_names_its_column_and_file(column: str) -> None:
    rows = [row(1e6, 1e9, 3.0, flops="6e15"), row(2e6, 1e9, 2.9, flops="1.2e16")]
    rows[1][column] = "n/a"
    with pytest.raises(ScaleError) as caught:
        budgets_of(job(rows, Path("/data/sweep/results.csv")))
    assert str(caught.value) == (
        f"column {column!r} in /data/sweep/results.csv is not numeric: row 2 of the fitted "
        "rows holds 'n/a'; fix the value or filter the row out with --where")


def test_the_seed_sd_pools_the_seeds_of_every_point() -> None:
    from scalecli.fit import seeds
    from scalecli.fit.compute import seed_sd

    rows = [{"model": m, "params": n, "tokens": "1e9", "seed": s, "val_loss": loss}
            for m, n, s, loss in (("a", "1e6", "0", "3.0"), ("a", "1e6", "1", "3.2"),
                                  ("b", "2e6", "0", "2.8"), ("b", "2e6", "1", "2.9"))]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, "params", "tokens")
    # deviations from each point's mean: +-0.1 and +-0.05; 2 degrees of freedom
    assert seed_sd(rows, header, Path("r.csv"), "val_loss", lad) == pytest.approx(
        math.sqrt((2 * 0.1 ** 2 + 2 * 0.05 ** 2) / 2))
    one = [r for r in rows if r["seed"] == "0"]
    assert seed_sd(one, header, Path("r.csv"), "val_loss",
                   seeds.ladder(one, header, "params", "tokens")) is None


def test_one_approach_that_fits_nothing_is_one_clear_error() -> None:
    from scalecli.fit import seeds
    from scalecli.fit.compute import compute_fits

    # one budget of three sizes: too few to accept it, and one budget is no law anyway
    rows = [row(n, 1e18 / (6 * n), loss, flops="1e18", budget_flops="1e18")
            for n, loss in ((1e7, 3.0), (3e7, 2.9), (1e8, 3.05))]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, "params", "tokens")
    one_budget = Job(rows=rows, header=header, path=Path("/data/results.csv"), lad=lad,
                     x_col="params", y_col="val_loss", d_col="tokens", n_boot=0, seed=0,
                     predict_flops=None, holdout=0)
    with pytest.raises(ScaleError) as caught:
        compute_fits("isoflop", one_budget)
    assert str(caught.value) == (
        "--form isoflop fitted nothing in /data/results.csv: 0 budget(s) accepted; a law "
        "needs 2; add FLOP budgets (see docs/guides/isoflop.md)")


def test_points_refuse_a_missing_or_non_positive_y() -> None:
    from scalecli.fit.slices import Run, Size, points

    def size(x: float, y: str) -> Size:
        run = Run(x, 3.0, ("tokens", 1e9), 1e-3, {"val_ppl": y})
        return Size(x, f"s{x:g}", 3.0, [run], [run])

    got = points([size(1.0, "20"), size(2.0, "10")], "val_ppl")
    assert got[0].tolist() == [1.0, 2.0]
    assert got[1].tolist() == pytest.approx([math.log(20), math.log(10)])
    assert points([size(1.0, "20"), size(2.0, "0")], "val_ppl") is None
    assert points([size(1.0, ""), size(2.0, "10")], "val_ppl") is None


def test_the_envelope_draws_the_pooled_seed_noise_of_the_loss() -> None:
    from scalecli.fit import seeds
    from scalecli.fit.compute import compute_fits
    from tests.fit.test_isoflop import synthetic

    # every point twice, at +-0.5% of its loss: a pooled seed sd of 0.005 loss by hand
    rows = [row(float(np.exp(n)), float(np.exp(d)), float(loss * (1 + s)), model=f"m{j}",
                seed=str(k), flops=repr(b.flops), budget_flops=repr(b.flops))
            for b in synthetic() for j, (n, d, loss) in enumerate(zip(
                b.log_n, b.log_d, b.loss, strict=True)) for k, s in enumerate((-0.005, 0.005))]
    header = list(rows[0])
    lad = seeds.ladder(rows, header, "params", "tokens")
    seeded = Job(rows=rows, header=header, path=Path("r.csv"), lad=lad, x_col="params",
                 y_col="val_loss", d_col="tokens", n_boot=20, seed=0, predict_flops=None,
                 holdout=0)
    fits, *_ = compute_fits("envelope", seeded)
    said = fits["envelope"]["method"].split("normal noise of the pooled seed sd ")[1]
    sd = float(said.split(" ")[0])
    losses = np.array([b.loss for b in synthetic()]).ravel()
    assert sd == pytest.approx(float(np.sqrt(np.mean((0.005 * losses) ** 2) * 2)), rel=0.01)
