"""What one `scalecli fit` is asked (`FitOptions` from the CLI, checked once into a
`FitRequest`) and what it reads (`Runs`: the CSV's rows, filtered, split by role and reduced
to one point per configuration by `seeds.ladder`). `driver` fits them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalecli.errors import ScaleError
from scalecli.fit import seeds
from scalecli.fit.forms import Form, LawForm, registry
from scalecli.fit.rows import (
    BEST_LR_REASON,
    VALIDATION_REASON,
    filter_rows,
    parse_predict,
    parse_where,
    read_csv,
    split_roles,
)
from scalecli.results import LR_SEARCH_RECORD, read_json


@dataclass
class FitOptions:
    """What `scalecli fit` was asked to do (built by cli.py)."""

    path: Path
    form: str = "power"
    """A --form choice (`forms.registry.choices()`)."""
    x: str | None = None
    """None: each form's own default (`Form.x`): params_non_embedding (Kaplan's N) for
    power and saturating; params (every parameter, as C counts them) for chinchilla,
    isoflop, envelope and compute."""
    y: str | None = None
    d: str = "tokens"
    where: list[str] | None = None
    """COLUMN=VALUE filters; None means the default status=ok (dropped if no status column)."""
    bootstrap: int = 1000
    seed: int = 0
    predict: str | list[float] | None = None
    predict_flops: str | list[float] | None = None
    """FLOP budgets at which each compute-optimal approach gives N_opt, D_opt (and loss)."""
    holdout: int = 1
    all_lrs: bool = False
    """Fit every learning rate's run, not only the best one per size."""
    as_json: bool = False
    strict: bool = False
    """Exit 1 when a diagnostic is a warning (for scripts and CI)."""


def _values(text: str | list[float] | None) -> np.ndarray | None:
    """--predict's values: text as the CLI gives it, or a list from Python."""
    if isinstance(text, str):
        return parse_predict(text)
    return None if text is None else np.asarray(text, dtype=float)


@dataclass(frozen=True)
class FitRequest:
    """The parsed fit options, checked once: what every step of one fit reads."""

    path: Path
    choice: str
    x: str | None  # as given; None: each form's default (`x_of`)
    y: str | None
    d: str
    where: list[str] | None
    bootstrap: int
    seed: int
    predict: np.ndarray | None  # x values, or FLOP budgets for a compute choice
    holdout: int
    all_lrs: bool
    y_default: str | None = None
    """Every form's y when --y is not given and the rows need one (`per_byte.choose_y`:
    val_bpb when they were measured in different tokenizers); None: each form's own."""

    @classmethod
    def parse(cls, options: FitOptions, path: Path) -> FitRequest:
        choice, flops = options.form, _values(options.predict_flops)
        if choice not in registry.choices():
            raise ScaleError(f"--form {choice!r} is unknown; use {', '.join(registry.choices())}")
        one = None if choice in (registry.ALL, registry.COMPUTE) else registry.get(choice)
        if flops is not None and one is not None and not one.compute:
            raise ScaleError(f"--predict-flops is for the compute-optimal forms; --form {choice} "
                             "predicts at x with --predict")
        predict = _values(options.predict)
        if flops is not None and choice != registry.ALL:
            predict = flops  # a compute form's --predict values are FLOP budgets already
        if options.bootstrap < 0 or options.holdout < 0:
            raise ScaleError("--bootstrap and --holdout must be >= 0")
        return cls(path, choice, options.x, options.y, options.d, options.where,
                   options.bootstrap, options.seed, predict, options.holdout, options.all_lrs)

    @property
    def main_x(self) -> str:
        """The x of the choice as a whole: the ladder, the diagnostics, the approaches."""
        return self.x or registry.default_x(self.choice)

    def x_of(self, form: Form) -> str:
        return self.x or form.x

    def y_of(self, form: Form) -> str:
        return self.y or self.y_default or form.y

    def law_forms(self) -> tuple[LawForm, ...]:
        """The law forms this choice fits point by point (`analysis.analyse`)."""
        if self.choice == registry.COMPUTE:
            return ()
        return tuple(f for f in registry.selected(self.choice) if isinstance(f, LawForm))

    @property
    def approaches(self) -> bool:
        """Whether the choice fits the compute-optimal approaches (one, or `compute`)."""
        return self.choice == registry.COMPUTE or (
            self.choice != registry.ALL and not isinstance(registry.get(self.choice), LawForm))


@dataclass
class Runs:
    """The CSV's rows as the fit sees them."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]  # every row of the file
    pairs: list[tuple[str, str]]  # the --where filter
    every_lr: list[dict[str, str]]  # kept by the filter, every lr and seed
    held: list[dict[str, str]]  # role=validation: scored, never fitted
    lad: seeds.Ladder  # one point per configuration, the best lr per size
    kept: list[dict[str, str]]  # the rows of the ladder's points
    excluded: dict[str, int]
    searched: frozenset[str]  # the lr search's chosen probes (`seeds.searched_runs`)

    @property
    def filters(self) -> list[str]:
        return [f"{c}={v}" for c, v in self.pairs]


def read_runs(req: FitRequest) -> Runs:
    """Read, filter and split the CSV, and pick the best lr per size (`seeds.ladder`)."""
    header, rows = read_csv(req.path)
    pairs = parse_where(req.where, header, req.path)
    every_lr, excluded = filter_rows(rows, pairs)
    every_lr, held = split_roles(every_lr)  # role=validation: scored below, never fitted
    if held:
        excluded[VALIDATION_REASON] = len(held)
    # The lr that the sweep's lr search chose, where it ran (its record beside the CSV)
    searched = seeds.searched_runs(read_json(req.path.parent / LR_SEARCH_RECORD))
    lad = seeds.ladder(every_lr, header, req.main_x, req.d, req.all_lrs, searched)
    kept = [every_lr[i] for i in lad.fitted_rows()]
    if len(kept) < len(every_lr):
        excluded[BEST_LR_REASON] = len(every_lr) - len(kept)
    runs = Runs(req.path, header, rows, pairs, every_lr, held, lad, kept, excluded, searched)
    if not kept:
        detail = ", ".join(f"{n} {k}" for k, n in excluded.items())
        raise ScaleError(
            f"no row of {req.path} is left after --where {' '.join(runs.filters)} "
            f"({len(rows)} rows: {detail}); change or drop the filter"
        )
    return runs
