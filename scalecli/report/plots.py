"""The report's figures: matplotlib (Agg), PNG, sized to read at paper size.

Every figure function takes the loaded report and returns a `Figure`: the PNG it wrote,
or no path and a note that says why the data cannot support it. A figure is never drawn
empty. How they look (sizes, labels, colours) is `style`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display is needed or wanted
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

from scalecli.fit.forms import registry
from scalecli.fit.schema import LawFit
from scalecli.report.data import VALIDATION, fit_rows, one_run_per_size, predict
from scalecli.report.optimum_plot import optimum_figure
from scalecli.report.scaling_plot import scaling_figure
from scalecli.report.style import (
    FIG_H,
    STYLE,
    Figure,
    human,
    label,
    save,
    size_colours,
)


def draw_all(report, folder: Path) -> list[Figure]:
    with plt.rc_context(STYLE):
        return [
            scaling_figure(report, folder),
            curves_figure(report, folder, "tokens"),
            curves_figure(report, folder, "flops"),
            residuals_figure(report, folder),
            isoflop_figure(report, folder),
            optimum_figure(report, folder),
        ]


# (b), (c) ------------------------------------------------------------------------------
def curves_figure(report, folder: Path, axis: str) -> Figure:
    what = "tokens" if axis == "tokens" else "FLOPs"
    figure = Figure(f"curves_{axis}", f"Loss curves against training {what}",
                    f"Training (left) and validation (right) loss against {what}, one line per "
                    "size (the largest budget and first seed of each), coloured by size."
                    + (" The wide grey line is the compute frontier: the lowest validation "
                       "loss reached by any size for at most that compute." if axis == "flops"
                       else ""))
    runs = one_run_per_size(report.ok)
    runs = runs[runs["run_id"].astype(str).isin(report.curves)]
    if runs.empty:
        figure.note = (f"No loss curves against {what}: no finished run has a curve.csv "
                       "(they live in runs/RUN_ID/ next to results.csv).")
        return figure
    lines = []
    for _, row in runs.iterrows():
        curve = report.curves[str(row["run_id"])].copy()
        if axis == "flops" and ("flops" not in curve.columns or curve["flops"].isna().all()):
            fpt = row.get("flops_per_token")
            if fpt is None or not np.isfinite(fpt):
                continue
            curve["flops"] = curve["tokens"] * fpt
        curve = curve[curve[axis] > 0]
        if not curve.empty:
            lines.append((row, curve))
    if not lines:
        figure.note = f"No loss curves against {what}: the curves have no {axis} values."
        return figure

    colours = size_colours([row["params_non_embedding"] for row, _ in lines])
    fig, axes = plt.subplots(1, 2, figsize=(9, FIG_H), sharex=True, sharey=True,
                             layout="constrained")
    tops, bottoms = [], []
    frontier = []
    for (row, curve), colour in zip(lines, colours, strict=True):
        name = f"{row['model']} ({human(row['params_non_embedding'])})" + (
            ", validation" if row.get("role") == VALIDATION else "")
        train = curve.dropna(subset=["train_loss"])
        axes[0].plot(train[axis], train["train_loss"], color=colour, lw=1.3, label=name)
        if "val_loss" in curve.columns:
            val = curve.dropna(subset=["val_loss"])
            axes[1].plot(val[axis], val["val_loss"], color=colour, lw=1.5, marker="o", ms=3)
            frontier.extend(zip(val[axis], val["val_loss"], strict=True))
            both = val["val_loss"]
        else:
            both = train["train_loss"]
        # Keep the first few percent (loss near ln V) from squashing the part that matters.
        late = pd.concat([train.loc[train[axis] >= 0.1 * curve[axis].max(), "train_loss"], both])
        tops.append(late.quantile(0.98) if len(late) else train["train_loss"].max())
        bottoms.append(pd.concat([train["train_loss"], both]).min())
    if axis == "flops" and frontier:
        frontier.sort()
        fx = np.array([f[0] for f in frontier])
        fy = np.minimum.accumulate(np.array([f[1] for f in frontier]))
        axes[1].plot(fx, fy, color="0.5", lw=6, alpha=0.35, zorder=1, solid_capstyle="round",
                     label="compute frontier")
        axes[1].legend(loc="upper right")
    if not frontier:
        axes[1].text(0.5, 0.5, "no validation points in curve.csv", ha="center",
                     transform=axes[1].transAxes)
    xlabel = "training tokens D" if axis == "tokens" else "training compute C (FLOPs)"
    for ax, title in zip(axes, ("training loss", "validation loss"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
    axes[0].set_ylabel("loss (nats/token)")
    top, bottom = max(tops), min(bottoms)
    pad = 0.04 * (top - bottom)
    axes[0].set_ylim(bottom - pad, top + pad)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", title="size (N)", frameon=False)
    return save(fig, folder, figure)


# (d) -----------------------------------------------------------------------------------
def residuals_figure(report, folder: Path) -> Figure:
    figure = Figure("residuals", "Residuals of the fits in log space",
                    "ln(observed) - ln(fitted) for each run the fit used. Points should scatter "
                    "around zero; a trend means the form does not fit the data.")
    fits = report.fit.fits if report.fit else {}
    rows = fit_rows(report.rows, report.fit)
    series = []
    for form in registry.law_forms():
        fit = fits.get(form.name)
        if not isinstance(fit, LawFit) or not fit.params:
            continue
        x_col, y_col, d_col = fit.x, fit.y, fit.d
        need = [c for c in (x_col, y_col, d_col if form.reads_d else None) if c]
        if not all(c in rows.columns for c in need) or len(need) < 2:
            continue
        data = rows[need].dropna()
        data = data[(data > 0).all(axis=1)]
        try:
            fitted = form.draw(fit, data[x_col], data[d_col] if form.reads_d else None)
        except (KeyError, TypeError, ValueError):
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            resid = np.log(data[y_col].to_numpy()) - np.log(np.asarray(fitted))
        good = np.isfinite(resid)
        if good.any():
            series.append((form, y_col, data[x_col].to_numpy()[good], resid[good]))
    if not series:
        figure.note = ("No residual plot: fit.json has no fitted law to compare with the runs."
                       if not fits else "No residual plot: no run matches the fit's columns.")
        return figure
    fig, ax = plt.subplots(figsize=(7, FIG_H * 0.85), layout="constrained")
    for i, (form, y_col, x, r) in enumerate(series):
        # Nudge each form sideways (2% in x) so equal residuals do not hide each other.
        x = x * 10 ** (0.01 * (i - (len(series) - 1) / 2))
        ax.scatter(x, r, marker=form.marker, s=40, color=f"C{i}", edgecolors="black",
                   linewidths=0.5, label=f"{form.name} ({y_col})", zorder=3)
    ax.axhline(0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(label(fits[series[0][0].name].x or "x"))
    ax.set_ylabel("ln(observed / fitted)")
    lim = max(abs(r).max() for *_, r in series) * 1.3 or 0.01
    ax.set_ylim(-lim, lim)
    ax.set_title(figure.title)
    ax.legend(loc="best")
    return save(fig, folder, figure)


# (e) -----------------------------------------------------------------------------------
def compute_of(rows: pd.DataFrame) -> pd.Series:
    """Training FLOPs per run: the flops column, else 6 N D."""
    if "flops" in rows.columns and rows["flops"].notna().all():
        return rows["flops"]
    if "flops_6nd" in rows.columns and rows["flops_6nd"].notna().all():
        return rows["flops_6nd"]
    return 6 * rows["params_non_embedding"] * rows["tokens"]


def isoflop_figure(report, folder: Path) -> Figure:
    figure = Figure("isoflop", "Loss against compute, several token budgets per size",
                    "Left: validation loss against training FLOPs, one line per size across its "
                    "token budgets. Middle (when runs share a compute level): iso-FLOP curves, "
                    "loss against N at fixed compute. Right (with a chinchilla fit): the fitted "
                    "loss over compute and N, with the compute-optimal N_opt(C).")
    rows = report.ladder.dropna(subset=["val_loss", "params_non_embedding"])
    if "tokens" not in rows.columns or rows.empty:
        figure.note = "No iso-FLOP plot: results.csv has no tokens column."
        return figure
    budgets = rows.groupby("model")["tokens"].nunique()
    if (budgets < 2).all():
        figure.note = ("No iso-FLOP plot: each size was trained on one token budget; give "
                       "`budget: tokens:` a list to sweep several.")
        return figure
    rows = rows.assign(C=compute_of(rows)).dropna(subset=["C"])
    # Iso-FLOP groups: runs within a quarter decade of compute, with 3+ distinct sizes.
    rows = rows.assign(Cbin=np.round(np.log10(rows["C"]) * 4) / 4)
    groups = [g for _, g in rows.groupby("Cbin") if g["params_non_embedding"].nunique() >= 3]
    # a law in N and D (the chinchilla form): its loss over compute and N
    chin = next((report.fit.law(f.name) for f in registry.law_forms()
                 if f.reads_d and report.fit.law(f.name)), None) if report.fit else None
    chin = chin if chin and chin.params else None
    panels = 1 + bool(groups) + bool(chin)
    fig, axes = plt.subplots(1, panels, figsize=(max(8.0, 4.2 * panels + 2.0), FIG_H),
                             layout="constrained", squeeze=False)
    axes = list(axes[0])
    sizes = rows.groupby("model")["params_non_embedding"].first().sort_values()
    for (model, n), colour in zip(sizes.items(), size_colours(list(sizes)), strict=True):
        g = rows[rows["model"] == model].sort_values("C")
        axes[0].plot(g["C"], g["val_loss"], marker="o", color=colour, lw=1.4, ms=4,
                     label=f"{model} ({human(n)})")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("training compute C (FLOPs)")
    axes[0].set_ylabel("validation loss (nats/token)")
    axes[0].set_title("loss against compute")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper",
               title="size (N)", frameon=False)
    k = 1
    if groups:
        ax = axes[k]
        k += 1
        cmap = plt.get_cmap("plasma")
        for i, g in enumerate(groups):
            g = g.sort_values("params_non_embedding")
            colour = cmap(0.85 * i / max(1, len(groups) - 1))
            ax.plot(g["params_non_embedding"], g["val_loss"], marker="o", color=colour,
                    label=f"C ~ {g['C'].median():.2g}")
            best = g.loc[g["val_loss"].idxmin()]
            ax.scatter([best["params_non_embedding"]], [best["val_loss"]], marker="*", s=120,
                       color=colour, edgecolors="black", zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel(label("params_non_embedding"))
        ax.set_title("iso-FLOP curves (star = best N)")
        ax.legend(loc="upper right", title="FLOPs")
    if chin:
        ax = axes[k]
        figure.note = _chinchilla_contours(ax, fig, chin, rows)
    else:
        figure.note = "No chinchilla contours: fit.json has no chinchilla fit " \
                      "(run `scalecli fit --form all`)."
    return save(fig, folder, figure)


def _chinchilla_contours(ax, fig, chin: LawFit, rows: pd.DataFrame) -> str | None:
    """The fitted loss over (6ND, N) with the runs on it. N and D are the columns the law was
    fitted on (fit.json's `x` and `d`, normally `params`, every parameter): drawn at another
    count of N, the runs would sit off the surface that was fitted to them (up to 5x on
    small models, where the embeddings are most of the parameters)."""
    n_col, d_col = chin.x or "params", chin.d or "tokens"
    if any(col not in rows.columns for col in (n_col, d_col)):
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no {n_col} or {d_col} column:\nno contours", ha="center",
                transform=ax.transAxes)
        return (f"No chinchilla contours: the law was fitted on {n_col} and {d_col}, and "
                "results.csv lacks one of them.")
    rows = rows.dropna(subset=[n_col, d_col])
    n = rows[n_col].to_numpy(dtype=float)
    d = rows[d_col].to_numpy(dtype=float)
    c = 6 * n * d
    cs = np.geomspace(c.min() / 3, c.max() * 30, 120)
    ns = np.geomspace(n.min() / 3, n.max() * 10, 120)
    cc, nn = np.meshgrid(cs, ns)
    with np.errstate(all="ignore"):
        loss = predict(chin, nn, cc / (6 * nn))
    finite = loss[np.isfinite(loss)]
    if finite.size:
        # Round levels over the lower 90% of the surface; the far corner (tiny D) is "more".
        levels = ticker.MaxNLocator(12).tick_values(finite.min(), np.quantile(finite, 0.9))
    else:
        levels = 10
    cf = ax.contourf(cc, nn, loss, levels=levels, cmap="viridis_r", alpha=0.85, extend="max")
    fig.colorbar(cf, ax=ax, label="fitted loss (nats/token)")
    ax.scatter(c, n, color="white", edgecolors="black", s=30, zorder=4, label="runs")
    g = chin.derived.G
    a_opt = chin.derived.a_opt.value if chin.derived.a_opt else None
    if g and a_opt:
        ax.plot(cs, g * (cs / 6) ** a_opt, color="C3", lw=2, label="N_opt(C)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(cs[0], cs[-1])
    ax.set_ylim(ns[0], ns[-1])
    ax.set_xlabel("training compute 6ND (FLOPs)")
    ax.set_ylabel(f"N = {label(n_col)}")
    ax.set_title("chinchilla fit: loss contours")
    ax.legend(loc="upper left")
    return None
