"""The three shapes every part of fit.json shares: a parameter's estimate with its
interval, a predicted number with what its interval holds, and a diagnostic."""

from __future__ import annotations

from dataclasses import dataclass, field

from scalecli.fit.schema.record import Record, omitted

# What a `Predicted` interval holds. "parameter": the fit's parameter uncertainty alone
# (the bootstrap of the law: where the curve or the optimum lies). "prediction": that plus
# one new run's seed noise, so that one run's observed value should fall inside it.
PARAMETER = "parameter"
PREDICTION = "prediction"
INTERVAL_KINDS = (PARAMETER, PREDICTION)


@dataclass
class Estimate(Record):
    """A fitted or derived parameter: its value, standard error and 95% interval (null
    where too few bootstrap refits succeeded; one null end of a profile interval is a side
    the data do not bound)."""

    value: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class Predicted(Record):
    """A predicted number with its 95% interval, and what the interval holds (`interval`:
    "parameter" for the fit's uncertainty alone, "prediction" for one new run's value)."""

    value: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    interval: str | None = None


@dataclass
class TokensPerParam(Record):
    """D_opt / N_opt at one FLOP budget `flops`, with its interval: the approaches are
    compared at one shared C, since the ratio changes with C unless a = b."""

    flops: float | None = None
    value: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class PredictionRow(Record):
    """One `--predict` (or `--predict-flops`) point, the one shape for every form: `x` is
    where (a value of the fit's x for power and saturating, a FLOP budget C for chinchilla
    and the approaches); `y` the predicted y (chinchilla: L_opt at C; null for approaches
    1 and 2, which give no loss); `n_opt` and `d_opt` the compute-optimal allocation at C."""

    x: float | None = None
    y: Predicted | None = None
    n_opt: Predicted | None = field(default=None,
        metadata=omitted("N_opt at C (chinchilla and the approaches)"))
    d_opt: Predicted | None = field(default=None,
        metadata=omitted("D_opt at C (chinchilla and the approaches)"))


@dataclass
class Bootstrap(Record):
    """How many bootstrap refits were asked for (`n`), how many succeeded, their seed."""

    n: int = 0
    n_ok: int = 0
    seed: int = 0


@dataclass
class Diagnostic(Record):
    """A finding of `fit`: a stable `code` to grep, `severity` "info" or "warning" (do not
    trust the number it names as it stands), and a one-paragraph message."""

    code: str = ""
    severity: str = "info"
    message: str = ""
