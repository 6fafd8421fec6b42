"""The report's building blocks: plain sections of plain blocks, and how a number is shown.

`document` builds the sections from a loaded report; `html_page`, `markdown_page` and
`terminal` render them. Blocks hold text only: escaping happens in each renderer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scalecli.report.data import clean


@dataclass
class Block:
    kind: str  # p | h3 | ul | kv | table | figure | samples
    text: str = ""
    rows: list = field(default_factory=list)
    headers: list = field(default_factory=list)
    figure: Any = None


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block]


def fmt(value: Any, how: str = "g") -> str:
    value = clean(value)
    if value is None or value == "":
        return "-"
    if how == "s" or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return str(v)
    if how == "i":
        return f"{round(v)}"
    if how == "n":  # counts: 25,344 or 1.05M
        return f"{round(v):,}" if abs(v) < 1e6 else f"{v / 1e6:,.3g}M"
    if how == "e":
        return f"{v:.3g}"
    if how == "pct":
        return f"{100 * v:.1f}%"
    if how.startswith("f"):
        return f"{v:.{int(how[1:])}f}"
    return f"{v:.4g}"
