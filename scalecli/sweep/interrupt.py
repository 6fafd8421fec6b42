"""Ctrl-C during a sweep: the first asks the sweep to stop cleanly, the second exits at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console


class StopFlag:
    """Ctrl-C once: stop after this step. Twice: stop now."""

    def __init__(self, console: Console, first: str) -> None:
        self.count = 0
        self.console = console
        self.first = first  # what the first Ctrl-C does, for the user to read

    def __call__(self) -> bool:
        return self.count > 0

    def handle(self, _signum: int, _frame: Any) -> None:
        self.count += 1
        if self.count >= 2:
            # Every file is written by atomic rename, so leaving now corrupts nothing.
            os.write(2, b"\nsecond Ctrl-C: exiting now; rerun the same command to resume\n")
            os._exit(130)
        self.console.print(f"[yellow]Ctrl-C: {self.first} (press again to exit at once)[/]")


@contextmanager
def sigint(flag: StopFlag) -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, flag.handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
