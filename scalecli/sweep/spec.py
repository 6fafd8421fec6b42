"""What a run is (RunSpec, its identity and run_id), and which runs a sweep holds.

The sweep's settings are the dataclasses of `settings`, re-exported here; reading and
checking a sweep file is `parse` and `validate`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from scalecli.errors import ScaleError
from scalecli.sweep.model import DEFAULT_ACTIVATION, ParamCounts, closed_form_counts
from scalecli.sweep.schedule import cooldown_start, wsd_warmup_steps

# Every setting stays importable from here, as before `settings` was split off.
from scalecli.sweep.settings import (  # noqa: F401
    BudgetSpec,
    CheckpointSpec,
    DataSpec,
    EvalSpec,
    ModelSpec,
    RuntimeSpec,
    SweepSpec,
    TrainSpec,
    ValidateSpec,
)


@dataclass(frozen=True)
class RunSpec:
    """One training run: a model, a budget, a learning rate and a seed."""

    sweep: str
    model: ModelSpec
    tokens: int  # actual training tokens: steps * batch_tokens
    steps: int
    lr: float  # the peak lr actually used, after lr_rule
    lr_base: float  # the sweep's lr before lr_rule
    seed: int
    data: DataSpec
    train: TrainSpec
    eval: EvalSpec
    runtime: RuntimeSpec
    budget_flops: float | None = None
    """The nominal FLOP budget the run belongs to (budget.flops); None for token budgets.
    Not part of the identity: the run is its tokens, whichever budget asked for them."""
    warmup_steps: int | None = None  # wsd: the family's warmup (warmup_frac x shortest)
    family: tuple[int, ...] = ()  # wsd: every branch's steps; not identity (siblings don't matter)
    role: str = "ladder"
    """results.csv's role: `ladder`, or `validation` for a run past the ladder that no fit
    uses. Not identity: a run is what it trained, not how it is used."""

    @property
    def is_wsd(self) -> bool:  # its lr schedule is warmup-stable-decay, not cosine
        return self.train.schedule == "wsd"

    @property
    def kind(self) -> str:
        """How an executor trains it (each executor maps a kind to a function): `train`, from
        step 0 in one go, or `branch`, a WSD run, which has a parent (its family's stable
        phase, `parent_run_id`) and starts from that parent's branch point."""
        return "branch" if self.is_wsd else "train"

    @property
    def warmup(self) -> int:  # the family's steps under wsd, this run's fraction under cosine
        if self.is_wsd and self.warmup_steps is not None:
            return self.warmup_steps
        return round(self.train.warmup_frac * self.steps)

    @property
    def branch_step(self) -> int:  # where a WSD branch leaves the stable phase: cooldown start
        return cooldown_start(self.steps, self.warmup, self.train.cooldown_frac)

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """Everything that defines the run's result: runtime settings excluded."""
        train = asdict(self.train)
        for key in ("lr", "seeds", "noise_seeds", "checkpoint_every_s", "eval_points"):
            train.pop(key)
        if self.is_wsd:
            # The warmup is the family's, in steps; its fraction of this run is not the point.
            train.pop("warmup_frac")
            train["warmup_steps"] = self.warmup
        else:
            # Cosine runs keep the run_ids they had before schedules were a setting.
            for key in ("schedule", "cooldown_frac", "cooldown_shape"):
                train.pop(key)
        return {
            "model": asdict(self.model) | {"name": None},
            # The default activation is part of what was trained, though no file names it.
            "activation": dict(self.model.extra).get("activation_function", DEFAULT_ACTIVATION),
            "tokens": self.tokens,
            "lr": self.lr,
            "seed": self.seed,
            "context": self.data.context,
            "tokenizer": self.data.tokenizer,
            "data_fingerprint": fingerprint,
            "eval_tokens": self.eval.tokens,
            "train": train,
        }

    def counts(self, vocab_size: int) -> ParamCounts:
        """Parameter and FLOP counts of this run's model, from the closed form."""
        return model_counts(self.model, vocab_size, self.data.context)

    def run_id(self, fingerprint: str) -> str:
        blob = json.dumps(self.identity(fingerprint), sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{self.model.name}-t{_short(self.tokens)}-lr{self.lr:.3g}-s{self.seed}-{digest}"

    def parent_run_id(self, fingerprint: str) -> str | None:
        """A branch's parent, its family's stable phase (`family_id`); None for a run
        trained in one go."""
        return self.family_id(fingerprint) if self.kind == "branch" else None

    def family_id(self, fingerprint: str) -> str:
        """A WSD branch's stable phase (its results.csv parent_run_id): the identity without
        the tokens, since up to any cooldown start the lr does not depend on the length.
        Within one sweep it names the same runs as `family_key`, which needs no data."""
        identity = self.identity(fingerprint)
        identity.pop("tokens")
        blob = json.dumps(identity, sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{self.model.name}-wsd-lr{self.lr:.3g}-s{self.seed}-{digest}"


@dataclass(frozen=True)
class EvalRun:
    """One evaluation-only run: a trained checkpoint measured on the sweep's held-out text
    (`checkpoints.evaluation_runs`); no budget, lr or seed. Its shape is the checkpoint's."""

    sweep: str
    model: ModelSpec  # the name, and the shape read from the checkpoint's config
    reference: str  # what `pretrained.resolve` is given: hf:ORG/NAME or an absolute folder
    written: str  # the reference as the sweep file wrote it
    source_kind: str  # hub, folder or run (`pretrained.ModelRef.kind`)
    context: int  # the model's own context: the window
    stride: int | None  # None: the context
    tokens_trained: int | None
    data: DataSpec
    eval: EvalSpec
    runtime: RuntimeSpec
    role: str = "ladder"

    @property
    def kind(self) -> str:  # how an executor runs it (local_executor.RUN_KINDS)
        return "evaluate"

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """The model, the windows and the held-out text: a rerun skips a recorded one.
        A run of this sweep is named as written (runs/RUN_ID), so that a moved output
        folder keeps its run_ids; a folder elsewhere by its absolute path."""
        own = self.source_kind == "run" and self.written.startswith("runs/")
        return {
            "checkpoint": self.written if own else self.reference,
            "stride": self.stride,
            "tokens_trained": self.tokens_trained,
            "data_fingerprint": fingerprint,
            "context": self.data.context,  # the held-out stream is whole sweep windows
            "eval_tokens": self.eval.tokens,
        }

    def run_id(self, fingerprint: str) -> str:
        blob = json.dumps(self.identity(fingerprint), sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{self.model.name}-eval-{digest}"


def family_key(run: RunSpec) -> tuple[Any, ...]:
    """A WSD family within one sweep: a size, an lr and a seed. Its runs differ only in
    length, so they share a stable phase (`family_id` is the same family on disk)."""
    return (run.model, run.lr, run.seed)


def model_counts(model: ModelSpec, vocab_size: int, context: int) -> ParamCounts:
    """Parameter and FLOP counts of a model of the sweep, from the closed form."""
    return closed_form_counts(n_layer=model.n_layer, n_embd=model.n_embd, vocab_size=vocab_size,
                              n_ctx=context, n_inner=dict(model.extra).get("n_inner"))


def _short(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n))


def lr_for(model: ModelSpec, lr: float, train: TrainSpec) -> float:
    """The peak lr a run records: under muP the base lr (hidden matrices get lr / m inside
    the optimizer), under inverse_width the lr every parameter of this width gets."""
    if train.parametrization == "standard" and train.lr_rule == "inverse_width":
        # muP-style: the best Adam lr of the hidden matrices falls as 1/width.
        return lr * train.lr_ref_width / model.n_embd
    return lr


# A FLOP budget's size is skipped below this many optimizer steps: warmup (20% of the
# steps) and the cosine decay have no room, so its loss says more about the schedule than
# about the size.
MIN_BUDGET_STEPS = 50


@dataclass(frozen=True)
class Cell:
    """One (size, budget) of the design: the size trains `tokens` at the budget `index`."""

    model: ModelSpec
    index: int
    tokens: float
    budget_flops: float | None = None


def budget_steps(spec: SweepSpec, tokens: float) -> int:
    """The whole steps of spec.train.batch_tokens that `tokens` make: what a FLOP budget's
    size trains, checked against MIN_BUDGET_STEPS by the ladder and its validation runs."""
    return round(tokens / spec.train.batch_tokens)


def design(spec: SweepSpec, vocab_size: int) -> tuple[list[Cell], list[str]]:
    """The sweep's (size, budget) cells, smallest model first, then in budget order; and a
    line for every size that a FLOP budget skips as too short to train."""
    b, context = spec.budget, spec.data.context
    counts = {m: model_counts(m, vocab_size, context) for m in spec.models}
    if b.flops is None:
        cells = [Cell(m, i, float(t) if b.tokens is not None else t * counts[m].params)
                 for m in spec.models
                 for i, t in enumerate(b.tokens if b.tokens is not None
                                       else b.tokens_per_param or ())]
        return cells, []
    chosen: list[Cell] = []
    skipped: list[str] = []
    for i, flops in enumerate(b.flops):
        fit = []
        for m in sorted(spec.models, key=lambda m: counts[m].params):
            tokens = flops / counts[m].flops_per_token
            steps = budget_steps(spec, tokens)
            if steps < MIN_BUDGET_STEPS:
                skipped.append(f"{m.name} skipped at {flops:.3g} FLOPs: {tokens:,.0f} tokens is "
                               f"{steps} steps of {spec.train.batch_tokens} tokens, fewer than "
                               f"{MIN_BUDGET_STEPS}; add a smaller size or a larger budget")
            else:
                fit.append(Cell(m, i, tokens, flops))
        if not fit:
            raise ScaleError(f"budget.flops[{i}] = {flops:.3g} is too small for every size of "
                             f"the sweep (under {MIN_BUDGET_STEPS} steps each); raise it or add "
                             "smaller sizes")
        chosen += _window(fit, b.sizes_per_budget, b.expected_tokens_per_param, counts)
    order = {m: k for k, m in enumerate(spec.models)}
    chosen.sort(key=lambda c: (order[c.model], c.index))
    return chosen, skipped


def _window(cells: list[Cell], size: int | None, tokens_per_param: float,
            counts: dict[ModelSpec, ParamCounts]) -> list[Cell]:
    """`size` consecutive cells (by params) centred on the one whose D / params is nearest
    tokens_per_param; all of them when size is None."""
    if size is None or len(cells) <= size:
        return cells
    centre = min(range(len(cells)), key=lambda k: abs(math.log(
        cells[k].tokens / counts[cells[k].model].params / tokens_per_param)))
    start = min(max(0, centre - size // 2), len(cells) - size)
    return cells[start:start + size]


def one_budget(spec: SweepSpec, index: int) -> SweepSpec:
    """The sweep cut to its budget `index` (the lr search runs one budget at a time)."""
    b = spec.budget
    pick = {key: (getattr(b, key)[index],) for key in ("tokens", "tokens_per_param", "flops")
            if getattr(b, key) is not None}
    return replace(spec, budget=replace(b, **pick))


def narrowest(spec: SweepSpec, models: Iterable[ModelSpec] | None = None) -> ModelSpec:
    """The narrowest size, then the shallowest: the cheapest, where lr and noise are measured."""
    return min(spec.models if models is None else models,
               key=lambda m: (m.n_embd, m.n_layer, m.name))


def expand(spec: SweepSpec, vocab_size: int,
           auto_lr: Mapping[int, float] | None = None) -> list[RunSpec]:
    """One RunSpec per (model, budget, lr, seed) of the design, smallest model first.

    With `lr: auto`, `auto_lr` maps each budget's index to the lr the search chose for it.
    """
    if spec.train.lr_auto and auto_lr is None:
        raise ValueError("lr: auto needs the searched lr per budget")
    runs = []
    noisy = narrowest(spec)
    for cell in design(spec, vocab_size)[0]:
        seeds = spec.train.seeds
        if cell.model == noisy:
            seeds += tuple(s for s in spec.train.noise_seeds if s not in seeds)
        lrs = spec.train.lr or (auto_lr[cell.index],)  # type: ignore[index]
        for lr in lrs:
            for seed in seeds:
                runs.append(run_at(spec, cell, lr, seed))
    return families(runs)


def run_at(spec: SweepSpec, cell: Cell, lr: float, seed: int, role: str = "ladder") -> RunSpec:
    """The run of one cell at base lr `lr` (lr_rule applied) and `seed`; its tokens are
    rounded to whole steps."""
    steps = max(1, round(cell.tokens / spec.train.batch_tokens))
    return RunSpec(
        sweep=spec.name, model=cell.model, tokens=steps * spec.train.batch_tokens,
        steps=steps, lr=lr_for(cell.model, lr, spec.train), lr_base=lr, seed=seed,
        data=spec.data, train=spec.train, eval=spec.eval, runtime=spec.runtime,
        budget_flops=cell.budget_flops, role=role,
    )


def families(runs: list[RunSpec]) -> list[RunSpec]:
    """Under wsd, each run learns its family (`_families`); cosine runs are returned as
    they are."""
    return _families(runs) if runs and runs[0].train.schedule == "wsd" else runs


def _families(runs: list[RunSpec]) -> list[RunSpec]:
    """Under wsd, the runs of one size, lr and seed are one family: each learns the
    family's branch lengths and its warmup, set by the shortest branch."""
    steps: dict[tuple[Any, ...], set[int]] = {}
    for run in runs:
        steps.setdefault(family_key(run), set()).add(run.steps)
    out = []
    for run in runs:
        family = tuple(sorted(steps[family_key(run)]))
        warmup = wsd_warmup_steps(run.train.warmup_frac, family[0])
        out.append(replace(run, warmup_steps=warmup, family=family))
    return out
