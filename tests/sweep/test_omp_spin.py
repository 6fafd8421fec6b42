"""scalecli/threads.py: the thread-waiting settings the CLI sets before torch and numpy load.

How long OpenMP threads spin before they sleep must change the speed on a busy machine and
nothing else: a few training steps give the same losses and weights, bit for bit, under
libgomp's default and under the short spin that scalecli sets when the machine is busy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalecli import threads

ROOT = Path(__file__).resolve().parents[2]

TRAIN = r"""
import torch, torch.nn.functional as F
from scalecli.sweep.hardware import resolve_runtime
from scalecli.sweep.model import build_model, gpt2_config
rt = resolve_runtime("cpu", "auto", 2)
torch.set_num_threads(2)
model = build_model(gpt2_config(n_layer=2, n_embd=24, n_head=2, vocab_size=256, n_ctx=64), 0)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
g = torch.Generator().manual_seed(0)
losses = []
for _ in range(4):
    x, y = torch.randint(0, 256, (2, 8, 64), generator=g)
    with torch.autocast("cpu", dtype=rt.autocast_dtype or torch.float32,
                        enabled=rt.autocast_dtype is not None):
        logits = model(input_ids=x, use_cache=False).logits
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss.item().hex())
print(losses, sum(p.double().sum().item() for p in model.parameters()).hex())
"""


def _train(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", TRAIN], env={**clean, **env}, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_spin_count_changes_no_number() -> None:
    default = _train()
    assert default.startswith("['0x")  # four losses, then the weights' sum, in hex
    assert _train(GOMP_SPINCOUNT=str(threads.BUSY_SPINCOUNT)) == default
    assert _train(OMP_WAIT_POLICY="PASSIVE") == default


def test_the_short_spin_is_set_only_on_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 1.0, 0.5))
    assert threads.thread_defaults({}) == {"OPENBLAS_NUM_THREADS": "1", "GOMP_SPINCOUNT": "1000"}
    monkeypatch.setattr(os, "getloadavg", lambda: (0.49, 3.0, 3.0))  # the last minute counts
    assert threads.thread_defaults({}) == {"OPENBLAS_NUM_THREADS": "1"}


def test_what_the_user_set_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    assert threads.thread_defaults({"OMP_WAIT_POLICY": "ACTIVE"}) == {"OPENBLAS_NUM_THREADS": "1"}
    assert threads.thread_defaults({"GOMP_SPINCOUNT": "5", "OPENBLAS_NUM_THREADS": "2"}) == {}

    def no_load_average() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", no_load_average)
    assert threads.thread_defaults({}) == {"OPENBLAS_NUM_THREADS": "1"}


def test_the_cli_sets_one_blas_thread_on_import() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    probe = ("import sys, os; import scalecli.cli; "
             "print(os.environ['OPENBLAS_NUM_THREADS'], 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["1", "True"], out.stderr[-2000:]
