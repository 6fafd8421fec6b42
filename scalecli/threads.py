"""How scalecli's threads wait for each other: set in the environment before numpy or torch
loads, unless the user set it.

- **numpy and scipy: one BLAS thread.** Every fit solves tiny problems (tens of points),
  where a second thread only adds synchronisation, and OpenBLAS threads spin-wait: with
  one busy process per core beside it (a sweep, a second fit, a CI job) `fit --form
  compute` took 4.3x longer with a thread per core than with one, and on an idle machine
  one thread was no slower (bench/blas_threads.py). torch keeps its own thread pool.
- **torch on a busy machine: OpenMP threads spin less before they sleep.** A training step
  is hundreds of parallel regions, and at the end of each a thread that finished waits for
  the others. libgomp (torch's OpenMP on Linux) spins 300,000 times before it sleeps: right
  on an idle machine, ruinous beside another busy job, where the thread waited for has been
  descheduled and the waiter burns its time slice at every region. Two 2-thread s1
  trainings at once on a 2-core machine took 95 ms per step each, against 31 ms alone, and
  57 ms with GOMP_SPINCOUNT=1000 (s5: 372 and 156 ms against 83 ms); idle, the short spin
  cost 42% at s1 and 4% at s5 (bench/omp_spin.py, docs/benchmarks.md). So the short
  spin is set only when the machine is already busy when scalecli starts. How long threads
  spin does not change what they compute: the work is split the same way and every number
  is the same bit for bit (tests/sweep/test_omp_spin.py). A user's OMP_WAIT_POLICY or
  GOMP_SPINCOUNT is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BUSY_SPINCOUNT = 1_000
"""Spins before an idle OpenMP thread sleeps, on a busy machine (libgomp's default: 300,000)."""

BUSY_LOAD = 0.5
"""The machine counts as busy when its 1-minute load average is at least this: another job
has kept half a core busy, before scalecli started any work."""


def machine_busy() -> bool:
    try:
        return os.getloadavg()[0] >= BUSY_LOAD
    except OSError:  # no load average on this platform
        return False


def thread_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """The variables to set, given the environment `env`: those above that the user has not
    set. Apply before numpy or torch is imported; both read them when their libraries load."""
    out = {} if "OPENBLAS_NUM_THREADS" in env else {"OPENBLAS_NUM_THREADS": "1"}
    if not ({"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(env)) and machine_busy():
        out["GOMP_SPINCOUNT"] = str(BUSY_SPINCOUNT)
    return out
