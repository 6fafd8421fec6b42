"""Validation runs (`validate:` in a sweep file): sizes and FLOP budgets past the ladder,
trained after it, recorded with role=validation, and never part of a ladder run's id."""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.results import COLUMNS, read_rows, role_of, upsert_row
from scalecli.sweep import beyond, lr_search
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import expand, lr_for, model_counts
from tests.sweep.test_resume import write_corpus
from tests.sweep.test_sweep_e2e import TINY

VOCAB = 300
BIG = {"name": "d48", "n_layer": 2, "n_embd": 48, "n_head": 2}


def with_validate(block: object, **changes: object) -> dict:
    raw = copy.deepcopy({**TINY, **changes})
    raw["validate"] = block
    return raw


# --- parsing and checks -------------------------------------------------------------------

@pytest.mark.parametrize(("block", "needle"), [
    ({"models": ["s99"]}, "validate.models[0]: unknown size 's99'"),
    ({"modles": ["s8"]}, "validate: unknown key 'modles' (did you mean 'models'?)"),
    ({"models": ["s1"]}, "validate.models[0]: s1 has N = 21,720 non-embedding parameters, "
                         "not more than the ladder's largest (d32, 25,472)"),
    ({"models": [{"name": "d32", "n_layer": 3, "n_embd": 64, "n_head": 2}]},
     "validate.models[0]: 'd32' is a ladder size"),
    ({"models": ["s2", "s2"]}, "validate.models[1]: 's2' appears twice"),
    ({"models": [5]}, "validate.models[0]: expected a size name or a mapping"),
    ({"models": [{"name": "x", "n_layer": 2, "n_embd": 50, "n_head": 3}]},
     "validate.models[0]: n_embd=50 is not divisible by n_head=3"),
    ({"models": []}, "validate.models: the list is empty"),
    ({"flops": ["lots"]}, "validate.flops[0]: expected a number, got 'lots'"),
    ({"flops": [-1]}, "validate.flops[0] must be positive"),
    ({"flops": [1e13]}, "validate.flops needs an isoFLOP design"),
    ([{"models": ["s8"]}], "validate: expected a mapping with 'models' and/or 'flops', got list"),
])
def test_bad_validate_blocks_are_one_clear_error(block: object, needle: str) -> None:
    with pytest.raises(ScaleError) as error:
        parse_spec(with_validate(block))
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_a_flops_budget_not_past_the_ladder_is_an_error() -> None:
    raw = with_validate({"flops": [3e10]}, budget={"flops": [2e10, 5e10]})
    with pytest.raises(ScaleError, match=r"validate.flops\[0\] = 3e\+10 is not past the ladder"):
        parse_spec(raw)
    # Token budgets: the ladder's FLOPs need the vocabulary, so the check comes at expansion.
    spec = parse_spec(with_validate({"flops": [1e9]}, budget={"tokens": [12288, 24576]}))
    with pytest.raises(ScaleError, match="is not past the ladder's largest run"):
        beyond.check_past(spec, expand(spec, VOCAB), VOCAB)


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_the_block_leaves_every_ladder_run_id_unchanged(schedule: str) -> None:
    train = {**TINY["train"], "schedule": schedule, "seeds": [0, 1], "lr": [0.01, 0.02]}
    changes = {"train": train, "budget": {"tokens": [12288, 24576]}}
    plain = parse_spec(copy.deepcopy({**TINY, **changes}))
    validated = parse_spec(with_validate({"models": [BIG, "s8"], "flops": [1e12]}, **changes))
    assert validated.validate.flops == (1e12,)
    ids = [r.run_id("fp") for r in expand(plain, VOCAB)]
    assert [r.run_id("fp") for r in expand(validated, VOCAB)] == ids
    assert all(r.role == "ladder" for r in expand(validated, VOCAB))
    # role is how a run is used, not what it trained: not part of its identity.
    run = expand(plain, VOCAB)[0]
    assert replace(run, role="validation").run_id("fp") == run.run_id("fp")


def test_validation_sizes_train_every_budget_first_seed_ladder_lr_rule() -> None:
    train = {**TINY["train"], "seeds": [3, 4], "noise_seeds": [1], "lr_rule": "inverse_width"}
    spec = parse_spec(with_validate({"models": [BIG]}, train=train,
                                    budget={"tokens_per_param": [2, 4]}))
    runs, notes = beyond.model_runs(spec, VOCAB)
    params = model_counts(spec.validate.models[0], VOCAB, 32).params
    assert notes == [] and [r.role for r in runs] == ["validation"] * 2
    assert [r.seed for r in runs] == [3, 3]
    for run, per_param in zip(runs, (2, 4), strict=True):
        assert abs(run.tokens - per_param * params) <= spec.train.batch_tokens / 2
        assert run.lr == pytest.approx(0.01 * 32 / 48)  # inverse_width from the base lr


def test_lr_auto_probes_no_validation_size_and_validation_runs_take_the_chosen_lr() -> None:
    train = {**TINY["train"], "lr": "auto"}
    spec = parse_spec(with_validate({"models": [BIG]}, train=train,
                                    budget={"tokens": [12288, 24576]}))
    trained: list[str] = []
    lr_of: dict[str, float] = {}

    def train_runs(runs) -> None:
        trained.extend(run.model.name for run, _ in runs)
        lr_of.update({rid: run.lr_base for run, rid in runs})

    def losses_of(ids: list[str]) -> list[float]:  # a bowl in lr, best at base lr 2e-2
        return [3.0 + 0.1 * math.log2(lr_of[i] / 2e-2) ** 2 for i in ids]

    chosen, _ = lr_search.search(spec, VOCAB, "fp", train_runs, losses_of, lambda _: None)
    assert trained and set(trained) == {"d16"}  # the narrowest ladder size, nothing else
    runs, _ = beyond.model_runs(spec, VOCAB, chosen)
    assert [r.lr_base for r in runs] == [chosen[0], chosen[1]]
    assert [r.lr for r in runs] == [lr_for(r.model, chosen[i], spec.train)
                                    for i, r in enumerate(runs)]


def test_wsd_validation_runs_are_a_family_of_their_own() -> None:
    train = {**TINY["train"], "schedule": "wsd"}
    spec = parse_spec(with_validate({"models": [BIG]}, train=train,
                                    budget={"tokens": [12288, 24576]}))
    runs, _ = beyond.model_runs(spec, VOCAB)
    assert all(r.kind == "branch" and r.family == (24, 48) for r in runs)
    assert len({r.family_id("fp") for r in runs}) == 1


def test_flops_budgets_take_the_nearest_size_by_params_and_one_either_side() -> None:
    spec = parse_spec(with_validate({"flops": [4e11]}, budget={"flops": [2e10, 5e10]},
                                    train={**TINY["train"], "batch_tokens": 256}))
    sizes = beyond.candidates(spec, VOCAB)
    params = [c.params for _, c in sizes]
    assert params == sorted(params)
    assert {"d16", "d32", "s1", "s8"} <= {m.name for m, _ in sizes}
    target = next(c.params for m, c in sizes if m.name == "s2")
    runs, lines = beyond.compute_runs(spec, VOCAB, [(target * 1.1, "2: isoFLOP")])
    names = [r.model.name for r in runs]
    k = [m.name for m, _ in sizes].index("s2")
    assert names == [sizes[k - 1][0].name, "s2", sizes[k + 1][0].name]
    for run in runs:
        per_token = run.counts(VOCAB).flops_per_token
        assert run.role == "validation" and run.budget_flops == 4e11 and run.seed == 0
        assert abs(run.tokens - 4e11 / per_token) <= spec.train.batch_tokens / 2
    assert "approach 2: isoFLOP" in lines[0] and "s2" in lines[0]
    # N_opt past every size that trains enough steps at C: the largest ones, said so.
    runs, lines = beyond.compute_runs(spec, VOCAB, [(1e12, "3: parametric")])
    assert len(runs) == 2 and "do not bracket it" in lines[0]


# --- results.csv --------------------------------------------------------------------------

def test_an_older_results_csv_without_role_keeps_every_row(tmp_path: Path) -> None:
    old = [c for c in COLUMNS if c != "role"]
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old, lineterminator="\n")
        writer.writeheader()
        writer.writerows([{c: "" for c in old} | {"run_id": f"old{i}", "val_loss": "4.1",
                                                  "status": "ok"} for i in range(3)])
    assert [role_of(r) for r in read_rows(path)] == ["ladder"] * 3
    upsert_row(path, {"run_id": "new", "status": "ok", "role": "validation"})
    rows = read_rows(path)
    assert [r["run_id"] for r in rows] == ["old0", "old1", "old2", "new"]
    assert [r["val_loss"] for r in rows[:3]] == ["4.1"] * 3
    assert [role_of(r) for r in rows] == ["ladder"] * 3 + ["validation"]


# --- the fit's N_opt for validate.flops ---------------------------------------------------

def isoflop_csv(path: Path, validation: bool, role: str = "validation") -> Path:
    """A ladder of 5 isoFLOP budgets with a known law (tests/fit/test_isoflop.py); with
    `validation`, a well-formed parabola at 1e21 FLOPs centred far from the law's N_opt,
    which moves approach 2's fit when it is fitted."""
    from tests.fit.test_isoflop import synthetic

    rows = [{"run_id": f"{i}-{j}", "model": f"m{j}", "params": repr(float(np.exp(n))),
             "tokens": repr(float(np.exp(d))), "flops": repr(b.flops),
             "budget_flops": repr(b.flops), "val_loss": repr(float(loss)), "status": "ok",
             "role": "ladder"}
            for i, b in enumerate(synthetic()) for j, (n, d, loss) in enumerate(zip(
                b.log_n, b.log_d, b.loss, strict=True))]
    if validation:
        for k in range(-3, 4):
            n = 1e8 * 3.0 ** k
            rows.append({**rows[0], "run_id": f"v{k}", "params": repr(n),
                         "tokens": repr(1e21 / 6 / n), "flops": "1e21", "budget_flops": "1e21",
                         "val_loss": repr(2.0 + 0.02 * math.log(n / 1e8) ** 2), "role": role})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_optimal_params_reads_approach_2_of_the_ladder_rows_alone(tmp_path: Path) -> None:
    from scalecli.fit import chinchilla
    from scalecli.fit.suggest import optimal_params
    from tests.fit.test_isoflop import THETA

    ladder = optimal_params(isoflop_csv(tmp_path / "a.csv", False), [1e21, 1e22])
    both = optimal_params(isoflop_csv(tmp_path / "b.csv", True), [1e21, 1e22])
    assert both == ladder  # the validation rows moved nothing
    fitted = optimal_params(isoflop_csv(tmp_path / "c.csv", True, role="ladder"), [1e21, 1e22])
    assert fitted[0][0] < 0.8 * ladder[0][0]  # the same rows as ladder rows would have
    truth = chinchilla.compute_optimal(THETA, np.array([1e21, 1e22]))["N_opt"]
    for (n_opt, approach), true in zip(ladder, truth, strict=True):
        assert approach == "2: isoFLOP" and n_opt == pytest.approx(true, rel=0.25)


def test_optimal_params_without_a_compute_fit_says_what_is_needed(tmp_path: Path) -> None:
    from scalecli.fit.suggest import optimal_params

    path = tmp_path / "results.csv"
    # One size at four token budgets: no budget has two sizes, no envelope moves in N.
    rows = [{"run_id": str(k), "params": "1e5", "tokens": str(1e6 * 2 ** k),
             "flops": str(6e11 * 2 ** k), "val_loss": str(4 - 0.1 * k), "status": "ok"}
            for k in range(4)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ScaleError, match=r"validate\.flops needs an isoFLOP design"):
        optimal_params(path, [1e14])


# --- end to end ---------------------------------------------------------------------------

LADDER = {
    "name": "tiny",
    "models": [{"name": "a", "n_layer": 1, "n_embd": 8, "n_head": 2},
               {"name": "b", "n_layer": 1, "n_embd": 16, "n_head": 2}],
    # b trains 52 and 103 steps, a 126 and 252: every size at both budgets.
    "budget": {"flops": [1.7e8, 3.4e8]},
    "train": {"batch_tokens": 64, "lr": 0.01, "noise_seeds": [], "eval_points": 0,
              "checkpoint_every_s": 0},
    "eval": {"tokens": 2000},
    "runtime": {"device": "cpu", "threads": 1, "compile": "off", "dtype": "fp32"},
}
# c trains only at the larger ladder budget (29 steps at the smaller one), and is a
# candidate size for the FLOP budget, between b and the named sizes.
C_SIZE = {"name": "c", "n_layer": 1, "n_embd": 24, "n_head": 2}


def test_adding_validate_to_a_finished_sweep_trains_only_the_new_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scalecli.fit.suggest

    corpus = write_corpus(tmp_path)
    raw = {**LADDER, "data": {"dataset": str(corpus), "tokenizer": "bpe:280", "context": 32}}
    path = tmp_path / "tiny.yaml"
    csv_path = tmp_path / "out" / "tiny" / "results.csv"

    def sweep(*extra: str):
        path.write_text(yaml.safe_dump(raw))
        result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"),
                                          *extra])
        assert result.exit_code == 0, result.output
        return result

    sweep()
    ladder = {r["run_id"]: r for r in read_rows(csv_path)}
    assert len(ladder) == 4 and all(r["role"] == "ladder" for r in ladder.values())

    asked: list[tuple[set[str], list[float]]] = []

    def fake_fit(csv_file: Path, flops: list[float]) -> list[tuple[float, str]]:
        asked.append(({r["run_id"] for r in read_rows(csv_file)}, flops))
        return [(next(float(r["params"]) for r in ladder.values() if r["model"] == "b"),
                 "2: isoFLOP")]

    monkeypatch.setattr(scalecli.fit.suggest, "optimal_params", fake_fit)
    raw["validate"] = {"models": [C_SIZE], "flops": [4e8]}
    dry = sweep("--dry-run")
    assert "validation: 1 runs past the ladder" in dry.output
    assert "validate.flops 400MFLOPs: the size is chosen after the ladder is fitted" in dry.output
    result = sweep()
    assert "5 runs (with 1 validation runs), 4 already recorded, 1 to train" in result.output
    assert "validation size c skipped at 1.7e+08 FLOPs" in result.output
    assert asked == [(set(ladder), [4e8])]  # the fit saw the ladder's rows only
    rows = read_rows(csv_path)
    for rid, row in ladder.items():  # not retrained, not rewritten
        assert next(r for r in rows if r["run_id"] == rid) == row
    valid = [r for r in rows if r["role"] == "validation"]
    assert [(r["model"], float(r["budget_flops"])) for r in valid] == [
        ("c", 3.4e8), ("a", 4e8), ("b", 4e8), ("c", 4e8)]
    assert all(r["status"] == "ok" and r["seed"] == "0" for r in valid)
    for r in valid:
        assert abs(float(r["flops"]) / float(r["budget_flops"]) - 1) < 0.02
    before = csv_path.read_text()
    again = sweep()
    assert "5 runs (with 1 validation runs), 5 already recorded, 0 to train" in again.output
    assert csv_path.read_text() == before  # nothing trained the second time
    assert len(asked) == 2 and asked[1] == asked[0]
