"""A fixed terminal for the tests of what scalecli prints: a width at which the table under
test does not wrap, the 8 standard colours, and rich's default highlighting on, so that a
line printed with highlight=False can be seen to stay plain."""

from __future__ import annotations

import io
import re

from rich.console import Console

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def terminal(width: int) -> Console:
    return Console(file=io.StringIO(), record=True, width=width, force_terminal=True,
                   color_system="standard")


def printed(con: Console) -> tuple[list[str], list[str]]:
    """(plain lines, lines with their ANSI styles) that `con` recorded."""
    return (con.export_text(clear=False).splitlines(),
            con.export_text(styles=True).splitlines())
