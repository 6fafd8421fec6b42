"""The sweep's settings as frozen dataclasses, and their expansion into one RunSpec per run.

Reading and checking a sweep file is `parse` and `validate`; this module only says what a
sweep and a run are, and which runs a sweep holds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scalecli.errors import ScaleError
from scalecli.sweep.model import DEFAULT_ACTIVATION, ParamCounts, closed_form_counts
from scalecli.sweep.schedule import cooldown_start, wsd_warmup_steps


@dataclass(frozen=True)
class DataSpec:
    dataset: str = "embedded:shakespeare"
    """`embedded:shakespeare`, a hub dataset id, or local .txt/.jsonl/.parquet files or globs."""
    config: str | None = None
    """Hub dataset configuration name, if it has several."""
    split: str = "train"
    """Hub split to train on."""
    val_split: str | None = None
    """Hub split to evaluate on; if unset, whole documents are held out (see val_frac)."""
    text_column: str = "text"
    """Column holding the text in hub, .jsonl and .parquet data."""
    val_frac: float = 0.1
    """Fraction of documents held out for validation when there is no val_split."""
    max_documents: int | None = None
    """Use only the first this-many documents of the training split (for big hub sets)."""
    tokenizer: str = "bpe:1024"
    """`bpe:N` trains a byte-level BPE with N tokens on the training split; any other value
    is an HF tokenizer name or a local path."""
    context: int = 128
    """Tokens per training sequence (n_positions)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    extra: tuple[tuple[str, Any], ...] = ()
    """Other GPT2Config fields, e.g. activation_function or n_inner."""


@dataclass(frozen=True)
class BudgetSpec:
    tokens: tuple[int, ...] | None = None
    """Training tokens per run; a list makes a grid (for iso-FLOP and Chinchilla fits)."""
    tokens_per_param: tuple[float, ...] | None = None
    """Alternatively, tokens = this * params (all parameters, as in Chinchilla's 20)."""
    flops: tuple[float, ...] | None = None
    """Alternatively, FLOP budgets C (isoFLOP profiles): at each, every size trains on
    D = C / flops_per_token tokens. A size with fewer than MIN_BUDGET_STEPS steps is skipped."""
    sizes_per_budget: int | None = None
    """With flops: train only this many sizes per budget, a window of the ladder centred on
    the size nearest expected_tokens_per_param. Default: every size at every budget."""
    expected_tokens_per_param: float = 20.0
    """With flops and sizes_per_budget: where each budget's window is centred (D / params
    of the middle size); Chinchilla's 20."""

    @property
    def count(self) -> int:
        return len(self.tokens or self.tokens_per_param or self.flops or ())


@dataclass(frozen=True)
class TrainSpec:
    batch_tokens: int = 2048
    """Tokens per optimizer step (sequences x context); a multiple of context."""
    micro_batch_tokens: int | None = None
    """Tokens per forward pass; gradient accumulation makes up batch_tokens. Default: auto."""
    lr: tuple[float, ...] = ()
    """Peak learning rate at lr_ref_width; a list makes a grid. Empty (`lr: auto` in a sweep
    file): measured on the sweep's data, a search at the narrowest size that lr_rule carries
    to the others (scalecli/sweep/lr_search.py)."""
    parametrization: str = "standard"
    """`standard`: GPT-2's own initialisation, one lr for every parameter, scaled across
    widths by lr_rule; `mup`: muP (scalecli/sweep/mup.py), which scales init, lr and
    multipliers per layer instead (then lr_rule must be constant)."""
    lr_rule: str = "inverse_width"
    """With parametrization standard: `inverse_width`, lr * lr_ref_width / n_embd for every
    parameter (the best Adam lr of the hidden matrices falls as 1/width), or `constant`."""
    lr_ref_width: int = 32
    """The width at which lr applies as given: inverse_width's reference, or muP's base width."""
    warmup_frac: float = 0.2
    """Fraction of the run's steps spent in linear warmup. 0.2, not 0.05: on Python source
    the seeds of one size parted within the first ~100 steps at 0.05 (s3: 3.805, 4.217,
    3.712) and agreed at 0.2 (3.616, 3.619, 3.634), with lower loss at every size of the
    embedded corpus too."""
    min_lr_frac: float = 0.1
    """The schedule ends at this fraction of the peak, exactly at the run's last step."""
    schedule: str = "cosine"
    """`cosine`: warmup, then cosine decay over each run's own steps. `wsd`: warmup, a
    constant peak, then a cooldown; the runs of one size, lr and seed then train once and
    branch off at each shorter budget's cooldown start (scalecli/sweep/branches.py)."""
    cooldown_frac: float = 0.2
    """With wsd: the cooldown is this fraction of each branch's own steps, at its end."""
    cooldown_shape: str = "linear"
    """With wsd: `linear`, or `sqrt` (the lr falls as 1 - sqrt of the cooldown's progress)."""
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    """0.99, not the 0.95 of large-batch LLM recipes: at 16 sequences per step, Adam's second
    moment over ~20 steps is too noisy (Porian et al. 2024 found beta2 essential at small
    batches). On the embedded corpus, s2 at base lr 2e-2 reached val_loss 4.171 with 0.99,
    4.234 with 0.999 and 4.477 with 0.95."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this; 0 turns clipping off."""
    seeds: tuple[int, ...] = (0,)
    noise_seeds: tuple[int, ...] = (1, 2)
    """More seeds for the narrowest size alone (the cheapest): the seed-to-seed noise floor
    that fit's diagnostics and b's interval use, for two extra small runs. [] turns it off."""
    eval_points: int = 4
    """Evaluations on the held-out tokens during a run (curve.csv), besides the final one."""
    diverge_factor: float = 4.0
    """A loss above this times its running minimum after warmup ends the run as diverged."""
    checkpoint_every_s: float = 120.0
    """Seconds between mid-run checkpoints (for resuming after a crash); 0 turns them off."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about 30% more compute."""

    @property
    def lr_auto(self) -> bool:
        return not self.lr


@dataclass(frozen=True)
class EvalSpec:
    tokens: int = 100_000
    """Held-out tokens, the same for every run of the sweep (fewer if the split is smaller)."""
    batch_tokens: int = 16_384
    """Tokens per evaluation forward pass."""


@dataclass(frozen=True)
class RuntimeSpec:
    device: str = "auto"
    """cpu | cuda | auto."""
    dtype: str = "auto"
    """auto | fp32 | bf16. auto: bf16 autocast on CUDA GPUs with bf16 and on CPUs with
    native bf16 matmuls, fp32 otherwise; one dtype for every size. Master weights are
    always fp32."""
    compile: str = "auto"
    """auto | on | off. auto compiles only when the run is long enough to repay it."""
    threads: int | None = None
    """CPU threads for torch; default: the physical cores (with executor ray: cpus_per_run)."""
    executor: str = "local"
    """local | ray. ray: every run is a Ray task, on this machine or on a Ray cluster."""
    ray_address: str | None = None
    """With executor ray: the cluster to join (e.g. auto, ray://head:10001). Default:
    $RAY_ADDRESS if set, else a Ray instance started on this machine."""
    cpus_per_run: int = 1
    """With executor ray: CPUs Ray reserves for each run."""
    gpus_per_run: float | None = None
    """With executor ray: GPUs Ray reserves for each run. Default: 1 when device is cuda."""


@dataclass(frozen=True)
class ValidateSpec:
    """Runs past the ladder that test its extrapolation: they train after the ladder, are
    recorded with role=validation, and no fit uses them (fit scores them instead).
    Not part of any run's identity: adding this block leaves every ladder run_id as it was."""

    models: tuple[ModelSpec, ...] = ()
    """Sizes larger than the ladder's largest (non-embedding N), at the ladder's own budget
    rule: every budget of the sweep, the first seed, the lr that the ladder's rule gives."""
    flops: tuple[float, ...] = ()
    """FLOP budgets past the ladder's largest: the size that the compute fit of the ladder's
    results predicts optimal there (the nearest of the ladder's and the named sizes, by
    params) and one size either side, each at tokens = C / flops_per_token."""

    def __bool__(self) -> bool:
        return bool(self.models or self.flops)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    data: DataSpec
    models: tuple[ModelSpec, ...]
    budget: BudgetSpec
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    out: str = "out"
    """Output root; results go to OUT/NAME/."""
    validate: ValidateSpec = field(default_factory=ValidateSpec)
    """Validation runs past the ladder (`scalecli/sweep/beyond.py`)."""


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
    def is_branch(self) -> bool:  # a WSD run: it cools down off its family's stable phase
        return self.train.schedule == "wsd"

    @property
    def warmup(self) -> int:  # the family's steps under wsd, this run's fraction under cosine
        if self.is_branch and self.warmup_steps is not None:
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
        if self.is_branch:
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

    def family_id(self, fingerprint: str) -> str:
        """A WSD branch's stable phase (its results.csv parent_run_id): the identity without
        the tokens, since up to any cooldown start the lr does not depend on the length."""
        identity = self.identity(fingerprint)
        identity.pop("tokens")
        blob = json.dumps(identity, sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{self.model.name}-wsd-lr{self.lr:.3g}-s{self.seed}-{digest}"


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
            steps = round(tokens / spec.train.batch_tokens)
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
        steps.setdefault((run.model, run.lr, run.seed), set()).add(run.steps)
    out = []
    for run in runs:
        family = tuple(sorted(steps[(run.model, run.lr, run.seed)]))
        warmup = wsd_warmup_steps(run.train.warmup_frac, family[0])
        out.append(replace(run, warmup_steps=warmup, family=family))
    return out
