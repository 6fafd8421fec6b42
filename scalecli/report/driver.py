"""`scalecli report`: results.csv + fit.json + runs/ -> OUT_DIR/report/ (HTML, Markdown, PNGs).

This module loads the inputs (`data`) and hands the pieces to `plots` (figures),
`samples` (text from the saved weights), `html`, `markdown` and `terminal`. Anything
missing that is not fatal (no fit, no run folders, a single token budget) leaves its part
out of the report with a note that says why; only a missing folder, a missing results.csv
or a CSV without the needed columns stops the command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from scalecli.report.data import MakeFit, ReportData, load, one_run_per_size
from scalecli.results import atomic_write_text


@dataclass
class ReportOptions:
    out_dir: Path
    """A sweep's output folder (holds results.csv)."""
    prompt: str | None = None
    """Prompt for the samples. Default: the held-out line recorded in data.json."""
    terminal: bool = False
    """Also print the runs table and the fit (and a plotext plot) in the terminal."""
    sample_tokens: int = 60
    """Tokens generated per sample."""
    command: str = "scalecli report"
    """The command line that produced the report, printed in it."""
    make_fit: MakeFit | None = None
    """Writes the default fit.json when it is missing (the CLI passes `fit`'s); None: the
    report has no fit and says how to make one."""


def run_report(options: ReportOptions) -> Path:
    """Build OUT_DIR/report/ and return the path of report.html."""
    start = time.perf_counter()
    report = load(options.out_dir, options.command, options.make_fit)
    if report.fit_warning:  # a stale or a just-made fit.json: said before the work starts
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[yellow]{report.fit_warning}[/]")
    folder = report.out_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)

    from scalecli.report import html_page, markdown_page, plots, terminal

    report.figures = plots.draw_all(report, folder)
    report.notes.extend(f.note for f in report.figures if f.note and not f.path)
    add_samples(report, options.prompt, options.sample_tokens)

    html_path = folder / "report.html"
    atomic_write_text(html_path, html_page.to_html(report))
    atomic_write_text(folder / "report.md", markdown_page.to_markdown(report))
    if options.terminal:
        terminal.to_terminal(report)
    from rich.console import Console

    Console(stderr=True, highlight=False).print(
        f"wrote {html_path} and report.md ({time.perf_counter() - start:.1f} s)"
    )
    return html_path


def add_samples(report: ReportData, prompt: str | None, sample_tokens: int) -> None:
    from scalecli.report import samples

    picked = one_run_per_size(report.ok)
    runs = [
        dict(row) for _, row in picked.iterrows()
        if samples.has_weights(report.out_dir / "runs" / str(row["run_id"]))
    ]
    if not runs:
        if (report.out_dir / "runs").is_dir():
            report.notes.append("No samples: no finished run folder holds config.json, "
                                "model.safetensors and tokenizer.json.")
        return
    if prompt is None:
        prompt = (report.data or {}).get("prompt") or None
    if not prompt:
        prompt = "The"
        report.notes.append("data.json records no held-out prompt, so the samples continue "
                            "'The'; pass --prompt to choose one.")
    report.prompt = prompt
    report.samples = samples.make_samples(runs, report.out_dir, prompt, sample_tokens)
