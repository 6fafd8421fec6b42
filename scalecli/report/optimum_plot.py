"""The isoFLOP figure of `fit --form isoflop | compute`: each budget's points with its
windowed parabola and minimum, and N_opt(C) with its fitted line and the a = 0.5 reference.

Drawn from fit.json alone (`fits.isoflop.budgets` holds each budget's points and vertex),
so the figure shows exactly what the fit used, rejected budgets included.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from scalecli.fit.forms import registry
from scalecli.report.style import FIG_H, Figure, label, save


def optimum_figure(report, folder: Path) -> Figure:
    figure = Figure("isoflop_fit", "IsoFLOP profiles and the compute-optimal size",
                    "Left: final loss against N at each FLOP budget, the parabola fitted near "
                    "its lowest point (solid) and its minimum (star); a rejected budget is "
                    "drawn hollow with its reason. Right: N_opt of the accepted budgets "
                    "against C, the fitted N_opt ~ C^a and, dotted, a = 0.5 (Chinchilla).")
    # the approach with isoFLOP budgets, the one that reads N_opt most directly
    fit = report.fit.approach(registry.by_directness()[0].name) if report.fit else None
    if not fit or not fit.budgets:
        return figure  # no isoflop fit: nothing to say (the iso-FLOP figure covers the runs)
    budgets = fit.budgets
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, FIG_H), layout="constrained")
    cmap = plt.get_cmap("plasma")
    for i, b in enumerate(budgets):
        colour = cmap(0.85 * i / max(1, len(budgets) - 1))
        n, loss = np.array(b.n, dtype=float), np.array(b.loss, dtype=float)
        text = f"C = {b.flops:.2g}" + ("" if b.accepted else f" ({b.reason})")
        left.plot(n, loss, "o", color=colour, mfc=colour if b.accepted else "none",
                  label=text)
        if b.accepted:
            # loss = loss_opt + curvature / 2 * (ln N - ln N_opt)^2, over the sampled sizes
            grid = np.geomspace(n.min(), n.max(), 80)
            curve = b.loss_opt + 0.5 * b.curvature * np.log(grid / b.n_opt) ** 2
            shown = curve <= loss.max()  # the parabola where the points are
            left.plot(grid[shown], curve[shown], color=colour, lw=1.4)
            left.scatter([b.n_opt], [b.loss_opt], marker="*", s=140, color=colour,
                         edgecolors="black", zorder=4)
    left.set_xscale("log")
    left.set_xlabel(label(fit.x or "params"))
    left.set_ylabel("validation loss (nats/token)")
    left.set_title("isoFLOP profiles")
    left.legend(loc="upper right", fontsize="small")
    ok = [b for b in budgets if b.accepted]
    c = np.array([b.flops for b in ok], dtype=float)
    n_opt = np.array([b.n_opt for b in ok], dtype=float)
    right.scatter(c, n_opt, color="black", zorder=4, label="budget minima")
    a = fit.params.get("a_opt")
    k_n = fit.derived.k_n
    if fit.converged and a is not None and a.value is not None and k_n is not None:
        grid = np.geomspace(c.min() / 2, c.max() * 2, 50)
        ci = (f" [{a.ci_low:.3f}, {a.ci_high:.3f}]"
              if a.ci_low is not None and a.ci_high is not None else "")
        right.plot(grid, k_n * grid ** a.value, color="C3", lw=2,
                   label=f"fit: a = {a.value:.3f}{ci}")
        mid = np.exp(np.mean(np.log(c)))  # the reference line passes through the middle
        right.plot(grid, k_n * mid ** a.value * (grid / mid) ** 0.5, ":", color="grey",
                   label="a = 0.5")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel(f"training compute C ({fit.c or 'flops'})")
    right.set_ylabel("N_opt")
    right.set_title("compute-optimal size")
    right.legend(loc="upper left")
    fig.suptitle(figure.title)
    return save(fig, folder, figure)
