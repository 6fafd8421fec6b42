"""The report's text: one document model, rendered to HTML, Markdown and the terminal.

`document()` turns a loaded report into sections of plain blocks (paragraphs, key/value
lists, tables, figures, samples). `to_html` and `to_markdown` walk the same sections, so
the two files always carry the same content. Every string that comes from the user or
the corpus is escaped on the way out (html.escape; Markdown also escapes table pipes).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from scalecli.fit_run import interval_text
from scalecli.report import ReportData, clean
from scalecli.samples import REPETITION_PENALTY, SEED, TEMPERATURE, TOP_K

RUN_COLUMNS = (  # (column, header, format)
    ("model", "model", "s"),
    ("n_layer", "layers", "i"),
    ("n_embd", "width", "i"),
    ("n_head", "heads", "i"),
    ("params_non_embedding", "N (non-emb.)", "n"),
    ("params", "params", "n"),
    ("tokens", "tokens D", "n"),
    ("flops", "FLOPs", "e"),
    ("lr", "lr", "g"),
    ("seed", "seed", "i"),
    ("steps", "steps", "i"),
    ("train_loss", "train loss", "f4"),
    ("val_loss", "val loss", "f4"),
    ("val_ppl", "val ppl", "f2"),
    ("val_bpb", "val bpb", "f4"),
    ("tokens_per_s", "tokens/s", "n"),
    ("mfu", "MFU", "pct"),
    ("wall_s", "wall s", "f1"),
    ("status", "status", "s"),
)


@dataclass
class Block:
    kind: str  # p | kv | table | pre | figure | samples
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


# The document ---------------------------------------------------------------------------
def document(report: ReportData) -> list[Section]:
    return [
        provenance_section(report),
        settings_section(report),
        runs_section(report),
        fit_section(report),
        figures_section(report),
        samples_section(report),
        notes_section(report),
    ]


def title(report: ReportData) -> str:
    name = (report.sweep or {}).get("name") or report.out_dir.name
    return f"scalecli report: {name}"


def provenance_section(report: ReportData) -> Section:
    data = report.data or {}
    rows = report.rows
    versions = sorted({str(v) for v in rows.get("scalecli_version", []) if str(v)})
    pairs = [
        ("scalecli version", report.version
         + (f" (runs made by {', '.join(versions)})" if versions and versions != [report.version]
            else "")),
        ("data fingerprint", report.fingerprint),
        ("command", report.command),
        ("generated", report.created),
        ("output folder", str(report.out_dir)),
        ("runs", f"{len(rows)} in results.csv, {len(report.ok)} finished ok"),
    ]
    for key in ("dataset", "tokenizer", "vocab_size", "train_tokens", "val_tokens"):
        if key in data:
            pairs.append((key.replace("_", " "), fmt(data[key], "n" if "tokens" in key else "g")))
    return Section("provenance", "Provenance", [Block("kv", rows=pairs)])


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = []
        for key, sub in value.items():
            out.extend(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return [(prefix, text)]


def settings_section(report: ReportData) -> Section:
    sweep = report.sweep
    if not sweep:
        return Section("settings", "Sweep settings",
                       [Block("p", "No sweep.yaml in the output folder, so the settings are "
                                   "not shown.")])
    blocks = []
    models = sweep.get("models")
    rest = {k: v for k, v in sweep.items() if k != "models"}
    blocks.append(Block("kv", rows=_flatten(rest)))
    if isinstance(models, list) and all(isinstance(m, dict) for m in models):
        keys = list(dict.fromkeys(k for m in models for k in m))
        blocks.append(Block("table", headers=keys,
                            rows=[[fmt(m.get(k)) for k in keys] for m in models]))
    elif models is not None:
        blocks.append(Block("kv", rows=[("models", json.dumps(models))]))
    return Section("settings", "Sweep settings", blocks)


TERMINAL_COLUMNS = ("model", "params_non_embedding", "tokens", "lr", "seed", "val_loss",
                    "val_ppl", "val_bpb", "wall_s", "status")


def runs_section(report: ReportData, only: tuple[str, ...] | None = None) -> Section:
    rows = report.rows.sort_values(
        [c for c in ("params_non_embedding", "tokens", "seed") if c in report.rows.columns])
    cols = [c for c in RUN_COLUMNS if c[0] in rows.columns and rows[c[0]].notna().any()
            and (only is None or c[0] in only)]
    table = [[fmt(r[c], how) for c, _, how in cols] for _, r in rows.iterrows()]
    blocks = [Block("table", headers=[h for _, h, _ in cols], rows=table)]
    bad = rows[rows["status"] != "ok"]
    if len(bad) and "error" in rows.columns:
        blocks.append(Block("p", "Runs that did not finish: " + "; ".join(
            f"{r['model']} ({r['status']}: {r['error'] or 'no message'})"
            for _, r in bad.iterrows())))
    return Section("runs", "Runs", blocks)


def _params_table(fit: dict) -> Block:
    rows = []
    for name, p in (fit.get("params") or {}).items():
        p = p or {}
        ci = interval_text(p.get("ci_low"), p.get("ci_high"), fmt)
        rows.append([name, fmt(p.get("value")), fmt(p.get("se")), ci])
    return Block("table", headers=["parameter", "value", "std. error", "95% CI"], rows=rows)


FORMULAS = {
    "power": "{y} = a * {x}^b",
    "saturating": "{y} = E + A * {x}^(-alpha)",
    "chinchilla": "{y} = E + A / N^alpha + B / D^beta   (N = {x}, D = {d})",
}


def fit_summary(fit: dict) -> list[Block]:
    form = fit.get("form", "?")
    blocks = [Block("p", FORMULAS.get(form, form).format(
        x=fit.get("x"), y=fit.get("y"), d=fit.get("d")))]
    pairs = []
    exp = fit.get("exponent")
    params = fit.get("params") or {}
    exp_name = {"power": "b", "saturating": "alpha"}.get(form)
    if exp is not None:
        p = params.get(exp_name) or {}
        lo, hi = p.get("ci_low"), p.get("ci_high")
        if form == "saturating":  # the exponent is -alpha: its interval flips
            lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
        pairs.append(("exponent", f"{fmt(exp)}  (95% CI [{fmt(lo)}, {fmt(hi)}], "
                                  f"s.e. {fmt(p.get('se'))})"))
    derived = fit.get("derived") or {}
    if derived.get("ten_x_text"):
        pairs.append(("10x buys", str(derived["ten_x_text"])))
    pairs += [("R^2 (log space)", fmt(fit.get("r2_log"))),
              ("RMSE (log space)", fmt(fit.get("rmse_log"))),
              ("points", fmt(fit.get("n_points"), "i")),
              ("converged", fmt(fit.get("converged")) + (
                  f" ({fit['message']})" if fit.get("message") else ""))]
    for key in ("a_opt", "b_opt", "G"):
        if derived.get(key) is not None:
            pairs.append((key, fmt(derived[key])))
    boot = fit.get("bootstrap") or {}
    if boot:
        pairs.append(("bootstrap", f"{fmt(boot.get('n_ok'), 'i')} of {fmt(boot.get('n'), 'i')} "
                                   f"refits, seed {fmt(boot.get('seed'), 'i')}"))
    if fit.get("method"):
        pairs.append(("method", str(fit["method"])))
    blocks += [Block("kv", rows=pairs), _params_table(fit)]

    ext = fit.get("extrapolation")
    if ext and ext.get("x"):
        held = fmt(ext.get("held_out"))
        blocks.append(Block("p", f"Extrapolation check: refit without the {held} largest, "
                                 "then predict them."))
        blocks.append(Block("table", headers=[fit.get("x") or "x", "predicted", "observed",
                                              "relative error"],
                            rows=[[fmt(x, "n"), fmt(p), fmt(o), fmt(e, "pct")]
                                  for x, p, o, e in zip(ext.get("x") or [],
                                                        ext.get("predicted") or [],
                                                        ext.get("observed") or [],
                                                        ext.get("rel_error") or [],
                                                        strict=False)]))
    if fit.get("extrapolation_note"):
        blocks.append(Block("p", str(fit["extrapolation_note"])))
    if fit.get("caveat"):
        blocks.append(Block("p", f"Caution: {fit['caveat']}."))
    if derived.get("optimal"):
        blocks.append(Block("p", "Compute-optimal allocation:"))
        blocks.append(Block("table", headers=["C (FLOPs)", "N_opt", "D_opt"],
                            rows=[[fmt(o.get("C"), "e"), fmt(o.get("N_opt"), "n"),
                                   fmt(o.get("D_opt"), "n")] for o in derived["optimal"]]))
    if derived.get("predictions"):
        blocks.append(Block("p", "Predictions (95% CI):"))
        blocks.append(Block("table", headers=["x", "predicted", "95% CI"],
                            rows=[[fmt(p.get("x"), "n"), fmt(p.get("y")),
                                   f"[{fmt(p.get('ci_low'))}, {fmt(p.get('ci_high'))}]"]
                                  for p in derived["predictions"]]))
    return blocks


def fit_section(report: ReportData) -> Section:
    fit = report.fit
    if not fit or not fit.get("fits"):
        return Section("fit", "Fit", [Block("p", "No fit: run `scalecli fit` on this folder "
                                                 "(it needs at least three finished sizes).")])
    blocks = []
    used = f"{fmt(fit.get('rows_used'), 'i')} of {fmt(fit.get('rows_total'), 'i')} rows used"
    excluded = fit.get("rows_excluded") or {}
    if excluded:
        used += "; excluded: " + ", ".join(f"{k} {v}" for k, v in excluded.items())
    if fit.get("filter"):
        used += f"; filter {' and '.join(map(str, fit['filter']))}"
    blocks.append(Block("p", used + "."))
    for form, one in fit["fits"].items():
        if not one:
            continue
        blocks.append(Block("h3", form))
        blocks.extend(fit_summary(one))
    return Section("fit", "Fit", blocks)


def figures_section(report: ReportData) -> Section:
    blocks = []
    for figure in report.figures:
        if figure.path:
            blocks.append(Block("figure", figure=figure))
            if figure.note:
                blocks.append(Block("p", figure.note))
    if not blocks:
        blocks.append(Block("p", "No figures: the data supports none (see Notes)."))
    return Section("figures", "Figures", blocks)


def samples_section(report: ReportData) -> Section:
    if not report.samples:
        return Section("samples", "Samples",
                       [Block("p", "No samples: they need the run folders with saved weights "
                                   "and tokenizer (see Notes).")])
    sample = report.samples[0]
    text = (f"Each size continues the same prompt with {sample.n_new or 'its'} tokens from its "
            f"saved weights: top-{TOP_K} sampling at temperature {TEMPERATURE}, repetition "
            f"penalty {REPETITION_PENALTY}, seed {SEED} for every size.")
    if any(s.windowed for s in report.samples):
        text += (" Where prompt and continuation outgrow the model's context, it slides its "
                 "window (marked 'windowed').")
    return Section("samples", "Samples", [Block("p", text), Block("samples")])


def notes_section(report: ReportData) -> Section:
    notes = list(dict.fromkeys(report.notes))
    if not notes:
        return Section("notes", "Notes", [Block("p", "Nothing was left out.")])
    return Section("notes", "Notes", [Block("ul", rows=notes)])


# HTML -----------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
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
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
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


# Markdown -------------------------------------------------------------------------------
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


# Terminal -------------------------------------------------------------------------------
def to_terminal(report: ReportData, console=None) -> None:
    from rich.table import Table

    from scalecli.console import output_console

    console = console or output_console()
    console.rule(title(report))
    console.print(f"scalecli {report.version}  data {report.fingerprint}  "
                  f"command: {report.command}", markup=False)
    runs = runs_section(report, TERMINAL_COLUMNS).blocks[0]
    table = Table(title="Runs", title_justify="left")
    for h in runs.headers:
        table.add_column(h, justify="left" if h in ("model", "status") else "right")
    for r in runs.rows:
        table.add_row(*r)
    console.print(table)
    for block in fit_section(report).blocks:
        if block.kind == "table":
            t = Table(*block.headers)
            for r in block.rows:
                t.add_row(*r)
            console.print(t)
        elif block.kind == "kv":
            t = Table(show_header=False, box=None)
            for k, v in block.rows:
                t.add_row(f"[bold]{k}[/]", v.replace("[", r"\["))
            console.print(t)
        elif block.kind == "h3":
            console.rule(f"fit: {block.text}", align="left")
        else:
            console.print(block.text, markup=False)
    terminal_plot(report, console)
    for note in dict.fromkeys(report.notes):
        console.print(f"note: {note}", markup=False)


def terminal_plot(report: ReportData, console) -> None:
    """The log-log scaling plot drawn with plotext, where it is installed."""
    try:
        import plotext as plt
    except ImportError:
        return
    import numpy as np

    from scalecli.plots import predict

    fit = report.primary_fit()
    x_col = (fit or {}).get("x") or "params_non_embedding"
    y_col = (fit or {}).get("y") or "val_ppl"
    if x_col not in report.ok.columns or y_col not in report.ok.columns:
        return
    pts = report.ok[[x_col, y_col]].dropna()
    pts = pts[(pts > 0).all(axis=1)]
    if pts.empty:
        return
    xs = ys = None
    if fit is not None:
        xs = np.geomspace(pts[x_col].min(), 10 * pts[x_col].max(), 60)
        try:
            ys = predict(fit, xs)
        except (KeyError, TypeError, ValueError):
            xs = ys = None
    width = min(console.width, 100)
    title_text = f"{y_col} against {x_col} (log-log; the fit runs to 10x the largest)"
    if hasattr(plt, "clear_figure"):  # plotext 5
        plt.clear_figure()
        plt.plotsize(width, 22)
        plt.xscale("log")
        plt.yscale("log")
        plt.scatter(pts[x_col].tolist(), pts[y_col].tolist(), label="runs", marker="dot")
        if xs is not None:
            plt.plot(xs.tolist(), ys.tolist(), label=f"{fit.get('form')} fit")
        plt.title(title_text)
        plt.xlabel(x_col)
        plt.ylabel(y_col)
        plt.theme("clear")
        text = plt.build()
    else:  # plotext 6: one figure object, explicit signals
        figure = plt.figure
        figure.clear()
        figure.plot_size(width, 22)
        figure.ruler("x").scale("log")
        figure.ruler("y").scale("log")
        if xs is not None:
            line = figure.signal(xs.tolist(), ys.tolist(), marker=".")
            line.label(f"{fit.get('form')} fit")
            figure.draw(line)
        points = figure.signal(pts[x_col].tolist(), pts[y_col].tolist(), marker="o")
        points.label("runs")
        points.lines(False)
        figure.draw(points)
        figure.legend(x=width - 12, y=0, ha="right", va="top")
        figure.title(title_text)
        figure.label(x_col, "x")
        figure.label(y_col, "y")
        figure.theme("colorless")
        text = plt.uncolorize(str(figure.build()))
        figure.clear()
    console.print(text, markup=False, highlight=False)
