"""WSD branches: several token budgets from one run (Hägele et al. 2024).

Under `schedule: wsd` the runs of one size, lr and seed form a family. Up to a run's
cooldown start its lr does not depend on its length, so the family trains one stable
phase, in runs/PARENT_ID/, to its longest branch's cooldown start. At each shorter
branch's cooldown start it saves a branch point (model, optimizer, loop state; the data
position is the step) in runs/PARENT_ID/branch-STEP/. Each branch is then an ordinary run
in runs/RUN_ID/ that starts from its branch point instead of step 0, cools down and is
evaluated; its own checkpoints resume it. Only the branches are runs with rows: the
stable phase never cooled down, so its loss is no point of a scaling law.

Folders on disk decide what is left to do, so a kill at any moment resumes: a branch
with a checkpoint of its own, or whose branch point is saved, needs no stable phase.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalecli.results import write_json
from scalecli.sweep import checkpoint
from scalecli.sweep.spec import RunSpec, family_key

if TYPE_CHECKING:
    from scalecli.sweep.train import RunOptions


def stable_run(run: RunSpec) -> RunSpec:
    """The family's stable phase as a run: its longest branch. Before any branch's cooldown
    start this is every branch's schedule, and its mid-run evaluations are the family's."""
    longest = max(run.family or (run.steps,))
    return dataclasses.replace(run, steps=longest, tokens=longest * run.train.batch_tokens)


def branch_point(runs_dir: Path, run: RunSpec, fingerprint: str) -> Path:
    """The folder of the checkpoint that `run` branches off from."""
    return runs_dir / run.family_id(fingerprint) / f"branch-{run.branch_step:07d}"


def needed_points(runs_dir: Path, todo: Iterable[tuple[RunSpec, str]],
                  fingerprint: str) -> set[int]:
    """Branch steps the stable phase must still reach: those of branches that have neither
    a checkpoint of their own nor a saved branch point."""
    return {run.branch_step for run, rid in todo
            if checkpoint.find(runs_dir / rid) is None
            and checkpoint.find(branch_point(runs_dir, run, fingerprint)) is None}


def train_stable(todo: list[tuple[RunSpec, str]], runs_dir: Path, data: Any, rt: Any,
                 options: RunOptions) -> Any:
    """Train the stable phase of the family of `todo` (its branches not yet recorded) as
    far as their missing branch points, saving each. Returns the stable phase's result
    (status ok or diverged), or None when nothing had to be trained.

    `options` (compile, Ctrl-C, progress) are the caller's; this adds where to stop and
    which branch points to save.
    """
    from scalecli.sweep.train import train_run  # here: planning never imports torch

    fingerprint = data.fingerprint
    need = needed_points(runs_dir, todo, fingerprint)
    if not need:
        return None
    run = stable_run(todo[0][0])
    folder = runs_dir / run.family_id(fingerprint)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "family.json", {"parent_run_id": folder.name, "warmup_steps": run.warmup,
                                        "branch_steps": sorted(need), "steps": run.steps})
    found = checkpoint.find(folder)
    if found is not None and checkpoint.step_of(found) >= min(need):
        # Past a branch point that is missing (deleted by hand): only a fresh start has it.
        checkpoint.remove(folder)
    points = {step: branch_point(runs_dir, r, fingerprint)
              for r, _ in todo for step in [r.branch_step] if step in need}
    return train_run(run, data, folder, rt, dataclasses.replace(
        options, stop_at=max(need), snapshots=points))


def clean_up(runs_dir: Path, run: RunSpec, fingerprint: str, family_done: bool) -> None:
    """After a branch is recorded: its branch point goes; once the whole family is
    recorded, the stable phase's checkpoints go too (family.json stays)."""
    point = branch_point(runs_dir, run, fingerprint)
    checkpoint.remove(point)
    shutil.rmtree(point, ignore_errors=True)
    if family_done:
        folder = runs_dir / run.family_id(fingerprint)
        checkpoint.remove(folder)
        for leftover in folder.glob("branch-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def sibling_ids(run: RunSpec, fingerprint: str) -> list[str]:
    """The run_ids of every branch of `run`'s family."""
    return [dataclasses.replace(run, steps=s, tokens=s * run.train.batch_tokens).run_id(fingerprint)
            for s in run.family]


def by_family(todo: list[tuple[RunSpec, str]], fingerprint: str
              ) -> list[tuple[RunSpec, str]]:
    """`todo` with each family's branches together, shortest first, so that a family's
    checkpoints are freed before the next family starts; cosine runs keep their place."""
    first: dict[str, int] = {}
    keys = []
    for index, (run, _) in enumerate(todo):
        key = run.family_id(fingerprint) if run.kind == "branch" else f"#{index}"
        first.setdefault(key, index)
        keys.append((first[key], run.steps, index))
    return [todo[k[2]] for k in sorted(keys)]


def trained_steps(runs: list[RunSpec]) -> dict[int, int]:
    """Steps each run really costs when branched: the stable phase is charged to its
    family's longest branch (up to its cooldown start), every branch pays its own cooldown.
    Keys are indices into `runs`; cosine runs cost their own steps."""
    longest: dict[tuple[Any, ...], int] = {}
    for index, run in enumerate(runs):
        if run.kind == "branch":
            key = family_key(run)
            if key not in longest or run.steps > runs[longest[key]].steps:
                longest[key] = index
    charged = set(longest.values())
    return {index: run.steps if run.kind != "branch" or index in charged
            else run.steps - run.branch_step for index, run in enumerate(runs)}
