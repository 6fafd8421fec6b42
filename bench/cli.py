"""What the benches share: running `scalecli` as a user would, in a subprocess.

Imported by the bench scripts (`python bench/NAME.py` puts bench/ on sys.path).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scalecli(*args: str) -> None:
    """`python -m scalecli ARGS` from the repository root; exit with its output on failure.
    One BLAS thread: the fits' bootstrap otherwise spins against the training threads."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "scalecli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"scalecli {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
