"""One sweep per output folder: a lock file that names the process holding it.

On POSIX the lock is an advisory `flock` on `folder/.lock`, which the kernel releases
when the process dies, even by kill -9. So a lock file left behind by a dead sweep is
simply taken over (with a warning), and a recycled PID can never make a stale lock look
alive. The file holds the holder's PID, for the message. Where `fcntl` is missing, a
file created with O_EXCL and a check that its PID is alive stand in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scalecli.errors import ScaleError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def _in_use(folder: Path, pid: int) -> ScaleError:
    who = f"PID {pid}" if pid else "another process"
    return ScaleError(f"{folder} is in use by another scalecli sweep ({who}); "
                      "wait for it to finish, or use another --out")


def _cannot_write(folder: Path, error: OSError) -> ScaleError:
    return ScaleError(f"cannot write in {folder}: {error.strerror or error}; "
                      "check that it is writable and the disk has space")


def _flock(path: Path, folder: Path) -> int:
    """An open descriptor of the lock file, flocked by this process."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise _cannot_write(folder, error) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _in_use(folder, _read_pid(path)) from None
        # The holder before us may have deleted the file between our open and our flock:
        # then we hold a lock on a file nobody else can see, so start again.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _exclusive(path: Path, folder: Path, warn: Callable[[str], None]) -> int:
    """Without flock: create the file exclusively; take it over if its PID is gone."""
    for _attempt in range(2):
        try:
            return os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            pid = _read_pid(path)
            if pid and pid != os.getpid() and _alive(pid):
                raise _in_use(folder, pid) from None
            warn(_stale_message(folder, pid))
            path.unlink(missing_ok=True)
        except OSError as error:
            raise _cannot_write(folder, error) from None
    raise ScaleError(f"cannot take the lock {path}; remove it if no sweep is running")


def _stale_message(folder: Path, pid: int) -> str:
    return (f"taking over a stale lock in {folder}: PID {pid or '?'} is gone "
            "(an interrupted sweep; rerunning resumes it)")


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
    if fcntl is not None:
        fd = _flock(path, folder)
        stale = _read_pid(path)
        if stale and stale != os.getpid():
            warn(_stale_message(folder, stale))
    else:
        fd = _exclusive(path, folder, warn)
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as error:
        os.close(fd)
        raise _cannot_write(folder, error) from None
    try:
        yield
    finally:
        # Unlink before closing: the next sweep then creates a fresh file, and one that
        # opened this file meanwhile sees the inode change and retries.
        path.unlink(missing_ok=True)
        os.close(fd)
