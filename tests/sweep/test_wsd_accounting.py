"""What a WSD sweep costs, against a hand count: each family trains its stable phase once
(charged to its longest branch, which runs on from there), and every other branch pays only
its own cooldown. `--dry-run` says so in one line.

The design: sizes a (d16) and b (d32), budgets of 12, 24 and 48 steps, seeds 0 and 1, so
four families (size x seed). Cooldowns of 0.25 start at steps 9, 18 and 36. Per family:
the longest branch's 48 steps (its stable phase to 36, then its cooldown), plus the
cooldowns of the others, 12 - 9 = 3 and 24 - 18 = 6: 57 steps, against 12 + 24 + 48 = 84
trained apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.sweep.branches import trained_steps
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.plan import say_branches
from scalecli.sweep.spec import expand
from scalecli.sweep.units import si
from tests.sweep.test_resume import write_corpus
from tests.sweep.test_wsd import sweep_dict

VOCAB = 280
PER_FAMILY, APART = 48 + 3 + 6, 12 + 24 + 48


def design(**train: object) -> dict:
    spec = sweep_dict(**{"seeds": [0, 1], **train})
    spec["models"].append({"name": "b", "n_layer": 1, "n_embd": 32, "n_head": 2})
    spec["budget"] = {"tokens": [3072, 6144, 12288]}  # 12, 24, 48 steps of 256 tokens
    return spec


def runs_of(spec: dict) -> list:
    return expand(parse_spec(spec), vocab_size=VOCAB)


def test_each_branch_pays_its_cooldown_and_the_longest_the_stable_phase() -> None:
    runs = runs_of(design())
    assert [(r.model.name, r.steps, r.seed, r.branch_step) for r in runs][:6] == [
        ("a", 12, 0, 9), ("a", 12, 1, 9), ("a", 24, 0, 18), ("a", 24, 1, 18),
        ("a", 48, 0, 36), ("a", 48, 1, 36)]
    charged = {48: 48, 24: 6, 12: 3}  # by hand: see the module's docstring
    assert trained_steps(runs) == {i: charged[r.steps] for i, r in enumerate(runs)}
    assert sum(trained_steps(runs).values()) == 4 * PER_FAMILY


def test_a_family_is_a_size_an_lr_and_a_seed() -> None:
    # Two lrs make two families per size and seed: each pays its own stable phase.
    runs = runs_of(design(lr=[0.01, 0.02], seeds=[0]))
    steps = trained_steps(runs)
    assert sum(steps.values()) == 4 * PER_FAMILY  # 2 sizes x 2 lrs x 1 seed
    assert sorted(steps.values()) == sorted([3, 6, 48] * 4)
    # The longest branch is found wherever it sits in the list.
    reordered = list(reversed(runs))
    assert trained_steps(reordered) == {i: {48: 48, 24: 6, 12: 3}[r.steps]
                                        for i, r in enumerate(reordered)}


def test_cosine_runs_cost_their_own_steps() -> None:
    runs = runs_of(design(schedule="cosine"))
    assert trained_steps(runs) == {i: r.steps for i, r in enumerate(runs)}


def expected_line(runs: list, per_family: int) -> str:
    """The dry-run's wsd line from the hand count (FLOPs = flops_per_token x tokens)."""
    separate = sum(r.counts(VOCAB).flops_per_token * r.tokens for r in runs)
    branched = separate * per_family / APART  # every family: per_family of APART steps
    return (f"wsd: {len(runs)} branches of 4 families train {si(branched)}FLOPs (stable "
            f"phases and cooldowns) against {si(separate)}FLOPs as separate runs: "
            f"{branched / separate:.2f}x the compute")


def test_the_dry_run_line_counts_the_stable_phase_once() -> None:
    runs = runs_of(design())
    console = Console(record=True, width=400)
    say_branches(runs, VOCAB, None, console)
    line = console.export_text().strip()
    assert line == expected_line(runs, PER_FAMILY)
    assert "0.68x the compute" in line  # 57 / 84
    # With every branch charged its full steps the line would say 1.00x.
    assert line != expected_line(runs, APART)


def test_sweep_dry_run_prints_the_branch_accounting(tmp_path: Path) -> None:
    spec = design(corpus=str(write_corpus(tmp_path)))
    path = tmp_path / "wsd.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = CliRunner().invoke(app, ["sweep", str(path), "--dry-run"],
                                env={"SCALECLI_TEST_PAUSE": None})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    wsd = [line for line in lines if line.startswith("wsd: ")]
    assert len(wsd) == 1, result.output
    runs = runs_of(spec)
    head, _, tail = expected_line(runs, PER_FAMILY).partition(" as separate runs")
    assert wsd[0].startswith(head + " as separate runs"), wsd[0]
    assert wsd[0].endswith(tail), wsd[0]  # the time estimate sits between


@pytest.mark.parametrize("frac", [0.25, 0.5])
def test_branch_steps_are_the_cooldown_starts(frac: float) -> None:
    runs = runs_of(design(cooldown_frac=frac, warmup_frac=0.1))
    steps = trained_steps(runs)
    for index, run in enumerate(runs):
        cooldown = round(frac * run.steps)
        assert run.branch_step == run.steps - cooldown
        assert steps[index] == (run.steps if run.steps == 48 else cooldown)
    assert runs[0].family == (12, 24, 48)
