"""Trained models from outside the sweep's loop: a hub model, a local folder, or a sweep's run.

A reference is one of
- `hf:ORG/NAME`: a Hugging Face hub id (`hf:gpt2`, `hf:EleutherAI/pythia-70m`);
- a folder that `from_pretrained` loads (config.json, weights, tokenizer files);
- `runs/RUN_ID` inside a sweep's output folder (or the path of such a folder): a run saved
  by `train.save_final`, whose tokenizer is the sweep's own `tokenizer.json`.

Parameter counts are measured on the model's modules, so any architecture counts the same
way as the sweep's GPT-2 (`model.count_params`): tied weights once; non-embedding N without
the token and position embeddings nor an untied output embedding (Kaplan et al. 2020; the
Pythia suite counts 18.9M of pythia-70m's 70.4M this way, both 50304 x 512 embeddings out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scalecli.errors import ScaleError, first_line
from scalecli.sweep.model import ParamCounts
from scalecli.sweep.rolling import (
    RollingResult,
    evaluate_text,
    forward_bytes_per_token,
    free_bytes,
    model_context,
    score_ids,
)

HUB = "hf:"
# Memory the whole load may take of what is free: the rest is for the allocator's slack.
FIT_FRACTION = 0.9


class TooLarge(ScaleError):
    """The model does not fit the device: a `failed` row with this line, not a stopped sweep."""


@dataclass(frozen=True)
class ModelRef:
    kind: str  # "hub", "folder" or "run"
    source: str  # what from_pretrained is given: the hub id or the folder
    label: str  # as the user wrote it

    @property
    def path(self) -> Path:
        return Path(self.source)


def resolve(text: str, out_dir: Path | None = None) -> ModelRef:
    """The model a reference names, checked to exist (a hub id is checked when loaded)."""
    text = str(text).strip()
    if text.startswith(HUB):
        name = text[len(HUB):].strip("/")
        if not name or name.count("/") > 1 or " " in name:
            raise ScaleError(f"checkpoint '{text}': a hub model is written hf:ORG/NAME, "
                             "e.g. hf:EleutherAI/pythia-70m or hf:gpt2")
        return ModelRef("hub", name, text)
    path = Path(text).expanduser()
    if out_dir is not None and not path.is_absolute() and path.parts[:1] == ("runs",):
        path = Path(out_dir) / path
    if not path.is_dir():
        # `gpt2` or `EleutherAI/pythia-70m` written without the prefix: say how.
        looks_hub = text.count("/") <= 1 and not text.startswith((".", "/", "~", "runs/"))
        hint = f"; a hub model is written {HUB}{text}" if looks_hub else ""
        raise ScaleError(f"checkpoint '{text}': no such folder ({path}){hint}")
    if (path / "run.json").is_file():
        if not (path / "model.safetensors").is_file():
            raise ScaleError(f"checkpoint '{text}': the run has no saved model; only runs that "
                             "finished ok save their weights (see status in results.csv)")
        return ModelRef("run", str(path), text)
    if not (path / "config.json").is_file():
        raise ScaleError(f"checkpoint '{text}': {path} has no config.json; give a folder "
                         "written by save_pretrained, or hf:ORG/NAME for a hub model")
    return ModelRef("folder", str(path), text)


def _offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; a later export counts too.
    from huggingface_hub import is_offline_mode

    return is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {
        "1", "ON", "YES", "TRUE"}


def _hub_error(ref: ModelRef, error: Exception, what: str) -> ScaleError:
    message = first_line(error)
    if "trust_remote_code" in str(error):
        return ScaleError(f"checkpoint '{ref.label}' runs its own code from the hub; pass "
                          "--trust-remote-code if you trust it")
    if ref.kind == "hub" and _offline():
        return ScaleError(f"checkpoint '{ref.label}' is not in the local Hugging Face cache and "
                          f"HF_HUB_OFFLINE=1 is set; download it once online (hf download "
                          f"{ref.source}) or unset HF_HUB_OFFLINE")
    where = "the Hugging Face hub" if ref.kind == "hub" else ref.source
    return ScaleError(f"checkpoint '{ref.label}': cannot load its {what} from {where}: "
                      f"{message}")


def load_config(ref: ModelRef, trust_remote_code: bool = False) -> Any:
    """The model's config, checked to describe a decoder-only causal LM."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    try:
        config = AutoConfig.from_pretrained(ref.source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise _hub_error(ref, error, "config") from None
    kind = getattr(config, "model_type", "?")
    remote = "AutoModelForCausalLM" in (getattr(config, "auto_map", None) or {})
    # BERT-like models also have a CausalLM head class, but trained bidirectionally their
    # loss would see the very token it predicts: only decoder-only models are measured.
    if kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES or getattr(config, "is_encoder_decoder", False):
        raise ScaleError(f"checkpoint '{ref.label}' is a {kind} model (an encoder or "
                         "encoder-decoder), not a causal LM; use a decoder-only model such "
                         "as GPT-2, Pythia or Llama")
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not remote:
        raise ScaleError(f"checkpoint '{ref.label}': transformers has no causal LM for model "
                         f"type '{kind}'; use a decoder-only model such as GPT-2 or Pythia")
    return config


def count_params(model: Any) -> ParamCounts:
    """Total, non-embedding and matmul parameters of any causal LM, and training FLOPs/token.

    Embedding parameters are the weights of every `nn.Embedding` (token, position, token
    type: lookups, not matmuls) and an untied output embedding. Matmul weights are the
    2-D weights outside `nn.Embedding`s plus the output head (once, when tied). FLOPs per
    token as `model.flops_per_token`: 6 per matmul weight plus the attention term
    12 n_layer d n_ctx (PaLM, Appendix B).
    """
    params = {id(p): p for p in model.parameters()}  # shared (tied) tensors once
    total = sum(p.numel() for p in params.values())
    lookups = {id(m.weight): m.weight for m in model.modules()
               if isinstance(m, torch.nn.Embedding)}
    head = model.get_output_embeddings()
    head_weight = getattr(head, "weight", None)
    embedding = sum(p.numel() for p in lookups.values())
    tied = head_weight is not None and id(head_weight) in lookups
    if head_weight is not None and not tied:
        embedding += head_weight.numel()
    matmul = sum(p.numel() for key, p in params.items() if p.dim() == 2 and key not in lookups)
    if tied:
        matmul += head_weight.numel()
    cfg = model.config
    n_layer = getattr(cfg, "num_hidden_layers", 0) or 0
    width = getattr(cfg, "hidden_size", 0) or 0
    flops = 6 * matmul + 12 * n_layer * width * model_context(model)
    return ParamCounts(total, total - embedding, flops, matmul)


def counts_from_config(config: Any, trust_remote_code: bool = False) -> ParamCounts:
    """The counts without the weights: the model built on the meta device (no memory)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    return count_params(model)


def memory_problem(counts: ParamCounts, config: Any, device: torch.device,
                   context: int) -> str | None:
    """One line when fp32 weights plus one window's forward pass exceed the free memory."""
    width = getattr(config, "hidden_size", 0) or 0
    heads = getattr(config, "num_attention_heads", 1) or 1
    need = 4 * counts.params + context * forward_bytes_per_token(config.vocab_size, width,
                                                                 heads, context)
    free = free_bytes(device)
    if need <= FIT_FRACTION * free:
        return None
    return (f"too large for {device}: about {need / 2**30:.1f} GiB needed ({counts.params:,} "
            f"fp32 parameters and one {context}-token window), {free / 2**30:.1f} GiB free; "
            "use a device with more memory or a smaller model")


@dataclass
class Loaded:
    ref: ModelRef
    model: Any
    tokenizer: Any
    counts: ParamCounts
    context: int


def _run_tokenizer(ref: ModelRef, config: Any) -> Any:
    """The sweep's own tokenizer, with its end-of-text token as BOS and EOS."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(ref.path / "tokenizer.json"))
    eot = backend.id_to_token(int(config.eos_token_id))
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=eot, bos_token=eot)


def load_tokenizer(ref: ModelRef, config: Any, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    if ref.kind == "run":
        return _run_tokenizer(ref, config)
    try:
        return AutoTokenizer.from_pretrained(ref.source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError) as error:
        raise _hub_error(ref, error, "tokenizer") from None


def load(ref: ModelRef, device: torch.device | str = "cpu", *, trust_remote_code: bool = False,
         context: int | None = None) -> Loaded:
    """The model in fp32 on `device`, its tokenizer and its measured counts.

    Raises `TooLarge` (before any weight is read) when the model and one window's forward
    pass would not fit in the device's free memory.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    device = torch.device(device)
    config = load_config(ref, trust_remote_code)
    counts = counts_from_config(config, trust_remote_code)
    problem = memory_problem(counts, config, device, context or config_context(config))
    if problem:
        raise TooLarge(f"checkpoint '{ref.label}': {problem}")
    tokenizer = load_tokenizer(ref, config, trust_remote_code)
    hf_logging.disable_progress_bar()
    try:
        # dtype: transformers 5 loads in the checkpoint's dtype by default; evaluation keeps
        # fp32 weights (bf16 only as autocast on CUDA), as the sweep's own evaluation does.
        model = AutoModelForCausalLM.from_pretrained(ref.source, config=config,
                                                     dtype=torch.float32,
                                                     trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise _hub_error(ref, error, "weights") from None
    model = model.to(device).eval()
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        raise ScaleError(f"checkpoint '{ref.label}': its tokenizer has {len(tokenizer)} tokens "
                         f"but the model only {model.get_input_embeddings().weight.shape[0]} "
                         "embeddings; the tokenizer belongs to another model")
    return Loaded(ref, model, tokenizer, count_params(model), model_context(model, tokenizer))


def config_context(config: Any) -> int:
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


# ---------------------------------------------------------------------------------------
# A sweep's own runs on the sweep's own held-out tokens


def sweep_heldout(out_dir: Path, trust_remote_code: bool = False) -> Any:
    """The sweep's held-out data (`data.TokenData`), prepared again from its sweep.yaml.

    Tokenisation is cached under SCALECLI_CACHE, so this is quick after the sweep has run.
    The fingerprint must match data.json's: the same text and tokenizer as the runs saw.
    """
    from scalecli.results import read_json
    from scalecli.sweep.data import prepare
    from scalecli.sweep.parse import parse_spec, read_yaml

    sweep_file = Path(out_dir) / "sweep.yaml"
    if not sweep_file.is_file():
        raise ScaleError(f"{out_dir} has no sweep.yaml; give a sweep's output folder "
                         "(OUT/NAME, where results.csv is)")
    spec = parse_spec(read_yaml(sweep_file))
    data = prepare(spec.data, spec.eval.tokens, trust_remote_code)
    recorded = (read_json(Path(out_dir) / "data.json") or {}).get("fingerprint")
    if recorded and recorded != data.fingerprint:
        raise ScaleError(f"{spec.data.dataset} now gives data {data.fingerprint}, not the "
                         f"sweep's {recorded}: the corpus or tokenizer changed since the sweep")
    return data


def evaluate_sweep_run(out_dir: Path, run: str | Path, data: Any,
                       device: torch.device | str = "cpu") -> tuple[RollingResult, Loaded]:
    """A sweep's saved run on the sweep's held-out tokens, exactly as the sweep evaluated it.

    The same stream `data.val` (1 + k*context tokens, its first token context only), the
    same non-overlapping windows (stride = context), fp32, and the same bytes
    (`data.val_bytes`): its val_loss and val_bpb are the run's results.csv values.
    """
    text = str(run)
    ref = resolve(text if "/" in text else f"runs/{text}", out_dir)
    loaded = load(ref, device)
    if ref.kind == "run":
        saved = (ref.path / "tokenizer.json").read_text(encoding="utf-8")
        if saved != data.tokenizer_json:
            raise ScaleError(f"checkpoint '{ref.label}' has another tokenizer than this data; "
                             "evaluate it on the text instead (rolling.evaluate_text)")
    context = loaded.context
    if (data.val.size - 1) % context:
        raise ScaleError(f"checkpoint '{ref.label}' has a {context}-token context but the "
                         f"held-out stream is not whole windows of it ({data.val.size - 1} "
                         "tokens): it is another sweep's data")
    nll, tokens = score_ids(loaded.model, data.val, context=context, stride=context,
                            device=torch.device(device), autocast=None)
    result = RollingResult(nll=nll, tokens=tokens, bytes=data.val_bytes, context=context,
                           stride=context, dtype="fp32",
                           first_token="context only, as in the sweep's own evaluation")
    return result, loaded


def heldout_docs(data: Any) -> tuple[list[str], bool]:
    """The text of the sweep's held-out stream, cut into documents at end-of-text, and
    whether the last document is whole (the stream is cut at 1 + k*context tokens).

    What a model with another tokenizer is scored on (`evaluate_text(...,
    eos_after_last=whole)`), to compare its bits per byte with the sweep's runs on the same
    text.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(data.tokenizer_json)
    docs, piece = [], []
    for token_id in data.val.tolist():
        if token_id == data.eos_id:
            docs.append(tok.decode(piece))
            piece = []
        else:
            piece.append(token_id)
    if piece:
        docs.append(tok.decode(piece))
    return [d for d in docs if d], not piece



def on_own_stream(ref: ModelRef, data: Any, stride: int | None) -> bool:
    """Whether `ref` is a run with this data's tokenizer, at its own windows (stride =
    context): then it is scored on the sweep's token stream, as the sweep scores its runs."""
    if ref.kind != "run" or (ref.path / "tokenizer.json").read_text(
            encoding="utf-8") != data.tokenizer_json:
        return False
    return stride in (None, config_context(load_config(ref)))


def tokenizer_label(tokenizer: Any) -> str:
    """results.csv's `tokenizer` for a checkpoint: its model type and vocabulary, and a
    hash of its vocabulary, merges and pre-tokenisation, e.g. `BPE:50257#1f2e3d4c`.

    Equal for the same tokenizer under two names (gpt2 and gpt2-xl), different for two
    tokenizers of one vocabulary size: fit compares rows in loss only when it is equal.
    """
    import hashlib
    import json

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        kind = (spec.get("model") or {}).get("type", "?")
        blob = json.dumps({k: spec.get(k) for k in ("model", "normalizer", "pre_tokenizer")},
                          sort_keys=True)
    else:  # a slow tokenizer: its vocabulary is what we have
        kind = type(tokenizer).__name__.removesuffix("Tokenizer") or "?"
        blob = json.dumps(sorted(tokenizer.get_vocab().items()))
    digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
    return f"{kind}:{len(tokenizer)}#{digest}"


def evaluate_on_sweep(reference: str, out_dir: Path, data: Any, *,
                      device: torch.device | str = "cpu", stride: int | None = None,
                      trust_remote_code: bool = False) -> tuple[RollingResult, Loaded]:
    """Any checkpoint on a sweep's held-out data: what an evaluation-only run measures.

    A run of this sweep (its tokenizer, its context, no `stride` or stride = context) is
    scored on the sweep's own token stream, so its numbers are the sweep's. Any other
    model is scored on the same text (`heldout_docs`) in its own tokenizer and context,
    its first token predicted after the BOS/EOS prefix; compare it in bits per byte.
    Raises `TooLarge` for a model that does not fit the device.
    """
    ref = resolve(reference, out_dir)
    if on_own_stream(ref, data, stride):
        return evaluate_sweep_run(out_dir, ref.source, data, device)
    loaded = load(ref, device, trust_remote_code=trust_remote_code)
    docs, whole = heldout_docs(data)
    result = evaluate_text(loaded.model, loaded.tokenizer, docs, stride=stride,
                           device=torch.device(device), eos_after_last=whole)
    return result, loaded
