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


def make_tiny(raw: dict, models: list[dict]) -> dict:
    """A sweep file cut to tiny models and budgets for a bench's --tiny (CI) run: the same
    code paths in seconds, measuring nothing."""
    raw["models"] = models
    raw["budget"] = {"tokens": 8192}
    raw["data"].update(tokenizer="bpe:300", context=32)
    raw["train"].update(batch_tokens=256, eval_points=1)
    raw["eval"] = {"tokens": 2048}
    raw["runtime"] = {"device": "cpu", "threads": 1}
    return raw


def tiny_corpus(folder: Path) -> str:
    """A 50 KB docs corpus built by bench/corpora.py for --tiny runs; its .jsonl path."""
    subprocess.run([sys.executable, str(ROOT / "bench/corpora.py"), str(folder), "--tiny",
                    "--only", "docs"], check=True, capture_output=True)
    return str(folder / "docs.jsonl")
