"""The report as Markdown beside its PNGs, ready for a README or a pull request.

Every string that comes from the user or the corpus is escaped: HTML specials, table
pipes and newlines.
"""

from __future__ import annotations

import html
import re
from typing import Any

from scalecli.report.blocks import Block, fmt
from scalecli.report.data import ReportData
from scalecli.report.document import document, title


def m(text: Any) -> str:
    """Escape for a Markdown table cell or line: HTML specials, pipes, newlines."""
    text = html.escape(str(text), quote=False).replace("|", "\\|")
    return re.sub(r"(\r?\n)+", " ⏎ ", text)


def _md_table(headers: list, rows: list) -> str:
    lines = ["| " + " | ".join(m(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(m(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _md_block(block: Block, report: ReportData) -> str:
    if block.kind == "p":
        return m(block.text)
    if block.kind == "h3":
        return f"### {m(block.text)}"
    if block.kind == "ul":
        return "\n".join(f"- {m(r)}" for r in block.rows)
    if block.kind == "kv":
        return _md_table(["", ""], [[f"**{k}**", v] for k, v in block.rows])
    if block.kind == "table":
        return _md_table(block.headers, block.rows)
    if block.kind == "figure":
        f = block.figure
        return f"![{m(f.title)}]({f.path.name})\n\n*{m(f.title)}.* {m(f.caption)}"
    if block.kind == "samples":
        prompt = "\n".join("> " + html.escape(line, quote=False)
                           for line in (report.prompt or "").splitlines() or [""])
        rows = []
        for s in report.samples:
            text = s.text if s.text is not None else f"(could not sample: {s.error})"
            rows.append([s.model, fmt(s.params_non_embedding, "n"), fmt(s.val_loss, "f3"),
                         text + (" (windowed)" if s.windowed else "")])
        return "Prompt:\n\n" + prompt + "\n\n" + _md_table(
            ["size", "N", "val loss", "continuation"], rows)
    raise ValueError(block.kind)


def to_markdown(report: ReportData) -> str:
    parts = [f"# {m(title(report))}"]
    for s in document(report):
        parts.append(f"## {m(s.title)}")
        parts.extend(_md_block(b, report) for b in s.blocks)
    return "\n\n".join(parts) + "\n"
