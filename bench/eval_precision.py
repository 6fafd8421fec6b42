"""Held-out loss in fp32 against bf16 autocast, on the same saved weights of a sweep.

    python bench/eval_precision.py out/default     # every ok run with saved weights
    python bench/eval_precision.py --tiny          # two tiny random models (for CI)

`scalecli sweep` evaluates in fp32 whatever precision training used. This measures what
evaluating under bf16 autocast (logits rounded to bf16 before the cross-entropy) would
have reported instead, run by run, on the sweep's own held-out tokens. The last line is
machine-readable:
  eval_bf16_minus_fp32_max_abs=<nats> eval_bf16_minus_fp32_median=<nats> runs=<n>
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scalecli.sweep.data import prepare, random_tokens
from scalecli.sweep.evaluate import evaluate, val_tensors
from scalecli.sweep.model import build_model, gpt2_config
from scalecli.sweep.parse import parse_spec

CPU = torch.device("cpu")


@torch.inference_mode()
def bf16_loss(model, inputs: torch.Tensor, targets: torch.Tensor, batch_seqs: int) -> float:
    """The loss as the old evaluation computed it: the forward pass under bf16 autocast."""
    total = 0.0
    for start in range(0, inputs.shape[0], batch_seqs):
        x, y = inputs[start:start + batch_seqs], targets[start:start + batch_seqs]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=x, use_cache=False).logits
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(),
                                 reduction="sum").item()
    return total / targets.numel()


def sweep_models(out_dir: Path):
    """(name, model, inputs, targets) for every ok run of a sweep folder with weights."""
    import pandas as pd
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    spec = parse_spec(yaml.safe_load((out_dir / "sweep.yaml").read_text(encoding="utf-8")))
    data = prepare(spec.data, spec.eval.tokens)
    inputs, targets = val_tensors(data.val, spec.data.context)
    rows = pd.read_csv(out_dir / "results.csv")
    for _, row in rows[rows["status"] == "ok"].iterrows():
        run_dir = out_dir / "runs" / str(row["run_id"])
        if (run_dir / "model.safetensors").is_file():
            model = GPT2LMHeadModel.from_pretrained(run_dir).eval()
            yield f"{row['model']} s{row['seed']}", model, inputs, targets, row["val_loss"]


def tiny_models():
    data = random_tokens(300, 4096, 32)
    inputs, targets = val_tensors(data.val, 32)
    for width in (16, 32):
        config = gpt2_config(n_layer=1, n_embd=width, n_head=2, vocab_size=300, n_ctx=32)
        yield f"tiny d{width}", build_model(config, seed=0).eval(), inputs, targets, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, help="a sweep's output folder")
    parser.add_argument("--tiny", action="store_true", help="two tiny random models")
    args = parser.parse_args()
    if not args.tiny and args.out_dir is None:
        parser.error("give a sweep's output folder, or --tiny")
    models = tiny_models() if args.tiny else sweep_models(args.out_dir)
    diffs = []
    print(f"{'run':12} {'fp32':>9} {'bf16 autocast':>14} {'bf16 - fp32':>12} {'in csv':>9}")
    for name, model, inputs, targets, recorded in models:
        fp32 = evaluate(model, inputs, targets, batch_seqs=64, device=CPU).loss
        bf16 = bf16_loss(model, inputs, targets, 64)
        diffs.append(bf16 - fp32)
        shown = "-" if recorded is None else f"{recorded:.4f}"
        print(f"{name:12} {fp32:9.5f} {bf16:14.5f} {bf16 - fp32:+12.5f} {shown:>9}")
    if not diffs:
        sys.exit("no ok run with saved weights in that folder")
    print(f"eval_bf16_minus_fp32_max_abs={max(abs(d) for d in diffs):.5f} "
          f"eval_bf16_minus_fp32_median={statistics.median(diffs):+.5f} runs={len(diffs)}")


if __name__ == "__main__":
    main()
