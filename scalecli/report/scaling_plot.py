"""Figure (a), the scaling plot: the ladder's runs, the fitted law with its bootstrap band
and its extrapolation, the held-out check, seed bars, and the validation runs drawn apart
(never as ladder points) with each form's 95% prediction interval beside them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from scalecli.fit.forms import registry
from scalecli.fit.schema import LawFit
from scalecli.report.data import predict, seed_bars
from scalecli.report.prediction import Check, validation_checks
from scalecli.report.style import FIG_H, Figure, label, log_ticks, save, size_colours


# (a) -----------------------------------------------------------------------------------
def scaling_figure(report, folder: Path) -> Figure:
    fit = report.primary_fit()
    x_col = (fit.x if fit else None) or "params_non_embedding"
    y_col = (fit.y if fit else None) or "val_ppl"
    figure = Figure("scaling", f"{label(y_col).capitalize()} against {label(x_col)}",
                    "Each point is a finished run; the line is the fitted law, the shaded band "
                    "its 95% bootstrap interval, dashed one decade beyond the largest model.")
    rows = report.ladder  # validation runs are drawn apart, below, never as ladder points
    if x_col not in rows.columns or y_col not in rows.columns:
        figure.note = f"No scaling plot: results.csv has no {x_col!r} or {y_col!r} column."
        return figure
    pts = rows[[x_col, y_col, "model"]].dropna()
    pts = pts[(pts[x_col] > 0) & (pts[y_col] > 0)]
    if pts.empty:
        figure.note = "No scaling plot: no finished run has a positive x and y."
        return figure

    fig, ax = plt.subplots(figsize=(8.5, FIG_H), layout="constrained")
    ax.set_xscale("log")
    ax.set_yscale("log")
    xmax = pts[x_col].max()
    if fit is not None:
        band = fit.band
        try:
            bx = np.asarray(band.x if band else [], dtype=float)
            by = np.asarray(band.y if band else [], dtype=float)
        except (TypeError, ValueError):
            bx = by = np.asarray([])
        if bx.size < 2 or by.size != bx.size:
            bx = np.geomspace(pts[x_col].min(), 10 * xmax, 100)
            by = predict(fit, bx)
            figure.note = "fit.json has no bootstrap band, so none is shaded."
        low, high = (band.low, band.high) if band else (None, None)
        if low and high and len(low) == bx.size and len(high) == bx.size:
            lo = np.asarray([np.nan if v is None else v for v in low], dtype=float)
            hi = np.asarray([np.nan if v is None else v for v in high], dtype=float)
            ax.fill_between(bx, lo, hi, color="C0", alpha=0.18, linewidth=0,
                            label="95% bootstrap band")
        inside = bx <= xmax * (1 + 1e-9)
        ax.plot(bx[inside], by[inside], color="C0", lw=2, label=fit_label(fit))
        beyond = bx >= xmax * (1 - 1e-9)
        if beyond.sum() >= 2:
            ax.plot(bx[beyond], by[beyond], color="C0", lw=2, ls="--",
                    label="extrapolation (to 10x the largest)")
        ext = fit.extrapolation
        ex, ep = (ext.x, ext.predicted) if ext else ([], [])
        pairs = [(a, b) for a, b in zip(ex, ep, strict=False) if a and b]
        if pairs:
            ax.scatter(*zip(*pairs, strict=True), marker="D", s=50, facecolors="none",
                       edgecolors="C3", linewidths=1.5, zorder=4,
                       label="held-out check: predicted without it")
    colours = size_colours(list(pts[x_col]))
    bars = seed_bars(report.fit, y_col)
    # With seeds the bars carry the fitted means; the runs stay, lighter, behind them.
    ax.scatter(pts[x_col], pts[y_col], c=colours, s=30 if bars else 42, edgecolors="black",
               linewidths=0.6, alpha=0.55 if bars else 1.0, zorder=5,
               label="runs (colour = size)")
    if bars:
        seeds = sorted({b.n_seeds for b in bars})
        n_text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        ax.errorbar([b.x for b in bars], [b.y for b in bars],
                    yerr=[[b.y - b.low for b in bars], [b.high - b.y for b in bars]],
                    fmt="_", ms=14, mew=2, color="black", ecolor="black", elinewidth=1.5,
                    capsize=4, zorder=6, label=f"mean of {n_text} seeds ± 1 seed sd")
        figure.caption += (" Where a size has two or more seeds, the black bar marks the mean "
                           "over its seeds (the point the law is fitted to), plus and minus one "
                           "seed-to-seed standard deviation of val_loss (the spread of one run, "
                           "not the standard error of the mean).")
    checks, why_not = validation_checks(report.fit, x_col, y_col, report.rows)
    if checks:
        draw_checks(ax, checks)
        figure.caption += (" Stars are validation runs, trained past the ladder and never "
                           "fitted; beside each, every form's 95% prediction interval for one "
                           "new run at that size, made from the ladder alone.")
    if why_not:
        figure.note = why_not
    ax.set_xlabel(label(x_col))
    ax.set_ylabel(label(y_col))
    ax.set_title(figure.title)
    log_ticks(ax, "y")
    # Outside the axes: a band and a dashed extrapolation leave no corner reliably empty.
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False)
    if fit is None:
        figure.note = "No fit in fit.json, so only the points are drawn."
    return save(fig, folder, figure)


COMBINED_COLOUR = "black"  # the combined prediction, beside each form's own colour


def form_colour(name: str, fallback: str) -> str:
    """A form's colour in every figure (`Form.colour`), black for the combined one."""
    form = registry.find(name)
    return form.colour if form else COMBINED_COLOUR if name == "combined" else fallback


def draw_checks(ax, checks: list[Check]) -> None:
    """Each validation run as a star at its own N, and to its right (7% apart in x, so
    neither the star nor another form hides one) each form's prediction interval as an
    error bar: one legend entry per form."""
    forms = list(dict.fromkeys(i.form for c in checks for i in c.intervals))
    for k, form in enumerate(forms):
        shift = 10 ** (0.03 * (k + 1))
        pts = [(c.x * shift, i) for c in checks for i in c.intervals if i.form == form]
        ax.errorbar([x for x, _ in pts], [i.predicted for _, i in pts],
                    yerr=[[i.predicted - i.low for _, i in pts],
                          [i.high - i.predicted for _, i in pts]],
                    fmt="o", ms=4, mfc="white", color=form_colour(form, f"C{k + 4}"),
                    elinewidth=1.6, capsize=3, zorder=6,
                    label=f"{form}: 95% prediction interval")
    ax.scatter([c.x for c in checks], [c.observed for c in checks], marker="*", s=200,
               color="gold", edgecolors="black", linewidths=0.8, zorder=7,
               label="validation run (not fitted)")


def fit_label(fit: LawFit) -> str:
    form = registry.find(fit.form)
    return form.label(fit) if form else f"fit ({fit.form})"
