"""How the report's figures look: matplotlib (Agg) settings, axis labels, colours, and
the `Figure` record of a PNG written at a fixed size.

Sizes are fixed (no tight bounding box), so a PNG is always its figsize times DPI, and
the HTML can state its size.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from scalecli.finite import finite

DPI = 150
FIG_H = 4.2  # inches; 7 inches is a page's text width
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

LABELS = {
    "params_non_embedding": "non-embedding parameters N",
    "params": "parameters (incl. embeddings)",
    "tokens": "training tokens D",
    "flops": "training compute C (FLOPs)",
    "flops_6nd": "training compute 6ND (FLOPs)",
    "val_ppl": "validation perplexity",
    "val_loss": "validation loss (nats/token)",
    "val_bpb": "validation bits per byte",
    "train_loss": "training loss (nats/token)",
}


@dataclass
class Figure:
    name: str  # file stem, e.g. "scaling"
    title: str
    caption: str
    path: Path | None = None
    note: str | None = None  # why it was left out (path is None) or a caveat
    width: int = 0  # pixels
    height: int = 0


def label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


def human(value: float | None) -> str:
    """25300 -> '25.3K', for legends; '?' for a missing or non-finite value."""
    value = finite(value)
    if value is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def size_colours(values: list[float]) -> list:
    """One colour per size, dark (small) to light (large), on a log scale.

    Viridis is ordered, readable in grey and for colour-blind readers; its last 15% is a
    yellow that vanishes on white, so it is cut off.
    """
    cmap = plt.get_cmap("viridis")
    logs = np.log10(np.maximum(np.asarray(values, dtype=float), 1.0))
    if len(logs) == 1 or np.ptp(logs) == 0:
        return [cmap(0.35)] * len(logs)
    return [cmap(0.85 * (v - logs.min()) / np.ptp(logs)) for v in logs]


def save(fig, folder: Path, figure: Figure) -> Figure:
    path = folder / f"{figure.name}.png"
    for ax in fig.axes:  # every log axis of every figure: labels that never overlap
        for axis in ("x", "y"):
            if (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log":
                log_ticks(ax, axis)
    fig.savefig(path, dpi=DPI, facecolor="white")
    plt.close(fig)
    figure.path = path
    figure.width, figure.height = png_size(path)
    return figure


def log_ticks(ax, axis: str) -> None:
    """Plain-number labels on a log axis that spans few decades, so it never shows one tick,
    and never so many that they overlap.

    Matplotlib labels only powers of ten; perplexities from 60 to 110 would get no label,
    and below a decade its own minor labels ("3x10^2 4x10^2 ...") run into each other.
    """
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    target = ax.yaxis if axis == "y" else ax.xaxis
    if lo <= 0 or hi / lo > 1000:
        return
    if hi / lo < 1.6:
        subs = np.arange(1, 10, 0.2)
    elif hi / lo < 20:
        subs = (1.0, 1.5, 2, 3, 4, 5, 6, 7, 8)
    else:
        subs = (2, 5)
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: plain(v)))
    target.set_minor_locator(ticker.LogLocator(base=10, subs=subs, numticks=60))
    target.set_minor_formatter(Sparse(target, axis))
    ax.tick_params(axis=axis, which="minor", labelsize=8)


def plain(v: float) -> str:
    """A tick label a reader parses at a glance: 60, 3.5, 20K, 1M, 2.6T (SI prefixes, as
    parameter and FLOP counts are spoken)."""
    if 1e-3 <= abs(v) < 1e3:
        return f"{v:.3g}"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if scale <= abs(v) < 1000 * scale:
            return f"{v / scale:.3g}{prefix}"
    return f"{v:.2g}"


# Inches a tick label needs along its axis: x labels are wide, y labels one line high.
ROOM = {"x": 0.55, "y": 0.22}


class Sparse(ticker.Formatter):
    """Labels on the minor ticks of a log axis, thinned so that none comes within a label's
    size of another or of a power of ten: a dense tick grid keeps its gridlines, and only as
    many labels as the axis has room for are written (a 60-110 perplexity axis has a tick
    every 2)."""

    def __init__(self, target, axis: str) -> None:
        self.target, self.which = target, axis  # not self.axis: matplotlib sets that

    def format_ticks(self, values) -> list[str]:
        lo, hi = sorted(self.target.get_view_interval())
        if lo <= 0:
            return [plain(v) for v in values]
        box = self.target.axes.get_window_extent()
        length = (box.width if self.which == "x" else box.height) / self.target.figure.dpi
        gap = math.log10(hi / lo) * ROOM[self.which] / max(length, 1e-9)  # decades
        taken = [math.log10(v) for v in self.target.get_majorticklocs() if lo <= v <= hi]
        out = []
        for v in values:
            at = math.log10(v) if v > 0 else -math.inf
            if lo <= v <= hi and all(abs(at - t) >= gap for t in taken):
                taken.append(at)
                out.append(plain(v))
            else:
                out.append("")
        return out

    def __call__(self, x, pos=None) -> str:
        return self.format_ticks([x])[0]
