"""Test-only pause points, so that tests can kill a sweep at an exact moment.

`SCALECLI_TEST_PAUSE=NAME` (or `NAME#K`, the K-th time the point is reached) makes
`pause_point(NAME)` write the file named by `SCALECLI_TEST_MARKER` and then wait until
the test deletes it (or 120 s pass), so the test can send SIGKILL or SIGINT while the
process is exactly there. Unset, a pause point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_hits: dict[str, int] = {}


def pause_point(name: str) -> None:
    wanted = os.environ.get("SCALECLI_TEST_PAUSE")
    if not wanted:
        return
    target, _, nth = wanted.partition("#")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != int(nth or 1):
        return
    marker = Path(os.environ.get("SCALECLI_TEST_MARKER", "scalecli-paused"))
    marker.write_text(f"{os.getpid()} {wanted}\n", encoding="utf-8")
    deadline = time.monotonic() + 120
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def fail_point(name: str) -> None:
    """`SCALECLI_TEST_FAIL=NAME` makes `fail_point(NAME)` raise, as a crashing run would
    (e.g. one rank of a data-parallel run). Unset, it costs one dictionary lookup."""
    if os.environ.get("SCALECLI_TEST_FAIL") == name:
        raise RuntimeError(f"test fault at {name}")
