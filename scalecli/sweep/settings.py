"""The sweep file's settings as frozen dataclasses, one per section, with a docstring
under each field (the sweep-file reference). Reading and checking them is `parse` and
`validate`; the runs a sweep holds are `spec`, which re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    """The size's name in results.csv (`s1`; any string for a model given by its fields)."""
    n_layer: int
    """Transformer blocks."""
    n_embd: int
    """Width d, a multiple of n_head."""
    n_head: int
    """Attention heads."""
    extra: tuple[tuple[str, Any], ...] = ()
    """Other GPT2Config fields, e.g. activation_function or n_inner."""


@dataclass(frozen=True)
class CheckpointSpec:
    """A model trained elsewhere, measured and not trained: a `models:` entry with
    `checkpoint:` (scalecli/sweep/checkpoints.py)."""

    checkpoint: str
    """`hf:ORG/NAME` (a hub model), a folder written by save_pretrained, or `runs/RUN_ID`
    (a run of this sweep, or the path of another sweep's run folder)."""
    name: str | None = None
    """results.csv's `model`. Default: a sweep run's size name (`s3`), else the reference's
    last part (`pythia-70m`)."""
    tokens_trained: float | None = None
    """Tokens the model was trained on: results.csv's tokens, flops and flops_6nd. Default:
    a sweep run's own tokens, else blank (and so are the FLOP columns)."""
    stride: int | None = None
    """Tokens between the starts of rolling windows (1 to the model's context): each token
    is predicted with at least context - stride tokens before it. Default: the context,
    windows that do not overlap, as the sweep's own evaluation."""


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
    """AdamW's decoupled weight decay, on matrices only (biases and LayerNorm gains get 0)."""
    beta1: float = 0.9
    """AdamW's first-moment decay."""
    beta2: float = 0.99
    """0.99, not the 0.95 of large-batch LLM recipes: at 16 sequences per step, Adam's second
    moment over ~20 steps is too noisy (Porian et al. 2024 found beta2 essential at small
    batches). On the embedded corpus, s2 at base lr 2e-2 reached val_loss 4.171 with 0.99,
    4.234 with 0.999 and 4.477 with 0.95."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this; 0 turns clipping off."""
    seeds: tuple[int, ...] = (0,)
    """Seeds (initialisation and data order); each is a run of every configuration."""
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
    """With executor ray: CPUs Ray reserves for each run (for each of its workers when
    workers_per_run is more than 1)."""
    gpus_per_run: float | None = None
    """With executor ray: GPUs Ray reserves for each run. Default: 1 when device is cuda.
    With workers_per_run more than 1, every worker holds one GPU of its own instead."""
    workers_per_run: int = 1
    """Processes that train one run together, data-parallel (PyTorch DDP: nccl on GPUs, gloo
    on CPUs): one GPU each on cuda, the threads split between them on cpu. The global batch,
    schedule and token budget stay as the sweep says; each worker computes the gradient of
    its own slice of every batch and the gradients are averaged, so the update is the
    1-worker update. train.batch_tokens / data.context must divide by it. Locally the
    sweep starts the processes itself; with executor ray each run is a Ray Train
    TorchTrainer of this many workers (scalecli/sweep/distributed.py)."""


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
    """The sweep's name: its results go to OUT/NAME/ and every row's `sweep` column."""
    data: DataSpec
    """The corpus and tokenizer (`data:`)."""
    models: tuple[ModelSpec, ...]
    """The ladder: size names from scalecli/sweep/sizes.py, or dicts of GPT2Config fields
    with a `name` (n_inner defaults to 4 * n_embd); and trained models to measure, entries
    with `checkpoint:` (`checkpoints` below)."""
    budget: BudgetSpec
    """How long each size trains (`budget:`): tokens, tokens per parameter or FLOPs. Not
    needed when every model is a checkpoint."""
    train: TrainSpec = field(default_factory=TrainSpec)
    """The optimisation recipe (`train:`)."""
    eval: EvalSpec = field(default_factory=EvalSpec)
    """The held-out evaluation (`eval:`)."""
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    """Where and how runs execute (`runtime:`); not part of any run's identity."""
    out: str = "out"
    """Output root; results go to OUT/NAME/."""
    validate: ValidateSpec = field(default_factory=ValidateSpec)
    """Validation runs past the ladder (`scalecli/sweep/beyond.py`)."""
    checkpoints: tuple[CheckpointSpec, ...] = ()
    """Trained models measured on the sweep's held-out text, no training (the `models:`
    entries with `checkpoint:`); a sweep of these alone is evaluation-only."""
