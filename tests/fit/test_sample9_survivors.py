"""The fit survivors of the ninth fresh sample (`python bench/mutation.py --seed 9`, the
default command): analyse's defaults, which the library's callers rely on, and the
saturating fit's method text, which must say what the fitter does."""

from __future__ import annotations

import numpy as np

from scalecli.fit import analysis, laws

X = np.array([1e6, 2e6, 4e6, 8e6, 1.6e7])


def test_analyse_defaults_to_1000_draws_seeded_0_like_scalecli_fit() -> None:
    rng = np.random.default_rng(3)
    y = 30.0 * X**-0.1 * np.exp(rng.normal(0, 0.01, X.size))
    default = analysis.analyse("power", X, y, holdout=0)
    assert default["bootstrap"]["n"] == 1000  # `scalecli fit --bootstrap`'s default too
    assert default["bootstrap"]["seed"] == 0
    assert default == analysis.analyse("power", X, y, n_boot=1000, seed=0, holdout=0)


def test_the_saturating_fits_method_says_how_many_starts_it_takes() -> None:
    y = 2.0 + 40.0 * X**-0.3
    method = laws.fit_saturating(X, y).method
    starts = laws._saturating_starts(X, y).shape[0]
    assert starts == 20
    assert method.startswith("least squares on log L, log L_hat = LSE(log A - alpha log x, "
                             "log E); ")
    assert f"Levenberg-Marquardt from {starts} starts" in method
    assert method.endswith("95% CIs: profile likelihood (F); band and predictions: "
                           "fixed-design bootstrap")
