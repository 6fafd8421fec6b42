"""Rolling-window held-out loss of any causal LM over a text, in nats per token and bits per byte.

Losses per token are not comparable across tokenizers (a token of GPT-2's 50K vocabulary
holds more text than one of a 1K BPE); bits per byte are: the summed cost over the UTF-8
bytes of the scored text, in bits (lm-evaluation-harness's `bits_per_byte`).

The text is tokenized with the model's own tokenizer into one stream, each document followed
by the end-of-text token, as the sweep builds its held-out stream (scalecli/sweep/data.py):
knowing where a document ends is part of modelling the text, and the marker counts 0 bytes.
The first token of the text has no context. As lm-evaluation-harness does, a prefix token
(the tokenizer's BOS, else its EOS) is put in front so that the first token is predicted
too; a tokenizer with neither leaves the first token unscored, and its bytes out of the
byte count.

Windows follow Hugging Face's "Perplexity of fixed-length models": a window of `context`
inputs starts every `stride` tokens; the first window scores all of its targets, each later
one only the targets that the windows before it did not (its last `stride`), so every token
is predicted exactly once and each has at least `context - stride` tokens of context. A
window of `context` inputs predicts `context` tokens (the guide's `max_length` is
`context + 1`: its last input is only a target), as the sweep's training does. With
`stride == context` the windows do not overlap: the sweep's own evaluation
(`evaluate.val_tensors`), which this reproduces exactly on the sweep's token stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from scalecli.errors import ScaleError

# On CPU a forward of up to 16K tokens keeps the caches warm and costs little memory
# (as batches.micro_batch_seqs); beyond that, batching buys nothing.
CPU_TOKENS_PER_FORWARD = 16_384


@dataclass(frozen=True)
class RollingResult:
    nll: float  # summed next-token cross-entropy of every scored token, nats
    tokens: int  # tokens scored (end-of-text markers included)
    bytes: int  # UTF-8 bytes of the scored text (end-of-text markers count 0)
    context: int  # inputs per window
    stride: int  # tokens between window starts
    dtype: str  # "fp32", or "bf16" under autocast
    first_token: str  # how the text's first token was treated, in words

    @property
    def val_loss(self) -> float:
        return self.nll / self.tokens

    @property
    def val_ppl(self) -> float:
        # Guarded as in run_clm.py: a diverged model must not crash a summary.
        return math.exp(self.val_loss) if self.val_loss < 700 else math.inf

    @property
    def val_bpb(self) -> float:
        return self.nll / (math.log(2) * self.bytes)


@dataclass(frozen=True)
class Window:
    start: int  # first input position in the stream
    length: int  # inputs; the targets are stream[start + 1 : start + 1 + length]
    scored: int  # the last `scored` targets count


def plan_windows(n_ids: int, context: int, stride: int) -> list[Window]:
    """The windows over a stream of `n_ids` tokens whose targets are positions 1..n_ids-1.

    Window j starts at j*stride and ends at min(start + context, n_ids - 1) inputs; it
    scores the targets past the previous window's end.
    """
    if not 1 <= stride <= context:
        raise ScaleError(f"stride {stride} must be between 1 and the context ({context}); "
                         "a larger stride would leave tokens unscored")
    windows: list[Window] = []
    done = 0  # targets 1..done are scored
    start = 0
    while done < n_ids - 1:
        end = min(start + context, n_ids - 1)
        windows.append(Window(start, end - start, end - done))
        done = end
        start += stride
    return windows


def forward_bytes_per_token(vocab_size: int, width: int, n_head: int, context: int) -> int:
    """Rough peak memory of an inference forward pass, per token of a window.

    fp32 logits (4 V), the float copy and the log-softmax that cross-entropy makes (8 V),
    a few live d-wide activations (64 d, one layer at a time: nothing is kept for backward)
    and one layer's attention scores where SDPA falls back to materialising them (4 H T).
    """
    return 12 * vocab_size + 64 * width + 4 * n_head * context


def free_bytes(device: torch.device) -> int:
    """Memory free for a new allocation: the GPU's free memory, or the host's available."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    return int(psutil.virtual_memory().available)


def windows_per_forward(device: torch.device, context: int, per_token: int) -> int:
    """How many full windows one forward pass takes: under 40% of the free memory."""
    budget = int(0.4 * free_bytes(device) / max(1, per_token))
    if device.type != "cuda":
        budget = min(budget, CPU_TOKENS_PER_FORWARD)
    return max(1, budget // context)


@torch.inference_mode()
def score_ids(model: Any, ids: Sequence[int] | torch.Tensor, *, context: int,
              stride: int | None = None, device: torch.device | None = None,
              autocast: torch.dtype | None = None, batch_windows: int | None = None
              ) -> tuple[float, int]:
    """Summed cross-entropy (nats) and count of stream[1:], every token predicted once.

    `ids[0]` is context only. `autocast` is None for fp32 (the sweep's rule for its own
    evaluation) or torch.bfloat16; the cross-entropy is always taken on fp32 logits and
    summed in float64, so the total does not depend on how windows are batched.
    """
    device = device or next(model.parameters()).device
    stride = stride or context
    stream = torch.as_tensor(ids, dtype=torch.long).flatten()
    if stream.numel() < 2:
        raise ScaleError("the held-out text is shorter than two tokens; there is nothing to "
                         "predict")
    windows = plan_windows(stream.numel(), context, stride)
    if batch_windows is None:
        cfg = model.config
        per_token = forward_bytes_per_token(
            cfg.vocab_size, getattr(cfg, "hidden_size", 0) or 0,
            getattr(cfg, "num_attention_heads", 1) or 1, context)
        batch_windows = windows_per_forward(device, context, per_token)
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    # Windows of one length share a forward pass; only the last one can be shorter.
    i = 0
    while i < len(windows):
        group = [windows[i]]
        while (len(group) < batch_windows and i + len(group) < len(windows)
               and windows[i + len(group)].length == group[0].length):
            group.append(windows[i + len(group)])
        i += len(group)
        length = group[0].length
        x = torch.stack([stream[w.start : w.start + length] for w in group]).to(device)
        y = torch.stack([stream[w.start + 1 : w.start + 1 + length] for w in group]).to(device)
        # Targets before a window's scored tail were scored by an earlier window: ignore.
        skip = torch.tensor([length - w.scored for w in group], device=device)
        keep = torch.arange(length, device=device)[None, :] >= skip[:, None]
        y = y.masked_fill(~keep, -100)
        with torch.autocast(device.type, dtype=autocast or torch.float32,
                            enabled=autocast is not None):
            logits = model(input_ids=x, use_cache=False).logits  # (B, T, V)
        losses = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none",
                                 ignore_index=-100)
        total += losses.double().sum()
        count += sum(w.scored for w in group)
    model.train(was_training)
    return float(total.item()), count


# ---------------------------------------------------------------------------------------
# Text -> the token stream and its bytes


@dataclass(frozen=True)
class Stream:
    ids: list[int]  # ids[0] is context only
    bytes: int  # UTF-8 bytes of the text that ids[1:] covers
    first_token: str  # how the text's first token was treated, in words


def prefix_id(tokenizer: Any) -> int | None:
    """lm-evaluation-harness's prefix token: BOS if the tokenizer has one, else EOS."""
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    return None


def encode_text(tokenizer: Any, docs: str | Sequence[str], *, eos_after_last: bool = True
                ) -> Stream:
    """One stream of `docs` in the model's own tokenizer: [prefix] doc EOS doc EOS ...

    Documents are tokenized one by one (no special tokens added by the tokenizer), so a
    merge never crosses a document boundary, as in the sweep's own data. Without an EOS
    the documents are joined by a blank line, which is then scored as text.
    """
    docs = [docs] if isinstance(docs, str) else list(docs)
    eos = tokenizer.eos_token_id
    if eos is None and len(docs) > 1:
        docs = ["\n\n".join(docs)]
    if not any(docs):
        raise ScaleError("the held-out text is empty; there is nothing to score")
    prefix = prefix_id(tokenizer)
    need_offsets = prefix is None
    if need_offsets and not getattr(tokenizer, "is_fast", False):
        raise ScaleError(f"the tokenizer {type(tokenizer).__name__} has no BOS or EOS token "
                         "and no fast version, so the first token's bytes cannot be found; "
                         "use a model whose tokenizer has tokenizer.json (a fast tokenizer)")
    encoded = tokenizer(docs, add_special_tokens=False, return_offsets_mapping=need_offsets,
                        verbose=False)
    ids: list[int] = [] if prefix is None else [prefix]
    for n, doc_ids in enumerate(encoded["input_ids"]):
        ids.extend(doc_ids)
        if eos is not None and (eos_after_last or n < len(docs) - 1):
            ids.append(int(eos))
    n_bytes = sum(len(doc.encode("utf-8")) for doc in docs)
    if prefix is not None:
        how = f"predicted after the prefix token {tokenizer.convert_ids_to_tokens(prefix)!r}"
        return Stream(ids, n_bytes, how)
    # No prefix: the first token is context only, and so are its bytes (by character
    # offsets: a token that ends inside a character counts that whole character).
    first_doc = next(i for i, d in enumerate(encoded["input_ids"]) if d)
    end = encoded["offset_mapping"][first_doc][0][1]
    unscored = sum(len(d.encode("utf-8")) for d in docs[:first_doc])
    unscored += len(docs[first_doc][:end].encode("utf-8"))
    return Stream(ids, n_bytes - unscored, "unscored (no BOS/EOS prefix); its bytes excluded")


def model_context(model: Any, tokenizer: Any | None = None) -> int:
    """The model's own context: its position limit, else the tokenizer's max length."""
    cfg = model.config
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**9:
        return limit
    raise ScaleError(f"cannot tell the context of {type(model).__name__}; pass a context")


def evaluate_text(model: Any, tokenizer: Any, docs: str | Sequence[str], *,
                  context: int | None = None, stride: int | None = None,
                  device: torch.device | None = None,
                  autocast: torch.dtype | str | None = "auto",
                  eos_after_last: bool = True) -> RollingResult:
    """Rolling-window loss and bits per byte of `model` over `docs` (a text or documents).

    `autocast="auto"` is bf16 on CUDA and fp32 elsewhere; pass None to force fp32.
    """
    device = device or next(model.parameters()).device
    if autocast == "auto":
        autocast = torch.bfloat16 if device.type == "cuda" else None
    own = model_context(model, tokenizer)
    context = context or own
    if context > own:
        raise ScaleError(f"context {context} is longer than the model's {own} positions; "
                         f"use at most {own}")
    stride = stride or context
    stream = encode_text(tokenizer, docs, eos_after_last=eos_after_last)
    nll, tokens = score_ids(model, stream.ids, context=context, stride=stride, device=device,
                            autocast=autocast)  # type: ignore[arg-type]
    return RollingResult(nll=nll, tokens=tokens, bytes=max(1, stream.bytes), context=context,
                         stride=stride, dtype="bf16" if autocast is not None else "fp32",
                         first_token=stream.first_token)
