"""fit.json's `fits`: one entry per fitted form, a law fitted point by point (`LawFit`)
or a compute-optimal approach fitted budget by budget (`ApproachFit`).

The data say which: an approach always writes what it was fitted on, its `budgets`
(isoFLOP) or `envelope` points, and a law has neither. So the schema reads a form
registered later (`fit.forms.registry`) without learning its name."""

from __future__ import annotations

from dataclasses import dataclass, field

from scalecli.fit.schema.record import Record, omitted
from scalecli.fit.schema.shapes import Bootstrap, Estimate, PredictionRow, TokensPerParam

# The fields only an approach has, in version 0 as in version 1 (`upgrade` reads them too).
APPROACH_KEYS = ("budgets", "envelope")


def is_approach(data: dict) -> bool:
    """Whether a `fits` entry is an approach fitted budget by budget (`ApproachFit`)."""
    return any(key in data for key in APPROACH_KEYS)


@dataclass
class Extrapolation(Record):
    """The holdout check: the form refitted without the `held_out` largest distinct x, and
    per held-out row its prediction, the observed value, the relative error and the 95%
    prediction interval (`low`, `high`, `inside`)."""

    held_out: int = 0
    x: list[float | None] = field(default_factory=list)
    predicted: list[float | None] = field(default_factory=list)
    observed: list[float | None] = field(default_factory=list)
    rel_error: list[float | None] = field(default_factory=list)
    low: list[float | None] = field(default_factory=list)
    high: list[float | None] = field(default_factory=list)
    inside: list[bool | None] = field(default_factory=list)


@dataclass
class Band(Record):
    """The fitted curve from the smallest x to 10x the largest, with its 95% bootstrap
    band (a 1-D law only)."""

    x: list[float | None] = field(default_factory=list)
    y: list[float | None] = field(default_factory=list)
    low: list[float | None] = field(default_factory=list)
    high: list[float | None] = field(default_factory=list)


@dataclass
class LawDerived(Record):
    """What a reader wants from a law. Power: what 10x in x buys. Chinchilla: the
    compute-optimal allocation, stored here once (N_opt ~ C^a_opt, D_opt ~ C^b_opt with
    their intervals, G, tokens per parameter, and N_opt, D_opt, L_opt at each budget in
    `predictions`); the approaches table refers to it."""

    ten_x_factor: float | None = field(default=None,
        metadata=omitted("power: 10^b, the factor 10x in x multiplies y by"))
    ten_x_change_pct: float | None = field(default=None, metadata=omitted("power: 100 (10^b - 1)"))
    ten_x_text: str | None = field(default=None,
        metadata=omitted("power: the same in words, with b's interval"))
    a_opt: Estimate | None = field(default=None, metadata=omitted("chinchilla: a of N_opt ~ C^a"))
    b_opt: Estimate | None = field(default=None, metadata=omitted("chinchilla: b of D_opt ~ C^b"))
    G: float | None = field(default=None,
        metadata=omitted("chinchilla: Hoffmann et al.'s G of N_opt = G (C/6)^a"))
    tokens_per_param: TokensPerParam | None = field(default=None, metadata=omitted(
        "chinchilla: D_opt / N_opt at the approaches' reference C"))
    predictions: list[PredictionRow] | None = field(default=None, metadata=omitted(
        "at each --predict x (--predict-flops C for chinchilla); absent without a fit"))


@dataclass
class BySize(Record):
    """A fit along D of one size on its own (a pooled fit's sizes differ at the same D)."""

    size: str = ""
    n: float | None = None
    n_points: int = 0
    converged: bool = False
    exponent: float | None = None
    params: dict[str, Estimate] = field(default_factory=dict)
    message: str = ""
    r2_log: float | None = field(default=None, metadata=omitted())
    rmse_log: float | None = field(default=None, metadata=omitted())
    extrapolation_note: str | None = field(default=None, metadata=omitted())


@dataclass
class LawFit(Record):
    """A law fitted point by point: `y` against `x` (and `d` for chinchilla), with its
    parameters, quality in log space, holdout check, band and derived quantities."""

    form: str = ""
    x: str | None = None
    y: str | None = None
    d: str | None = None
    c: str | None = field(default=None,
        metadata=omitted("the compute column (chinchilla as approach 3)"))
    n_points: int = 0
    converged: bool = False
    message: str = ""
    params: dict[str, Estimate] = field(default_factory=dict)
    exponent: float | None = None
    r2_log: float | None = None
    rmse_log: float | None = None
    extrapolation: Extrapolation | None = None
    extrapolation_note: str = ""
    derived: LawDerived = field(default_factory=LawDerived)
    band: Band | None = None
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    method: str = ""
    caveat: str | None = None
    by_size: list[BySize] | None = field(default=None,
        metadata=omitted("a fit along D: each size on its own"))

    @classmethod
    def accepts(cls, data: dict) -> bool:
        return not is_approach(data)


@dataclass
class EnvelopePoint(Record):
    """A budget's best run on approach 1's lower envelope."""

    flops: float | None = None
    n: float | None = None
    d: float | None = None
    loss: float | None = None


@dataclass
class BudgetSlice(Record):
    """One isoFLOP budget: its parabola's vertex (N_opt, D_opt, loss), verdict and points."""

    flops: float | None = None
    budget_flops: float | None = None
    n_opt: float | None = None
    d_opt: float | None = None
    loss_opt: float | None = None
    curvature: float | None = None
    points: int = 0
    window: int | None = None
    accepted: bool = False
    reason: str | None = field(default=None,
        metadata=omitted("why the budget was rejected (a stable code)"))
    reason_text: str | None = field(default=None, metadata=omitted("the same in words"))
    n: list[float | None] = field(default_factory=list)
    loss: list[float | None] = field(default_factory=list)


@dataclass
class LeaveOneOutBudget(Record):
    """a and b refitted without the budget at `flops`."""

    flops: float | None = None
    a_opt: float | None = None
    b_opt: float | None = None


@dataclass
class LeaveOneOut(Record):
    """a and b refitted without each accepted budget in turn, and the largest shifts."""

    budgets: list[LeaveOneOutBudget] = field(default_factory=list)
    max_shift_a: float | None = None
    max_shift_b: float | None = None


@dataclass
class ApproachDerived(Record):
    """The approach's line pair N_opt = k_n C^a, D_opt = k_d C^b, the tokens per parameter
    at the reference C, and N_opt, D_opt at each --predict-flops budget."""

    k_n: float | None = field(default=None, metadata=omitted())
    k_d: float | None = field(default=None, metadata=omitted())
    tokens_per_param: TokensPerParam | None = field(default=None, metadata=omitted())
    predictions: list[PredictionRow] = field(default_factory=list)


@dataclass
class ApproachFit(Record):
    """A compute-optimal approach fitted budget by budget (envelope: approach 1, isoflop:
    approach 2): params a_opt and b_opt of N_opt ~ C^a, D_opt ~ C^b."""

    x: str | None = None
    y: str | None = None
    d: str | None = None
    c: str | None = None
    form: str = ""
    n_points: int = 0
    envelope: list[EnvelopePoint] | None = field(default=None,
        metadata=omitted("approach 1: the envelope's points"))
    budgets: list[BudgetSlice] | None = field(default=None,
        metadata=omitted("approach 2: every budget with its verdict"))
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    method: str = ""
    converged: bool = False
    message: str = ""
    params: dict[str, Estimate] = field(default_factory=dict)
    exponent: float | None = None
    leave_one_out: LeaveOneOut | None = field(default=None,
        metadata=omitted("approach 2, converged"))
    derived: ApproachDerived = field(default_factory=ApproachDerived)

    @classmethod
    def accepts(cls, data: dict) -> bool:
        return is_approach(data)


Fit = LawFit | ApproachFit
