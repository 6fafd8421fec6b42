"""Validation runs: the `validate:` block's runs past the ladder, which no fit uses.

A scaling law is a claim about sizes it has not seen; these runs test it. They train after
the ladder, with the ladder's own recipe, and are recorded with role=validation, so that
`fit` scores them against its prediction instead of fitting them.

- `validate.models`: sizes larger than the ladder's largest, at every budget of the
  ladder's rule (the same tokens, tokens per parameter or FLOP budgets), the first seed.
- `validate.flops`: FLOP budgets past the ladder's. After the ladder has trained, its
  compute fit predicts N_opt(C) (a callable from the CLI: sweep/ may not import fit/);
  the nearest size by total params (as C counts them) of the ladder's, the validation and
  the named sizes trains there, and one size either side, at tokens = C / flops_per_token.

The lr is the ladder's: every lr of a fixed grid (fit keeps the best per size, as for the
ladder), or with `lr: auto` the searched base lr of the same budget (for a FLOP budget past
the ladder, of the ladder's largest budget), each through lr_rule. The lr search never
sees these sizes. Under wsd, the validation runs of one size form their own family.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from scalecli.errors import ScaleError
from scalecli.sweep.lr_search import LR_START
from scalecli.sweep.model import ParamCounts
from scalecli.sweep.sizes import SIZES
from scalecli.sweep.spec import (
    MIN_BUDGET_STEPS,
    Cell,
    ModelSpec,
    RunSpec,
    SweepSpec,
    budget_steps,
    families,
    model_counts,
    run_at,
)
from scalecli.sweep.units import si

VALIDATION = "validation"
# (ladder's results.csv, FLOP budgets) -> (N_opt, the approach that gave it) per budget.
OptimalParams = Callable[[Path, list[float]], list[tuple[float, str]]]


def _lrs(spec: SweepSpec, index: int, auto_lr: Mapping[int, float] | None) -> tuple[float, ...]:
    if spec.train.lr:
        return spec.train.lr
    if auto_lr is None:
        raise ValueError("lr: auto needs the searched lr per budget")
    return (auto_lr[index],)


def _largest_budget(spec: SweepSpec) -> int:
    """The index of the ladder's largest budget (whose searched lr a FLOP budget past the
    ladder takes: the nearest measured)."""
    b = spec.budget
    values = b.tokens or b.tokens_per_param or b.flops or (0,)
    return max(range(len(values)), key=lambda i: values[i])


def model_runs(spec: SweepSpec, vocab_size: int, auto_lr: Mapping[int, float] | None = None
               ) -> tuple[list[RunSpec], list[str]]:
    """validate.models' runs, and a line for each FLOP budget too short for a size."""
    b, seed = spec.budget, spec.train.seeds[0]
    runs, skipped = [], []
    for model in spec.validate.models:
        counts = model_counts(model, vocab_size, spec.data.context)
        if b.tokens is not None:
            cells = [Cell(model, i, float(t)) for i, t in enumerate(b.tokens)]
        elif b.tokens_per_param is not None:
            cells = [Cell(model, i, t * counts.params) for i, t in enumerate(b.tokens_per_param)]
        else:
            cells = []
            for i, flops in enumerate(b.flops or ()):
                tokens = flops / counts.flops_per_token
                if (steps := budget_steps(spec, tokens)) < MIN_BUDGET_STEPS:
                    skipped.append(f"validation size {model.name} skipped at {flops:.3g} "
                                   f"FLOPs: {steps} steps, fewer than "
                                   f"{MIN_BUDGET_STEPS}")
                else:
                    cells.append(Cell(model, i, tokens, flops))
            if not cells:
                raise ScaleError(f"validate.models: {model.name} trains fewer than "
                                 f"{MIN_BUDGET_STEPS} steps at every budget.flops; use "
                                 "validate.flops, whose sizes fit their budget")
        runs += [run_at(spec, cell, lr, seed, VALIDATION)
                 for cell in cells for lr in _lrs(spec, cell.index, auto_lr)]
    return families(runs), skipped


def check_past(spec: SweepSpec, ladder: list[RunSpec], vocab_size: int) -> None:
    """Each validate.flops budget must exceed every ladder run's FLOPs (for token budgets
    this needs the vocabulary, so it is checked here and not while parsing)."""
    if not spec.validate.flops or not ladder:
        return
    largest = max(r.counts(vocab_size).flops_per_token * r.tokens for r in ladder)
    for i, c in enumerate(spec.validate.flops):
        if c <= largest:
            raise ScaleError(f"validate.flops[{i}] = {c:.3g} is not past the ladder's largest "
                             f"run ({largest:.3g} FLOPs); a validation budget tests the "
                             "extrapolation, so give a larger one")


def candidates(spec: SweepSpec, vocab_size: int) -> list[tuple[ModelSpec, ParamCounts]]:
    """The sizes a FLOP budget may train, by total params: the ladder's, the validation
    sizes and the named sizes (sweep/sizes.py), one of each shape. The named sizes take
    the ladder's other GPT2Config fields when every ladder size shares them (n_inner
    aside), so that a validation run is the ladder's architecture."""
    shared = set.intersection(*(set(m.extra) for m in spec.models))
    extra = tuple(sorted(kv for kv in shared if kv[0] != "n_inner"))
    pool = [*spec.models, *spec.validate.models,
            *(ModelSpec(name=name, extra=extra, **shape) for name, shape in SIZES.items())]
    distinct: dict[tuple, ModelSpec] = {}
    for m in pool:
        distinct.setdefault((m.n_layer, m.n_embd, m.n_head, m.extra), m)
    with_counts = [(m, model_counts(m, vocab_size, spec.data.context))
                   for m in distinct.values()]
    return sorted(with_counts, key=lambda mc: (mc[1].params, mc[0].name))


def _trainable(spec: SweepSpec, vocab_size: int, flops: float
               ) -> list[tuple[ModelSpec, ParamCounts]]:
    fit = [(m, c) for m, c in candidates(spec, vocab_size)
           if budget_steps(spec, flops / c.flops_per_token) >= MIN_BUDGET_STEPS]
    if not fit:
        raise ScaleError(f"validate.flops: {flops:.3g} FLOPs gives every candidate size fewer "
                         f"than {MIN_BUDGET_STEPS} steps; give a larger budget")
    return fit


def nearest(spec: SweepSpec, vocab_size: int, flops: float, n_opt: float
            ) -> list[tuple[ModelSpec, ParamCounts]]:
    """The trainable size nearest N_opt (in log params) and one either side."""
    fit = _trainable(spec, vocab_size, flops)
    k = min(range(len(fit)), key=lambda i: abs(math.log(fit[i][1].params / n_opt)))
    return fit[max(0, k - 1):k + 2]


def compute_runs(spec: SweepSpec, vocab_size: int, optima: list[tuple[float, str]],
                 auto_lr: Mapping[int, float] | None = None
                 ) -> tuple[list[RunSpec], list[str]]:
    """validate.flops' runs, given (N_opt, approach) per budget; and a line per budget
    saying what was chosen and why."""
    seed, index = spec.train.seeds[0], _largest_budget(spec)
    runs: list[RunSpec] = []
    lines = []
    for c, (n_opt, approach) in zip(spec.validate.flops, optima, strict=True):
        chosen = nearest(spec, vocab_size, c, n_opt)
        names = ", ".join(f"{m.name} ({si(k.params)})" for m, k in chosen)
        line = (f"validate.flops {si(c)}FLOPs: the ladder's compute fit (approach "
                f"{approach}) gives N_opt = {si(n_opt)} params; training {names}")
        low, high = chosen[0][1].params, chosen[-1][1].params
        if not low <= n_opt <= high:
            line += (f"; N_opt is {'below' if n_opt < low else 'above'} every size that "
                     "trains at this budget, so the runs do not bracket it")
        lines.append(line)
        for m, k in chosen:
            cell = Cell(m, index, c / k.flops_per_token, c)
            runs += [run_at(spec, cell, lr, seed, VALIDATION)
                     for lr in _lrs(spec, index, auto_lr)]
    unique = list({(r.model, r.tokens, r.lr): r for r in runs}.values())
    return families(unique), lines


def planned(spec: SweepSpec, vocab_size: int, flops: float
            ) -> tuple[list[tuple[ModelSpec, ParamCounts]], list[RunSpec]]:
    """For --dry-run, before any fit: the sizes a FLOP budget may choose from, and the runs
    it would train if N_opt sat at budget.expected_tokens_per_param (Chinchilla's 20)."""
    fit = _trainable(spec, vocab_size, flops)
    ratio = spec.budget.expected_tokens_per_param
    # D / N = ratio with D = C / flops_per_token: N_opt where C = flops_per_token * ratio * N.
    guess = min(fit, key=lambda mc: abs(math.log(
        flops / mc[1].flops_per_token / mc[1].params / ratio)))[1].params
    one = replace(spec, validate=replace(spec.validate, flops=(flops,)))
    # With lr: auto the search has not run: the search's centre stands in, as for the ladder.
    auto = None if spec.train.lr else dict.fromkeys(range(spec.budget.count), LR_START)
    runs, _ = compute_runs(one, vocab_size, [(guess, "guess")], auto)
    return fit, runs
