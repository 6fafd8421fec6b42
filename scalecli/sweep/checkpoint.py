"""Mid-run checkpoints: a LoopState on disk, tensors in safetensors, the rest in JSON, never
pickle. This module is the only reader and writer of a checkpoint's files.

A checkpoint is a folder written under a temporary name, fsynced, then renamed into
place, so a kill at any moment leaves either the previous checkpoint or the new one.
It holds the whole LoopState (scalecli/sweep/loop_state.py): model.safetensors,
optimizer.safetensors (each parameter's moments, by index) and state.json (the
optimizer's parameter groups, and the loop's counters and curve under `loop`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from scalecli.errors import ScaleError
from scalecli.faults import pause_point
from scalecli.sweep.loop_state import LoopState

NAME = "checkpoint"
FILES = ("model.safetensors", "optimizer.safetensors", "state.json")


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{index}.{key}"] = tensor.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def save(run_dir: Path, state: LoopState) -> None:
    """Write `state` as the checkpoint of the run in `run_dir`, atomically (replacing any
    earlier one)."""
    final = run_dir / NAME
    tmp = run_dir / f".{NAME}.tmp"
    old = run_dir / f".{NAME}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_model(state.model, str(tmp / "model.safetensors"))
        tensors, groups = _optimizer_tensors(state.optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        text = json.dumps({"param_groups": groups, "loop": state.counters()})
        (tmp / "state.json").write_text(text, encoding="utf-8")
        _fsync_tree(tmp)
        # Two renames: at every instant one complete checkpoint exists under a known name.
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        pause_point("checkpoint")  # test-only (scalecli/faults.py)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ScaleError(f"cannot write a checkpoint in {run_dir}: {error.strerror or error}; "
                         "check free disk space") from None


def find(run_dir: Path) -> Path | None:
    """The complete checkpoint of a run, if any (also one left mid-swap by a kill)."""
    for name in (NAME, f".{NAME}.old"):
        folder = run_dir / name
        if all((folder / f).is_file() for f in FILES):
            return folder
    return None


def load(folder: Path, model: Any, optimizer: torch.optim.Optimizer) -> LoopState:
    """The LoopState saved in `folder` (found by `find`): `model` and `optimizer`, built for
    the same run, restored in place, with the saved counters and curve."""
    state = _read_state(folder)
    load_model(model, str(folder / "model.safetensors"))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = tensor
    groups = state["param_groups"]
    for saved, built in zip(groups, optimizer.param_groups, strict=True):
        for key, value in built.items():  # JSON made the tuples (betas) lists: back as built
            if isinstance(value, tuple) and isinstance(saved.get(key), list):
                saved[key] = tuple(saved[key])
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    return LoopState.from_counters(model, optimizer, state["loop"])


def step_of(folder: Path) -> int:
    """The step a checkpoint was saved at, without loading its tensors."""
    return int(_read_state(folder)["loop"]["step"])


def _read_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "state.json").read_text(encoding="utf-8"))


def pack(run_dir: Path) -> dict[str, bytes] | None:
    """The files of a run's checkpoint by name, to send to another machine (Ray); None
    when it has none."""
    found = find(run_dir)
    return None if found is None else {f: (found / f).read_bytes() for f in FILES}


def unpack(run_dir: Path, files: dict[str, bytes]) -> None:
    """Place a checkpoint that `pack` sent from another machine as the one of `run_dir`."""
    remove(run_dir)  # any earlier checkpoint, and a half-written one
    tmp = run_dir / f".{NAME}.tmp"
    tmp.mkdir(parents=True)
    for name in FILES:
        (tmp / name).write_bytes(files[name])
    os.replace(tmp, run_dir / NAME)


def remove(run_dir: Path) -> None:
    """Delete a run's checkpoints. Each is first renamed away, so a kill part-way through
    never leaves a half-deleted folder under a name that `find` would load."""
    for name in (NAME, f".{NAME}.old", f".{NAME}.tmp"):
        folder = run_dir / name
        trash = run_dir / f".{NAME}.trash"
        shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(folder, trash)
        except OSError:
            continue  # not there
        shutil.rmtree(trash, ignore_errors=True)
