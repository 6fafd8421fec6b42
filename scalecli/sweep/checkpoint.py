"""Mid-run checkpoints: tensors in safetensors, everything else in JSON, never pickle.

A checkpoint is a folder written under a temporary name, fsynced, then renamed into
place, so a kill at any moment leaves either the previous checkpoint or the new one.
It holds the model, the optimizer state, the step and the loop's own state. The data
position needs no saving: the batch at step s is a pure function of (seed, s).
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


def save(run_dir: Path, model: Any, optimizer: torch.optim.Optimizer,
         loop_state: dict[str, Any]) -> None:
    """Write the checkpoint of a run atomically (replacing any earlier one)."""
    final = run_dir / NAME
    tmp = run_dir / f".{NAME}.tmp"
    old = run_dir / f".{NAME}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        tensors, groups = _optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        state = {"param_groups": groups, "loop": loop_state}
        (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")
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


def load(folder: Path, model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model and optimizer in place; return the loop state."""
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    load_model(model, str(folder / "model.safetensors"))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = tensor
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    return state["loop"]


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
