"""Numbers of the compute-optimal path that older tests let change: the envelope's default
bootstrap seed, the x of `--form compute`, approach 3's N_opt at a validation budget when
C is not 6 N D, and the ladder CSV that `suggest` refits when a row has a stray cell."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import scalecli.fit.suggest as suggest
from scalecli.fit import seeds, validation
from scalecli.fit.envelope import analyse_envelope
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.forms import registry
from scalecli.fit.forms.base import ComputeForm
from scalecli.fit.laws import FitResult
from tests.fit.test_compute_mutants import ladder


def test_the_envelope_bootstrap_defaults_to_seed_0_as_fit_does() -> None:
    # `scalecli fit --seed` defaults to 0: the library called without a seed must draw the
    # same interval as the CLI's default, and fit.json must say seed 0
    budgets = ladder(0)
    plain = analyse_envelope(budgets, n_boot=40)
    assert plain["bootstrap"] == {"n": 40, "n_ok": 40, "seed": 0}
    seeded = {s: analyse_envelope(budgets, n_boot=40, seed=s)["params"]["a_opt"]
              for s in (0, 1)}
    assert seeded[0] != seeded[1]  # the seed moves the interval, so the next line has teeth
    assert plain["params"]["a_opt"] == seeded[0]


class _Approach0(ComputeForm):
    """A compute form whose approach sorts first and which counts N without embeddings."""

    name = "approach0_test"
    approach = "0: test"
    x = "params_non_embedding"


def test_form_compute_takes_the_x_of_the_first_approach_in_the_table() -> None:
    assert registry.default_x(registry.COMPUTE) == "params"  # approach 1, the envelope
    form = registry.register(_Approach0())
    try:
        assert registry.compute_forms()[0] is form
        assert registry.default_x(registry.COMPUTE) == "params_non_embedding"
    finally:
        registry.unregister(form.name)


# Hoffmann et al.'s (2022) fitted law: E, A, B, alpha, beta
THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])
HEADER = ["run_id", "model", "params", "tokens", "flops", "budget_flops", "val_loss",
          "status", "role"]


def test_approach_3_at_a_validation_budget_solves_on_the_compute_columns_c() -> None:
    # The compute column counts 12 N D per run (flops per token twice 6N at every size), so
    # at budget C the law is minimised on D = C / (12 N): N_opt = G (C/12)^a, Hoffmann's
    # closed form at C/2. The 6 N D closed form would give 2^a = 1.37x that.
    c = 1e14
    fpt = FlopsPerToken(np.log([1e5, 1e7]), np.log([2.0, 2.0]), (1e11, 1e15))
    held = [{"run_id": f"v{k}", "model": f"v{k}", "params": repr(n),
             "tokens": repr(c / (12 * n)), "flops": repr(c), "budget_flops": repr(c),
             "val_loss": loss, "status": "ok", "role": "validation"}
            for k, (n, loss) in enumerate([(3e5, "3.5"), (1e6, "3.4"), (3e6, "3.5")])]
    point = FitResult("chinchilla", THETA, True, "", extra={"fpt": fpt})
    fits = {"chinchilla": {"converged": True, "x": "params", "y": "val_loss", "d": "tokens"}}
    _, block, _ = validation.build([], seeds.ladder([], HEADER, "params", "tokens"), held,
                                   HEADER, fits, {"chinchilla": (point, np.tile(THETA, (8, 1)))},
                                   0, 0, None, None)
    (budget,) = block["compute"]
    (three,) = budget["approaches"]
    e, a, b, alpha, beta = THETA
    g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
    n_opt = g * (c / 12) ** (beta / (alpha + beta))
    assert three["approach"] == "3: parametric"
    assert three["n_opt"] == pytest.approx(n_opt, rel=1e-4)
    d_opt = c / (12 * n_opt)
    assert three["loss"] == pytest.approx(e + a / n_opt**alpha + b / d_opt**beta, rel=1e-6)
    assert three["n_ratio"] == pytest.approx(n_opt / 1e6, rel=1e-4)  # v1's loss is the lowest


def test_suggest_refits_a_ladder_whose_rows_have_a_trailing_comma(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A hand-edited results.csv with a trailing comma on a row: csv reads the extra empty
    # cell under the key None. The ladder CSV that is refitted keeps the file's columns.
    seen: list[str] = []

    def compute_fit(csv_path: Path, **options) -> dict:
        seen.append(Path(csv_path).read_text(encoding="utf-8"))
        return {"approaches": [{"form": "isoflop", "approach": "2: isoFLOP",
                                "predictions": [{"n_opt": {"value": 3e9}}]}]}

    monkeypatch.setattr(suggest, "compute_fit", compute_fit)
    path = tmp_path / "results.csv"
    path.write_text("run_id,params,role\na,1e5,ladder,\nv,1e9,validation\nb,2e5,\n",
                    encoding="utf-8")
    with open(path, encoding="utf-8", newline="") as handle:
        assert next(csv.DictReader(handle))[None] == [""]  # what the stray cell reads as
    assert suggest.optimal_params(path, [1e21]) == [(3e9, "2: isoFLOP")]
    assert seen == ["run_id,params,role\na,1e5,ladder\nb,2e5,\n"]
