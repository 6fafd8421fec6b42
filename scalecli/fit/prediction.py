"""What a bigger model's val_loss will be: each 1-D form's 95% prediction interval along N,
and the one combined prediction that `fit` stands behind.

A prediction interval is for one new run, not for the curve: each form's bootstrap
predictions (its parameter uncertainty, `analysis.point_and_draws`) plus a draw of one
run's seed noise (the pooled seed sd, `seeds.pooled_sd`). The noise is drawn onto each
bootstrap prediction rather than added in quadrature to a half-width, because the
bootstrap predictions are skewed (the saturating form's upper tail is long) and the
combined prediction mixes the draws of several forms, which only samples can do.

The forms disagree past the ladder: the power law (ppl = a N^b, a straight line of
val_loss against log N) does not bend, the saturating one (L = E + A N^-alpha) bends
towards its floor, and on measured ladders each of them was the one that missed on some
corpus. So the combined prediction is the equal-weight mixture of the converged forms'
predictive draws: its median is y and its 2.5 and 97.5 percentiles the interval, wide
where the forms disagree and as narrow as one form where they agree
(`bench/prediction_coverage.py` measures its coverage). No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scalecli.finite import finite

LEVEL = 0.95
# The 1-D forms along N that the combined prediction mixes, in the order they are shown.
DEFAULT_FACTOR = 10.0  # without --predict or validation runs: 10x the largest size
# Measured by `python bench/prediction_coverage.py --reps 200` (200 synthetic five-size
# ladders per law, a run 6x past the largest): the combined interval held it 93.5%
# (saturating law), 86.5% (a law whose exponent drifts) and 92.0% (power law) of the time,
# median half-widths 2.9%, 2.6% and 2.2%; the mixture of every form 96.0%, 89.5%, 94.5% at
# 3.6%, 3.9%, 2.3%. So it is said with the interval, as the saturating band's caveat is.
METHOD = ("equal-weight mixture of the predictive draws (bootstrap parameter uncertainty "
          "plus one run's seed noise) of the converged forms that the ladder does not "
          "reject; y its median, the interval its 2.5-97.5 percentiles; on synthetic "
          "ladders it held a run 6x past the largest 86.5-93.5% of the time "
          "(bench/prediction_coverage.py)")
MIN_DRAWS = 10


@dataclass
class FormDraws:
    """One form's prediction of val_loss at the points `xs`: the point fit's y (m,) and
    its predictive draws (S, m): bootstrap predictions plus one run's seed noise."""

    form: str
    y: np.ndarray
    draws: np.ndarray

    def interval(self) -> tuple[np.ndarray, np.ndarray] | None:
        return percentiles(self.draws)


def percentiles(draws: np.ndarray, level: float = LEVEL
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """The central `level` interval per column, or None with too few draws."""
    if draws.shape[0] < MIN_DRAWS:
        return None
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(draws, [tail, 100.0 - tail], axis=0)
    return lo, hi


def with_noise(draws: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap predictions (S, m) of the curve -> draws of one new run: plus N(0, sd^2)."""
    if sd <= 0 or draws.size == 0:
        return draws
    return draws + rng.normal(0.0, sd, size=draws.shape)


def loss_form_draws(form, x: np.ndarray, loss: np.ndarray, xs: np.ndarray,
                    draws_of: Callable[..., tuple],
                    seed_sd: float, rng: np.random.Generator) -> FormDraws | None:
    """One ladder form (a `forms.LawForm`) fitted on the ladder (x, loss), predicted in
    val_loss at xs.

    `draws_of(form, x, y)` returns (point FitResult, bootstrap thetas) as
    `analysis.point_and_draws` does. A perplexity form (the power law) is fitted to
    exp(loss), as `fit` fits it (ppl = a N^b), and its predictions are taken back to
    val_loss by ln: ln ppl = ln a + b ln N is a straight line of the loss against ln N."""
    point, boots = draws_of(form, x, np.exp(loss) if form.perplexity else loss)
    if not point.converged:
        return None
    if form.perplexity:
        y = form.log_predict(point.theta, xs)[0]
        curves = form.log_predict(boots, xs)  # (0, k) thetas give (0, m) curves
    else:
        y = form.predict(point.theta, xs)
        curves = np.array([form.predict(t, xs) for t in boots]).reshape(-1, xs.size)
    curves = curves[np.all(np.isfinite(curves), axis=1)]
    return FormDraws(form.name, y, with_noise(curves, seed_sd, rng))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]
                       ) -> np.ndarray:
    """Quantiles of a weighted sample (the midpoint rule, as np.percentile's default for
    equal weights, up to ties)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return np.interp(qs, cum, v)


def mixture(forms: list[FormDraws], level: float = LEVEL
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(median, low, high) per point of the equal-weight mixture of the forms' draws:
    each form weighs 1 in all, whatever its number of draws (refits that fail are
    dropped, so the saturating form can have fewer)."""
    usable = [f for f in forms if f.draws.shape[0] >= MIN_DRAWS]
    if not usable:
        return None
    tail = (1.0 - level) / 2.0
    m = usable[0].draws.shape[1]
    out = np.empty((3, m))
    weights = np.concatenate([np.full(f.draws.shape[0], 1.0 / f.draws.shape[0])
                              for f in usable])
    for j in range(m):
        values = np.concatenate([f.draws[:, j] for f in usable])
        out[:, j] = weighted_quantiles(values, weights, [0.5, tail, 1.0 - tail])
    return out[0], out[1], out[2]


def disagree(forms: list[FormDraws], j: int) -> bool:
    """Whether two forms' intervals at point j do not overlap, or one's y lies outside the
    other's interval: then the combined interval is the forms' disagreement, not noise."""
    spans = []
    for f in forms:
        iv = f.interval()
        if iv is not None:
            spans.append((float(f.y[j]), float(iv[0][j]), float(iv[1][j])))
    return any(not (lo <= y2 <= hi) or not (lo2 <= y <= hi2)
               for i, (y, lo, hi) in enumerate(spans) for (y2, lo2, hi2) in spans[i + 1:])


def ten_x_ci(b_ci: tuple[float | None, float | None]) -> str:
    """' (95% CI 14.1-27.4%)': the change that 10x buys, 10^b - 1, at the ends of b's CI."""
    if None in b_ci:
        return ""
    ends = sorted(100.0 * (10.0 ** b - 1.0) for b in b_ci)
    if ends[0] * ends[1] > 0:  # one sign: as % lower (or higher), the smaller end first
        lo, hi = sorted(abs(e) for e in ends)
        return f" (95% CI {lo:.1f}-{hi:.1f}%)"
    return f" (95% CI {ends[0]:+.1f}% to {ends[1]:+.1f}%)"


def interval_json(y: float, lo: float | None, hi: float | None) -> dict:
    return {"y": finite(y), "low": finite(lo), "high": finite(hi)}


def points_json(xs: np.ndarray, labels: list[str | None], sources: list[str],
                forms: list[FormDraws], reason: str,
                combine: list[FormDraws] | None = None) -> list[dict]:
    """fit.json's prediction.points (see the module docstring). `combine` are the forms
    the combined prediction mixes (default: all of them; `trusted` leaves out a form that
    the ladder itself rejects)."""
    combine = forms if combine is None else combine
    combined = mixture(combine)
    names = [f.form for f in combine if f.draws.shape[0] >= MIN_DRAWS]
    out = []
    for j, x in enumerate(xs):
        per = {}
        for f in forms:
            iv = f.interval()
            per[f.form] = interval_json(f.y[j], *(None, None) if iv is None else
                                        (iv[0][j], iv[1][j]))
        point = {"x": finite(x), "label": labels[j], "source": sources[j], "forms": per,
                 "combined": None}
        if combined is not None:
            point["combined"] = {**interval_json(combined[0][j], combined[1][j],
                                                 combined[2][j]),
                                 "forms": names, "method": METHOD, "reason": reason,
                                 "disagree": disagree(combine, j)}
        out.append(point)
    return out


def trusted(forms: list[FormDraws], rejected: dict[str, str]) -> list[FormDraws]:
    """The forms the combined prediction mixes: every converged one, less those the ladder
    itself rejects (`rejected`: form -> why), unless that would leave none."""
    kept = [f for f in forms if f.form not in rejected]
    return kept or forms
