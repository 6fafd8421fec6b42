"""The report as one self-contained HTML file: figures embedded, no network.

Every string that comes from the user or the corpus is escaped with html.escape.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from scalecli.report.blocks import Block, fmt
from scalecli.report.data import ReportData
from scalecli.report.document import document, title

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
div.table{overflow:auto;max-height:32em;margin:.6em 0}
table{border-collapse:collapse;font-size:.9em}
thead th{position:sticky;top:0}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:.15em 1.2em}
dl.kv dt{font-weight:600}dl.kv dd{margin:0;font-family:ui-monospace,Menlo,monospace}
figure{margin:1.2em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
.prompt{background:#f6f6f6;padding:.6em;border-left:3px solid #888;white-space:pre-wrap}
.samples{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:.8em}
.sample{border:1px solid #ddd;border-radius:6px;padding:.6em;font-size:.92em}
.sample h4{margin:0 0 .3em 0}.sample .meta{color:#666;font-size:.85em}
.sample pre{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,monospace}
.err{color:#a00}
"""


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_block(block: Block, report: ReportData) -> str:
    if block.kind == "p":
        return f"<p>{e(block.text)}</p>"
    if block.kind == "h3":
        return f"<h3>{e(block.text)}</h3>"
    if block.kind == "ul":
        return "<ul>" + "".join(f"<li>{e(r)}</li>" for r in block.rows) + "</ul>"
    if block.kind == "kv":
        return '<dl class="kv">' + "".join(
            f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in block.rows) + "</dl>"
    if block.kind == "table":
        head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                       for r in block.rows)
        # Its own box: a wide runs table scrolls inside it instead of widening the page.
        return (f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}'
                "</tbody></table></div>")
    if block.kind == "figure":
        f = block.figure
        data = base64.b64encode(f.path.read_bytes()).decode("ascii")
        return (f'<figure id="fig-{e(f.name)}"><img src="data:image/png;base64,{data}" '
                f'width="{f.width}" height="{f.height}" alt="{e(f.title)}">'
                f"<figcaption><b>{e(f.title)}.</b> {e(f.caption)}</figcaption></figure>")
    if block.kind == "samples":
        parts = [f'<p>Prompt:</p><div class="prompt">{e(report.prompt)}</div>',
                 '<div class="samples">']
        for s in report.samples:
            meta = (f"N = {fmt(s.params_non_embedding, 'n')}, D = {fmt(s.tokens, 'n')}, "
                    f"val loss {fmt(s.val_loss, 'f3')}" + (", windowed" if s.windowed else ""))
            body = (f"<pre>{e(s.text)}</pre>" if s.text is not None
                    else f'<p class="err">could not sample: {e(s.error)}</p>')
            parts.append(f'<div class="sample" data-model="{e(s.model)}"><h4>{e(s.model)}</h4>'
                         f'<div class="meta">{e(meta)}</div>{body}</div>')
        parts.append("</div>")
        return "".join(parts)
    raise ValueError(block.kind)


def to_html(report: ReportData) -> str:
    sections = document(report)
    nav = " | ".join(f'<a href="#{s.id}">{e(s.title)}</a>' for s in sections)
    body = [f"<h1>{e(title(report))}</h1><nav>{nav}</nav>"]
    for s in sections:
        body.append(f'<section id="{s.id}"><h2>{e(s.title)}</h2>'
                    + "\n".join(_html_block(b, report) for b in s.blocks) + "</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title(report))}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
