"""One sweep per output folder: a lock file that names the process holding it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scalecli.errors import ScaleError

LOCK_NAME = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


@contextmanager
def folder_lock(folder: Path, warn: Callable[[str], None] = print) -> Iterator[None]:
    """Hold `folder/.lock` for the duration; take over a lock whose process is gone."""
    path = folder / LOCK_NAME
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise ScaleError(f"{folder} is in use by another scalecli sweep (PID {pid}); "
                                 "wait for it, or use another --out") from None
            warn(f"taking over a stale lock in {folder} (PID {pid or '?'} is gone)")
            path.unlink(missing_ok=True)
            continue
        except OSError as error:
            raise ScaleError(f"cannot write in {folder}: {error.strerror or error}; "
                             "check that it is writable and the disk has space") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        break
    else:
        raise ScaleError(f"cannot take the lock {path}; remove it if no sweep is running")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
