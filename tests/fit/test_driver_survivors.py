"""The fit driver, its request, its rows and its conventions table, by the numbers and words a
user reads: the chinchilla form's draws reach the scoring of a run past the ladder, the
errors say exactly what to fix, a value in (0, 1] sits on a log axis, and the conventions
table keeps its order whichever N --x names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.fit import schema
from scalecli.fit.driver import compute_fit
from scalecli.fit.rows import numeric_column
from tests.fit.test_conventions import rows as gpt2_rows
from tests.fit.test_conventions import write

THETA = (1.69, 406.4, 410.7, 0.34, 0.28)  # Hoffmann et al.'s E, A, B, alpha, beta


def chinchilla_loss(n: float, d: float) -> float:
    e, a, b, alpha, beta = THETA
    return e + a / n**alpha + b / d**beta


def grid(validation_n: float, validation_d: float) -> list[dict[str, str]]:
    """4 sizes x 4 token budgets on Hoffmann et al.'s law, no noise, and one run past the
    ladder (role=validation) at (validation_n, validation_d), on the law too."""
    table = []
    points = [(n, d, "") for n in np.geomspace(1e7, 1e8, 4) for d in np.geomspace(2e8, 2e9, 4)]
    for k, (n, d, role) in enumerate([*points, (validation_n, validation_d, "validation")]):
        loss = float(chinchilla_loss(n, d))
        table.append({"run_id": f"r{k}", "model": f"m{n:.3g}", "params": repr(float(n)),
                      "params_non_embedding": repr(float(0.8 * n)), "tokens": repr(float(d)),
                      "val_loss": repr(loss), "val_ppl": repr(float(np.exp(loss))),
                      "status": "ok", "role": role})
    return table


def test_a_validation_run_is_scored_by_the_chinchilla_fit_at_its_n_and_d(tmp_path: Path):
    n, d = 3e8, 6e9  # 3x the largest size, 3x the largest budget
    doc = compute_fit(write(tmp_path, grid(n, d)), form="chinchilla", bootstrap=20,
                      holdout=0)
    (run,) = doc["validation"]["runs"]
    scores = {s["form"]: s for s in run["scores"]}
    # the law is exact and noiseless: the fit recovers it, so its prediction at the run's
    # (N, D) is the law's loss there
    assert run["observed"] == pytest.approx(chinchilla_loss(n, d), rel=1e-12)
    assert scores["chinchilla"]["predicted"] == pytest.approx(chinchilla_loss(n, d), rel=1e-6)


def one_size(tmp_path: Path) -> Path:
    """Three runs of one size on three token budgets."""
    table = [{"params_non_embedding": "1000000", "tokens": repr(t), "val_ppl": repr(p),
              "status": "ok"} for t, p in ((1e8, 40.0), (2e8, 35.0), (4e8, 31.0))]
    return write(tmp_path, table)


def test_one_x_value_is_an_error_that_says_to_pick_another_x(tmp_path: Path):
    path = one_size(tmp_path)
    with pytest.raises(ScaleError) as error:
        compute_fit(path, form="power", bootstrap=0)
    assert str(error.value) == (
        f"all values of column 'params_non_embedding' in {path} are equal (1e+06); a fit "
        "needs at least two distinct x; pick another --x or add runs")


@pytest.mark.parametrize("option", [{"bootstrap": -1}, {"holdout": -2}])
def test_a_negative_bootstrap_or_holdout_is_one_clear_error(tmp_path: Path, option: dict):
    # the CLI's options refuse these before the fit runs; compute_fit (the report's way in
    # when fit.json is missing) is checked by the request itself
    with pytest.raises(ScaleError) as error:
        compute_fit(one_size(tmp_path), **option)
    assert str(error.value) == "--bootstrap and --holdout must be >= 0"


def test_values_between_zero_and_one_sit_on_a_log_axis() -> None:
    # bits per byte are often below 1, and ln 0.5 is a number: only <= 0 is refused
    table = [{"val_bpb": v} for v in ("0.5", "1", "1.25")]
    got = numeric_column(table, "val_bpb", ["val_bpb"], Path("r.csv"))
    assert got.tolist() == [0.5, 1.0, 1.25]
    with pytest.raises(ScaleError) as error:
        numeric_column([*table, {"val_bpb": "0"}], "val_bpb", ["val_bpb"], Path("r.csv"))
    assert str(error.value) == ("column 'val_bpb' in r.csv holds '0' in row 4 of the fitted "
                                "rows; values on a log axis must be > 0")


def test_the_conventions_table_keeps_its_order_when_x_is_one_of_them(tmp_path: Path):
    # total, non-embedding, matmul-only, whichever of the three --x names: the N the fit
    # was asked for moves only an --x outside the three to the front
    path = write(tmp_path, gpt2_rows())
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "isoflop", "--bootstrap", "0",
                                      "--holdout", "0", "--x", "params_non_embedding"])
    assert result.exit_code == 0, result.output
    doc = schema.read(tmp_path / "fit.json")
    assert list(doc.convention_tables()) == ["params", "params_non_embedding", "params_matmul"]
