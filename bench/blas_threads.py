"""How many BLAS threads `scalecli fit` should use: the default (one per core) against one.

`scalecli fit --form compute --bootstrap 20` on the isoFLOP sweep of tests/golden/, run in
fresh processes with OPENBLAS_NUM_THREADS set to the number of cores and to 1, alternating,
first on an idle machine and then with one busy process per core beside it (as when a sweep,
a second fit or a CI job shares the machine). Every fit solves problems of tens of points,
where a second thread only adds synchronisation, and OpenBLAS threads spin-wait for each
other: on a busy machine that costs far more than it saves. The CLI sets one thread unless
the user chose otherwise.

Last line: busy_ratio=<default/one> idle_ratio=<default/one> (medians of --repeats runs).

Run: .venv/bin/python bench/blas_threads.py [--repeats 3]
     .venv/bin/python bench/blas_threads.py --tiny   # CI smoke: --bootstrap 2, 1 repeat
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "tests" / "golden" / "isoflop" / "results.csv"


def fit_seconds(threads: int, bootstrap: int) -> float:
    """Wall time of one `fit --form compute` in a fresh process with `threads` BLAS threads."""
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(CSV, Path(folder) / "results.csv")
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "scalecli", "fit", folder, "--form", "compute",
                        "--bootstrap", str(bootstrap)], env=env, check=True,
                       capture_output=True)
        return time.perf_counter() - start


def spin() -> None:
    while True:
        pass


def measure(cores: int, bootstrap: int, repeats: int) -> tuple[float, float]:
    """Median seconds with the default threads and with one, alternating to share drift."""
    default, one = [], []
    for _ in range(repeats):
        default.append(fit_seconds(cores, bootstrap))
        one.append(fit_seconds(1, bootstrap))
    return statistics.median(default), statistics.median(one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    bootstrap, repeats = (2, 1) if args.tiny else (20, args.repeats)
    cores = os.cpu_count() or 1
    ratios = {}
    for load in ("idle", "busy"):
        workers = [multiprocessing.Process(target=spin, daemon=True)
                   for _ in range(cores if load == "busy" else 0)]
        for worker in workers:
            worker.start()
        try:
            default, one = measure(cores, bootstrap, repeats)
        finally:
            for worker in workers:
                worker.terminate()
        ratios[load] = default / one
        print(f"{load}: {cores} BLAS threads {default:.1f} s, 1 thread {one:.1f} s, "
              f"ratio {ratios[load]:.2f} (median of {repeats})")
    print(f"busy_ratio={ratios['busy']:.2f} idle_ratio={ratios['idle']:.2f}")


if __name__ == "__main__":
    main()
