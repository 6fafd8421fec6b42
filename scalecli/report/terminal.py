"""The report in the terminal: the runs table, the fit, a plotext plot where installed."""

from __future__ import annotations

from scalecli.report.blocks import Block
from scalecli.report.data import ReportData, predict
from scalecli.report.document import TERMINAL_COLUMNS, fit_section, runs_section, title
from scalecli.report.prediction import prediction_section


def to_terminal(report: ReportData, console=None) -> None:
    from rich.table import Table

    from scalecli.console import output_console

    console = console or output_console()
    console.rule(title(report))
    console.print(f"scalecli {report.version}  data {report.fingerprint}  "
                  f"command: {report.command}", markup=False)
    runs, *after = runs_section(report, TERMINAL_COLUMNS).blocks
    table = Table(title="Runs", title_justify="left")
    for h in runs.headers:
        table.add_column(h, justify="left" if h in ("model", "status") else "right")
    for r in runs.rows:
        table.add_row(*r)
    console.print(table)
    for block in after:  # unfinished runs, what WSD branches saved
        console.print(block.text, markup=False)
    check = prediction_section(report.fit)
    if check is not None:  # ahead of the fit, as in the HTML: it says how far to trust it
        console.rule(check.title, align="left")
        print_blocks(console, check.blocks)
    print_blocks(console, fit_section(report).blocks)
    terminal_plot(report, console)
    for note in dict.fromkeys(report.notes):
        console.print(f"note: {note}", markup=False)


def print_blocks(console, blocks: list[Block]) -> None:
    from rich.table import Table

    for block in blocks:
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


def terminal_plot(report: ReportData, console) -> None:
    """The log-log scaling plot drawn with plotext, where it is installed."""
    try:
        import plotext as plt
    except ImportError:
        return
    import numpy as np

    fit = report.primary_fit()
    x_col = (fit.x if fit else None) or "params_non_embedding"
    y_col = (fit.y if fit else None) or "val_ppl"
    if x_col not in report.ladder.columns or y_col not in report.ladder.columns:
        return
    pts = report.ladder[[x_col, y_col]].dropna()
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
            plt.plot(xs.tolist(), ys.tolist(), label=f"{fit.form} fit")
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
            line.label(f"{fit.form} fit")
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
