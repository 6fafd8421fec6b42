"""fit.json's blocks beside `fits`: the approaches and conventions tables, the exponents,
the seed noise, the prediction past the ladder and its check against validation runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from scalecli.fit.schema.record import Record, omitted
from scalecli.fit.schema.shapes import Estimate, Predicted, PredictionRow, TokensPerParam


@dataclass
class ApproachRef(Record):
    """A row of the approaches table: which fit holds it (`fits[form]`), so that its
    numbers are stored once (`FitDoc.approach_rows` reads them)."""

    approach: str = ""
    form: str = ""


@dataclass
class ApproachRow(Record):
    """One approach's compute-optimal law with N counted one way (`conventions`)."""

    approach: str = ""
    form: str = ""
    a_opt: Estimate | None = None
    b_opt: Estimate | None = None
    tokens_per_param: TokensPerParam | None = None
    predictions: list[PredictionRow] = field(default_factory=list)


@dataclass
class ExponentRow(Record):
    """One row of `fit --form all`'s exponents table: the exponent at one kind of scale,
    with its interval, or `reason` why the design does not measure it."""

    scale: str = ""
    x: str | None = None
    y: str | None = None
    at: str = ""
    kind: str = ""
    quantity: str = ""
    exponent: Estimate | None = None
    reason: str | None = field(default=None,
        metadata=omitted("why there is no exponent at this scale"))
    n_points: int | None = field(default=None, metadata=omitted())
    r2_log: float | None = field(default=None, metadata=omitted())


@dataclass
class SeedPoint(Record):
    """A fitted point's seeds: their count, mean and sd of the seed-noise column."""

    label: str = ""
    x: float | None = None
    tokens: float | None = None
    lr: float | None = None
    n_seeds: int = 0
    mean: float | None = None
    sd: float | None = None


@dataclass
class SeedNoise(Record):
    """The pooled seed-to-seed sd of `column` and each fitted point's seeds."""

    column: str = "val_loss"
    pooled_sd: float | None = None
    dof: int = 0
    configs_pooled: int = 0
    outliers_left_out: int = 0
    points: list[SeedPoint] = field(default_factory=list)


@dataclass
class CombinedPrediction(Predicted):
    """The prediction fit stands behind: a mixture of the `forms` the ladder does not
    reject, how (`method`), why (`reason`), and whether two forms' intervals exclude each
    other's value (`disagree`)."""

    forms: list[str] = field(default_factory=list)
    method: str = ""
    reason: str = ""
    disagree: bool = False


@dataclass
class PredictionPoint(Record):
    """Each form's 95% prediction interval of one new run at x, and the combined one."""

    x: float | None = None
    label: str | None = None
    source: str = ""
    forms: dict[str, Predicted] = field(default_factory=dict)
    combined: CombinedPrediction | None = None


@dataclass
class PredictionBlock(Record):
    """What the ladder predicts past itself (the validation runs' N, --predict values, 10x
    the largest size), from power and saturating along N."""

    x: str = ""
    y: str = ""
    seed_sd: float | None = None
    level: float = 0.95
    seed_note: str | None = None
    rejected: dict[str, str] = field(default_factory=dict)
    points: list[PredictionPoint] = field(default_factory=list)


@dataclass
class Score(Record):
    """One form's prediction for a validation run, against what the run measured."""

    form: str = ""
    predicted: float | None = None
    low: float | None = None
    high: float | None = None
    rel_error: float | None = None
    inside: bool | None = None


@dataclass
class ValidationRun(Record):
    """A run past the ladder (seeds averaged), scored by every form."""

    run_id: str | None = None
    model: str | None = None
    x: float | None = None
    tokens: float | None = None
    flops: float | None = None
    observed: float | None = None
    n_seeds: int = 0
    scores: list[Score] = field(default_factory=list)
    best_form: str | None = None


@dataclass
class ComputeRun(Record):
    """A run at a validation FLOP budget; approach 3's prediction at its (N, D)."""

    run_id: str | None = None
    model: str | None = None
    n: float | None = None
    tokens: float | None = None
    observed: float | None = None
    predicted: float | None = field(default=None, metadata=omitted())
    low: float | None = field(default=None, metadata=omitted())
    high: float | None = field(default=None, metadata=omitted())
    inside: bool | None = field(default=None, metadata=omitted())


@dataclass
class ApproachCheck(Record):
    """One approach's N_opt (and approach 3's loss) at a validation budget."""

    approach: str = ""
    n_opt: float | None = None
    loss: float | None = None
    low: float | None = None
    high: float | None = None
    inside: bool | None = None
    n_ratio: float | None = None


@dataclass
class ComputeCheck(Record):
    """A validation FLOP budget: its runs, the best trained size, each approach there."""

    flops: float | None = None
    runs: list[ComputeRun] = field(default_factory=list)
    best_trained_n: float | None = None
    observed_best: float | None = None
    approaches: list[ApproachCheck] = field(default_factory=list)


@dataclass
class ValidationBlock(Record):
    """Validation runs scored against the ladder's predictions."""

    x: str = ""
    y: str = ""
    runs: list[ValidationRun] = field(default_factory=list)
    best_form: str | None = None
    ruled_out: list[str] = field(default_factory=list)
    misses: int = 0
    compute: list[ComputeCheck] | None = field(default=None,
        metadata=omitted("validation FLOP budgets"))
