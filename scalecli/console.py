"""The console that commands print their output to."""

from __future__ import annotations

from rich.console import Console


def output_console() -> Console:
    """A terminal's own width; 160 columns in logs and CI, where rich would assume 80.

    At 80 columns the fit summaries and run tables wrap mid-line and become hard to read
    (or to grep) in a log file. An explicit $COLUMNS still wins.
    """
    console = Console(highlight=False)
    if not console.is_terminal and console.width == 80:
        console = Console(highlight=False, width=160)
    return console


SEVERITY_STYLE = {"warning": "bold yellow", "info": "cyan"}


def print_finding(console: Console, severity: str, code: str, message: str) -> None:
    """`severity code: message`, the message printed as plain text (it quotes user data)."""
    console.print(f"[{SEVERITY_STYLE.get(severity, '')}]{severity} {code}[/]: ", end="")
    console.print(message, markup=False, highlight=False)
