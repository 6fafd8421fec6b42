"""The one exception type that the CLI translates into a clear message and an exit code."""

from __future__ import annotations


class ScaleError(Exception):
    """A problem the user can fix: bad input, a missing file, an impossible setting.

    The message is one line that says what is wrong and how to fix it. The CLI prints it
    in red on stderr and exits with `exit_code`, never with a traceback.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(ScaleError):
    """The user pressed Ctrl-C; work was saved and the command can be rerun to resume."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=130)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def describe(error: BaseException) -> str:
    """'Type: first line', at most 300 characters: a failed run's `error` column."""
    text = str(error).strip()
    return (f"{type(error).__name__}: {first_line(error)}" if text else type(error).__name__)[:300]
