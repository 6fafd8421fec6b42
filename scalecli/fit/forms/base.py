"""What a fit form is: one object that knows its law, its columns, how it fits and draws.

Shaped like lmfit's `Model`: a pure model function (`curve`) that needs nothing but
fit.json's parameter values, the parameter names, the columns it reads, and the methods
that fit it, bootstrap it and derive what a reader wants from it. Callers ask a form what
it can do (`law`, `ladder`, `compute`, `reads_d`) and never compare its name; the forms
themselves are listed in `registry`.

- `Form`: every form (its name, text, columns, `curve`).
- `LawForm`: a law fitted point by point (`analysis.analyse`): power, saturating,
  chinchilla. Its maths stays in `laws` and `chinchilla`; the form delegates to it.
- `ComputeForm`: a compute-optimal approach fitted budget by budget, N_opt = k_N C^a
  (`optimum`): the envelope (approach 1) and isoFLOP (approach 2).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalecli.fit.laws import FitResult


def _field(record, name: str):
    """A field of a fit.json entry: a dict (as `fit` builds it) or a typed record (as the
    report reads it, `fit.schema`)."""
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


class Form:
    """One scaling-law form. Subclasses set the class attributes and `curve`."""

    name: str = ""
    """The --form choice and fit.json's key under `fits`."""
    title: str = ""
    """A few words for headings: 'power law'."""
    formula: str = ""
    """The law as text, `{x}`, `{y}` and `{d}` standing for the fit's columns."""
    doc: str = ""
    """One paragraph for the reference: what the form is, how it is fitted, its source."""
    param_names: tuple[str, ...] = ()
    """fit.json's `params` keys, in the order of the fitter's theta."""
    x: str = "params_non_embedding"
    """The default x column (N): Kaplan's non-embedding N, or `params` as C counts it."""
    y: str = "val_loss"
    """The default y column."""
    reads_d: bool = False
    """Whether the form reads the --d column (tokens) as well as x."""
    law: bool = False
    """Fitted point by point by `analysis.analyse` (with bands, holdout, --predict at x)."""
    ladder: bool = False
    """Predicts y at a size past the ladder from x alone: the combined prediction and the
    validation scoring use it, and --predict values are x for it."""
    compute: bool = False
    """Gives the compute-optimal N_opt(C), D_opt(C): one of the approaches."""
    approach: str = ""
    """Its row in the approaches table ('2: isoFLOP'); the number orders the rows."""
    directness: int = 0
    """For a compute form: 1 reads N_opt most directly (approach 2's measured parabolas),
    higher ones less (approach 3 extrapolates a fitted surface, approach 1 only reads the
    sizes trained). Orders whose tokens per parameter or N_opt is trusted first."""
    in_all: bool = False
    """Fitted by `fit --form all` (a compute form there only when the runs have budgets)."""
    default: bool = False
    """The form a plain `fit` fits, whose slope the exponents table and the seed-noise
    block report (exactly one form)."""
    exponent_param: str | None = None
    """The parameter the fit's `exponent` is (its sign flipped when `exponent_sign` < 0)."""
    exponent_sign: float = 1.0
    marker: str = "o"
    """How figures draw it: matplotlib marker and colour."""
    colour: str = "C0"

    # ------------------------------------------------------------------- pure drawing

    def curve(self, params: Mapping[str, float], x, d=None) -> np.ndarray:
        """y at x (and D) from parameter values alone (fit.json's `value`s, `values`)."""
        raise NotImplementedError

    def values(self, fit) -> dict[str, float]:
        """{parameter: value} of one fit.json entry, what `curve` takes."""
        return {k: _field(v, "value") if v is not None else None
                for k, v in (_field(fit, "params") or {}).items()}

    def draw(self, fit, x, d=None) -> np.ndarray:
        """`curve` at x (and D) with this fit.json entry's parameters."""
        return self.curve(self.values(fit), np.asarray(x, dtype=float),
                          None if d is None else np.asarray(d, dtype=float))

    def formula_text(self, fit) -> str:
        """The formula with the fit's columns in it."""
        return self.formula.format(x=_field(fit, "x"), y=_field(fit, "y"), d=_field(fit, "d"))

    def label(self, fit) -> str:
        """A legend entry for the fitted curve, its numbers filled in."""
        return f"fit ({self.name})"

    def exponent_interval(self, params: Mapping) -> tuple[float | None, float | None]:
        """The 95% interval of the fit's exponent from fit.json's params, Estimates or
        their dicts (flipped when the exponent is minus a parameter)."""
        p = params.get(self.exponent_param or "")
        lo, hi = _field(p, "ci_low"), _field(p, "ci_high")
        if self.exponent_sign < 0:
            return (None if hi is None else -hi), (None if lo is None else -lo)
        return lo, hi

    def approach_row(self, fit: Mapping) -> tuple[dict, list | None]:
        """(a_opt and b_opt with intervals, --predict-flops rows) for the approaches table."""
        derived = fit.get("derived") or {}
        return fit.get("params") or {}, derived.get("predictions")

    def __repr__(self) -> str:
        return f"<form {self.name}>"


class LawForm(Form):
    """A law fitted point by point; the maths lives in `laws` and `chinchilla`."""

    law = True
    band: bool = True
    """Whether fit.json gets the fitted curve with its band over x (a 1-D law)."""
    holdout_boot: int | None = None
    """At most this many bootstrap refits for the holdout check's interval (None: all)."""
    seed_level: bool = False
    """Whether its bootstrap draws the seed level of the noise (`seeds.seed_level`)."""
    own_intervals: bool = False
    """Whether its parameter intervals come from elsewhere than its bootstrap (so that
    --bootstrap 0 still gives them)."""
    perplexity: bool = False
    """Fitted to perplexity, exp(loss): its predictions of the loss are ln of its curve."""
    straight: bool = False
    """A straight line in log-log: points that bend are evidence against it."""

    @property
    def min_points(self) -> int:
        """A form with k parameters needs k + 1 points, so that at least one is a check."""
        return len(self.param_names) + 1

    def theta(self, params: Mapping[str, float]) -> np.ndarray:
        return np.array([params[k] for k in self.param_names], dtype=float)

    def curve(self, params: Mapping[str, float], x, d=None) -> np.ndarray:
        return self.predict(self.theta(params), np.asarray(x, dtype=float),
                            None if d is None else np.asarray(d, dtype=float))

    def fit(self, x: np.ndarray, y: np.ndarray, d: np.ndarray | None = None) -> FitResult:
        raise NotImplementedError

    def predict(self, theta: np.ndarray, x: np.ndarray, d: np.ndarray | None = None
                ) -> np.ndarray:
        raise NotImplementedError

    def bootstrap(self, x, y, d, point: FitResult, n_boot: int, rng: np.random.Generator,
                  seed_level: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Bootstrap thetas (n_ok, k) and how many refits were dropped."""
        raise NotImplementedError

    def degenerate(self, x: np.ndarray, d: np.ndarray | None) -> str | None:
        """Why these points cannot identify the form, or None if they can."""
        if x.size < self.min_points:
            return f"{x.size} points, {self.name} needs at least {self.min_points}"
        if np.unique(x).size < 2:
            return "all x are equal"
        if self.reads_d and (d is None or np.unique(d).size < 2):
            return "all D are equal"
        return None

    def intervals(self, x: np.ndarray, y: np.ndarray, point: FitResult
                  ) -> dict[str, tuple[float | None, float | None]]:
        """Parameter intervals that replace the bootstrap's, by name (default: none)."""
        return {}

    def exponent(self, theta: np.ndarray) -> float | None:
        if self.exponent_param is None:
            return None
        return self.exponent_sign * float(theta[self.param_names.index(self.exponent_param)])

    def derived(self, point: FitResult, boots: np.ndarray, predict: np.ndarray | None,
                reference: float | None = None, fpt=None) -> dict:
        """What the form derives beyond its parameters (the 10x line, N_opt/D_opt)."""
        return {}

    def predictions(self, point: FitResult, boots: np.ndarray, predict: np.ndarray,
                    fpt=None) -> tuple[np.ndarray, np.ndarray]:
        """(y at each --predict value, bootstrap draws (n, len(predict))): at x."""
        y_hat = self.predict(point.theta, predict)
        samples = np.array([self.predict(t, predict) for t in boots])
        return y_hat, samples

    def log_predict(self, thetas: np.ndarray, x: np.ndarray) -> np.ndarray:
        """ln y at x for (S, k) thetas -> (S, len(x)) (a perplexity form's loss)."""
        return np.log(np.array([self.predict(t, x) for t in thetas]).reshape(-1, x.size))

    def method_suffix(self, fpt) -> str:
        """What fit.json's `method` adds for this form (how it solved its optimum)."""
        return ""

    def caveat(self, x: np.ndarray, intervals: dict) -> str | None:
        """What this fit's numbers cannot be trusted for (None: nothing known)."""
        return None

    def describe(self, result: dict, x_col: str, y_col: str) -> None:
        """Add the sentences that need the columns' names to an analysed fit (in place)."""


class ComputeForm(Form):
    """A compute-optimal approach fitted per FLOP budget: N_opt = k_N C^a_opt,
    D_opt = k_D C^b_opt (`optimum`). Its curve is N_opt against C."""

    compute = True
    x = "params"

    def values(self, fit) -> dict[str, float]:
        derived = _field(fit, "derived") or {}
        return {**super().values(fit), "k_n": _field(derived, "k_n"),
                "k_d": _field(derived, "k_d")}

    def curve(self, params: Mapping[str, float], x, d=None) -> np.ndarray:
        """N_opt at compute C = x."""
        return params["k_n"] * np.power(np.asarray(x, dtype=float), params["a_opt"])

    def tokens(self, params: Mapping[str, float], x) -> np.ndarray:
        """D_opt at compute C = x."""
        return params["k_d"] * np.power(np.asarray(x, dtype=float), params["b_opt"])

    def analyse(self, budgets: list, n_boot: int, seed: int, predict: np.ndarray | None,
                reference: float, noise: tuple) -> dict:
        """fit.json's entry without the column names. `noise` is (pooled seed sd of the
        loss or None, seeds of each point per budget)."""
        raise NotImplementedError
