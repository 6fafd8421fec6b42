"""The power law y = a * x^b (the brief's `ppl = a N^b`): a straight line in log-log."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalecli.finite import finite
from scalecli.fit.forms.base import LawForm, _field
from scalecli.fit.laws import FitResult, bootstrap_power, fit_power, power_predict
from scalecli.fit.prediction import ten_x_ci

# Plain names for the 10x line ("10x params -> 20.6% lower perplexity").
QUANTITY_NAMES = {
    "params_non_embedding": "params",
    "params": "params",
    "tokens": "tokens",
    "flops": "compute",
    "flops_6nd": "compute",
    "val_ppl": "perplexity",
    "val_loss": "loss",
    "train_loss": "training loss",
    "val_bpb": "bits per byte",
}


def ten_x_text(x_col: str, y_col: str, factor: float,
               b_ci: tuple[float | None, float | None] = (None, None)) -> str:
    """'10x params -> 20.6% lower perplexity (95% CI 14.1-27.4%)': what an order of
    magnitude in x buys, with the interval from b's, so that one form's number is never
    read without its uncertainty."""
    x_name = QUANTITY_NAMES.get(x_col, x_col)
    y_name = QUANTITY_NAMES.get(y_col, y_col)
    change = 100.0 * (factor - 1.0)
    direction = "lower" if change < 0 else "higher"
    return f"10x {x_name} -> {abs(change):.1f}% {direction} {y_name}" + ten_x_ci(b_ci)


class Power(LawForm):
    name = "power"
    title = "power law"
    formula = "{y} = a * {x}^b"
    doc = ("Least squares of log y on log x (closed form); b's interval from a "
           "fixed-design parametric bootstrap, which with seeds draws the seed noise itself. "
           "Derives what 10x in x buys (10^b). The default form: perplexity against Kaplan "
           "et al.'s non-embedding N.")
    param_names = ("a", "b")
    y = "val_ppl"  # perplexity: the brief's law; the loss forms need a floor in nats
    ladder = in_all = default = seed_level = straight = perplexity = True
    exponent_param = "b"
    marker, colour = "o", "C0"

    def fit(self, x, y, d=None) -> FitResult:
        return fit_power(x, y)

    def predict(self, theta, x, d=None) -> np.ndarray:
        return power_predict(theta, x)

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        return bootstrap_power(x, y, n_boot, rng, seed_level)

    def log_predict(self, thetas: np.ndarray, x: np.ndarray) -> np.ndarray:
        """ln a + b ln x: ln ppl is a straight line of the loss against ln N."""
        thetas = np.atleast_2d(thetas)
        return np.log(thetas[:, :1]) + thetas[:, 1:2] * np.log(x)[None, :]

    def derived(self, point, boots, predict, reference=None, fpt=None) -> dict:
        factor = 10.0 ** point.theta[1]
        return {"ten_x_factor": finite(factor), "ten_x_change_pct": finite(100.0 * (factor - 1.0))}

    def describe(self, result: dict, x_col: str, y_col: str) -> None:
        if result["converged"]:
            b = result["params"]["b"]
            result["derived"]["ten_x_text"] = ten_x_text(
                x_col, y_col, result["derived"]["ten_x_factor"], (b["ci_low"], b["ci_high"]))

    def label(self, fit: Mapping) -> str:
        p = self.values(fit)
        try:
            return f"fit: {_field(fit, 'y') or 'y'} = {p['a']:.3g} N^{p['b']:.3f}"
        except (KeyError, TypeError):
            return super().label(fit)


FORM = Power()
