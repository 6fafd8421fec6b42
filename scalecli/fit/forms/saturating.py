"""The saturating law L = E + A * x^-alpha: a power law that levels off at a floor E."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalecli.fit.forms.base import LawForm, _field
from scalecli.fit.laws import (
    FitResult,
    bootstrap_saturating,
    fit_saturating,
    profile_intervals,
    saturating_predict,
)


class Saturating(LawForm):
    name = "saturating"
    title = "saturating power law"
    formula = "{y} = E + A * {x}^(-alpha)"
    doc = ("Least squares on log L with log L_hat = LSE(log A - alpha log x, log E), "
           "Levenberg-Marquardt from 20 starts; E, A and alpha get profile-likelihood 95% "
           "intervals (the bootstrap's are too narrow with few sizes), the band and "
           "predictions a fixed-design bootstrap. The exponent is -alpha.")
    param_names = ("E", "A", "alpha")
    ladder = in_all = own_intervals = True
    exponent_param, exponent_sign = "alpha", -1.0
    marker, colour = "s", "C2"

    def fit(self, x, y, d=None) -> FitResult:
        return fit_saturating(x, y)

    def predict(self, theta, x, d=None) -> np.ndarray:
        return saturating_predict(theta, x)

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        return bootstrap_saturating(x, y, point, n_boot, rng)

    def intervals(self, x, y, point):
        # With few sizes the bootstrap's intervals are too narrow (laws.profile_interval).
        return profile_intervals(x, y, point)

    def caveat(self, x: np.ndarray, intervals: dict) -> str | None:
        """What this fit's numbers cannot be trusted for, measured on synthetic sweeps.

        The profile intervals keep their coverage (92-98% with 5 or 10 sizes,
        `bench/fit_coverage.py`), but the band and --predict intervals come from the
        bootstrap, which with 5 sizes over 36x held the true curve at 10x the largest size
        in only 85-91% of synthetic sweeps (94-95% with 10 sizes over 400x). And an
        interval of E that reaches 0 means the sizes show no floor yet.
        """
        notes = []
        if intervals.get("E", (None, None))[0] == 0.0:
            notes.append("E's 95% interval reaches 0: these sizes show no floor yet, so E is "
                         "not measured")
        if x.size < 10 or x.max() / x.min() < 100:
            notes.append(f"with {x.size} sizes over {x.max() / x.min():.0f}x the curve's band "
                         "and predicted intervals are too narrow (85-91% coverage at 10x the "
                         "largest size in synthetic sweeps like this)")
        return "; ".join(notes) or None

    def label(self, fit: Mapping) -> str:
        p = self.values(fit)
        try:
            return (f"fit: {_field(fit, 'y') or 'y'} = {p['E']:.3g} + {p['A']:.3g} "
                    f"N^-{p['alpha']:.3f}")
        except (KeyError, TypeError):
            return super().label(fit)


FORM = Saturating()
