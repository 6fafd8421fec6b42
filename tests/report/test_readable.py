"""The report reads well in a browser: tick labels never overlap, tables scroll in a box."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from scalecli.report import html_page
from scalecli.report.blocks import Block
from scalecli.report.style import FIG_H, Figure, plt, save


def labels(ax, axis: str):
    """The drawn, non-empty tick labels of one axis, with their boxes in pixels."""
    canvas = FigureCanvasAgg(ax.figure)  # save() closed the figure: draw it on a fresh canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    target = ax.yaxis if axis == "y" else ax.xaxis
    ticks = target.get_major_ticks() + target.get_minor_ticks()
    lo, hi = sorted(target.get_view_interval())
    out = []
    for tick in ticks:
        text = tick.label1
        if text.get_visible() and text.get_text() and lo <= tick.get_loc() <= hi:
            out.append((text.get_text(), text.get_window_extent(renderer)))
    return out


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize(("lo", "hi"), [(60, 110), (40, 70), (20, 300), (3.5, 4.4),
                                        (250, 9000), (2e5, 9e5)])
def test_log_axis_labels_never_overlap(tmp_path, axis: str, lo: float, hi: float) -> None:
    """Two panels side by side, as the loss-curve figure draws them: the narrow x axes are
    where matplotlib's own minor labels ran into each other (3x10^2 4x10^2 ...)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, FIG_H))
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.plot([lo, hi], [lo, hi])
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    save(fig, tmp_path, Figure(name="f", title="t", caption="c"))
    drawn = labels(axes[0], axis)
    assert len(drawn) >= 2, f"{lo}-{hi}: {len(drawn)} label(s); a scale needs two"
    for (a, box_a), (b, box_b) in itertools.combinations(drawn, 2):
        assert not box_a.overlaps(box_b), f"{lo}-{hi}: labels {a!r} and {b!r} overlap"


def test_tables_scroll_inside_their_own_box() -> None:
    block = Block(kind="table", headers=["run", "val_loss"], rows=[["s1", "4.26"]])
    html = html_page._html_block(block, report=None)
    assert html.startswith('<div class="table"><table>') and html.endswith("</table></div>")
    assert "div.table{overflow:auto" in html_page.CSS
