"""Text samples from saved runs: one continuation of one prompt per model size.

Each run folder holds `config.json` + `model.safetensors` (from `save_pretrained`) and
`tokenizer.json`. We load them with `GPT2LMHeadModel.from_pretrained` (safetensors only,
never pickle) and continue the prompt by seeded top-k sampling: every size draws with the
same seed, so a report is reproducible and the sizes are compared on the same footing.
(Greedy decoding was tried first: small, undertrained models then print one newline 60
times, which shows nothing about the difference between sizes.)

An evaluation-only run (a checkpoint the sweep measured, not trained) has no weights in
its folder: its run.json names the checkpoint's `reference` (`hf:ORG/NAME` or a folder),
and the sample loads the model and its own tokenizer from there, with transformers'
Auto classes (safetensors only), as any other causal LM.

A model cannot see more than `n_positions` tokens. When prompt + continuation is longer,
we generate in chunks and slide the window: each chunk is conditioned on the last half
window of text. The sample says so, because such text has a shorter memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 0
TEMPERATURE = 0.8
TOP_K = 40
# A mild penalty keeps tiny models from looping on one token (CTRL, Keskar et al. 2019).
REPETITION_PENALTY = 1.2


@dataclass
class Sample:
    """One model size's continuation of the prompt."""

    model: str
    run_id: str
    params_non_embedding: float | None
    tokens: float | None
    val_loss: float | None
    text: str | None  # the continuation only, decoded; None if it could not be made
    n_new: int = 0
    windowed: bool = False
    error: str | None = None
    seconds: float = 0.0


def quiet_transformers() -> None:
    """Silence progress bars and config warnings that would clutter a report's output."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load_tokenizer(run_dir: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(run_dir / "tokenizer.json"))


class _HFTokenizer:
    """A transformers tokenizer with the two calls `generate` makes of a `tokenizers` one."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> Any:
        class Encoded:
            ids = self.tokenizer.encode(text, add_special_tokens=False)

        return Encoded()

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)


def checkpoint_reference(run_dir: Path) -> str | None:
    """The checkpoint an evaluation-only run measured (its run.json's `reference`), or None
    for a run the sweep trained."""
    try:
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    reference = run.get("reference") if isinstance(run, dict) else None
    return str(reference) if reference else None


def _load(run_dir: Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a trained run's folder, or of the checkpoint it names."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reference = checkpoint_reference(run_dir)
    if reference is None or (Path(reference, "tokenizer.json").is_file() and Path(
            reference, "run.json").is_file()):
        folder = Path(reference) if reference else run_dir  # a sweep's run: its own files
        model = AutoModelForCausalLM.from_pretrained(str(folder), use_safetensors=True)
        return model, load_tokenizer(folder)
    source = reference.removeprefix("hf:")
    model = AutoModelForCausalLM.from_pretrained(source, use_safetensors=True)
    return model, _HFTokenizer(AutoTokenizer.from_pretrained(source))


def _context(config: Any) -> int:
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1024


def generate(run_dir: Path, prompt: str, max_new_tokens: int) -> tuple[str, int, bool]:
    """Continue `prompt` with the run saved in `run_dir` (or the checkpoint its run.json
    names): (text, tokens made, windowed)."""
    import torch

    model, tokenizer = _load(run_dir)
    torch.manual_seed(SEED)  # the same draws for every size
    model.eval()
    n_ctx = _context(model.config)
    prompt_ids = tokenizer.encode(prompt).ids
    if not prompt_ids:
        raise ValueError("the prompt encodes to no tokens")
    all_ids = list(prompt_ids[-(n_ctx - 1):])  # leave room for at least one new token
    n_prompt = len(all_ids)
    windowed = len(prompt_ids) > n_ctx - 1
    while len(all_ids) - n_prompt < max_new_tokens:
        context = all_ids[-(n_ctx - 1):]
        if n_ctx - len(context) < max(1, n_ctx // 4):
            # Slide: keep half a window of text and make room for a chunk of new tokens.
            context = all_ids[-max(1, n_ctx // 2):]
            windowed = True
        room = n_ctx - len(context)
        chunk = min(room, max_new_tokens - (len(all_ids) - n_prompt))
        input_ids = torch.tensor([context], dtype=torch.long)
        with torch.no_grad():
            out = model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=chunk,
                min_new_tokens=chunk,
                do_sample=True,
                temperature=TEMPERATURE,
                top_k=TOP_K,
                repetition_penalty=REPETITION_PENALTY,
                pad_token_id=0,
                eos_token_id=None,
            )
        new = out[0, input_ids.shape[1]:].tolist()
        if not new:
            break
        all_ids.extend(new)
    new_ids = all_ids[n_prompt:]
    return tokenizer.decode(new_ids), len(new_ids), windowed


def make_samples(runs: list[dict], out_dir: Path, prompt: str, max_new_tokens: int) -> list[Sample]:
    """One sample per run in `runs` (dicts with run_id, model, ...; one per size, in order)."""
    import torch

    quiet_transformers()
    # Batch-1 decoding of a small model is all dispatch overhead; extra threads only spin
    # and wait on each other (2 s -> 0.07 s for 60 tokens on a 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [_sample(row, out_dir, prompt, max_new_tokens) for row in runs]
    finally:
        torch.set_num_threads(threads)


def _sample(row: dict, out_dir: Path, prompt: str, max_new_tokens: int) -> Sample:
    """Load one run folder and continue the prompt; an error is recorded, not raised."""
    run_dir = out_dir / "runs" / str(row["run_id"])
    sample = Sample(
        model=str(row.get("model", "")),
        run_id=str(row["run_id"]),
        params_non_embedding=row.get("params_non_embedding"),
        tokens=row.get("tokens"),
        val_loss=row.get("val_loss"),
        text=None,
    )
    start = time.perf_counter()
    try:
        sample.text, sample.n_new, sample.windowed = generate(run_dir, prompt, max_new_tokens)
    except Exception as error:  # a broken run folder must not sink the whole report
        sample.error = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    sample.seconds = time.perf_counter() - start
    return sample


def has_weights(run_dir: Path) -> bool:
    """True when the folder holds what `generate` needs, or names a checkpoint that does
    (a hub model is looked for when the sample is made)."""
    reference = checkpoint_reference(run_dir)
    if reference is not None:
        return reference.startswith("hf:") or (Path(reference) / "config.json").is_file()
    return all(
    (run_dir / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json")
    )
