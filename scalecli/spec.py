"""The sweep file: YAML -> validated, frozen dataclasses -> one RunSpec per run.

Everything is checked before any compute is spent: unknown keys (with a "did you mean"),
wrong types, out-of-range values and impossible shapes each raise one ScaleError that
names the offending field. YAML holds values only; it is read with `yaml.safe_load`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scalecli.errors import ScaleError
from scalecli.model import DEFAULT_ACTIVATION
from scalecli.sizes import SIZES


@dataclass(frozen=True)
class DataSpec:
    dataset: str = "embedded:shakespeare"
    """`embedded:shakespeare`, a hub dataset id, or local .txt/.jsonl/.parquet files or globs."""
    config: str | None = None
    """Hub dataset configuration name, if it has several."""
    split: str = "train"
    """Hub split to train on."""
    val_split: str | None = None
    """Hub split to evaluate on; if unset, whole documents are held out (see val_frac)."""
    text_column: str = "text"
    """Column holding the text in hub, .jsonl and .parquet data."""
    val_frac: float = 0.1
    """Fraction of documents held out for validation when there is no val_split."""
    max_documents: int | None = None
    """Use only the first this-many documents of the training split (for big hub sets)."""
    tokenizer: str = "bpe:1024"
    """`bpe:N` trains a byte-level BPE with N tokens on the training split; any other value
    is an HF tokenizer name or a local path."""
    context: int = 128
    """Tokens per training sequence (n_positions)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    extra: tuple[tuple[str, Any], ...] = ()
    """Other GPT2Config fields, e.g. activation_function or n_inner."""


@dataclass(frozen=True)
class BudgetSpec:
    tokens: tuple[int, ...] | None = None
    """Training tokens per run; a list makes a grid (for iso-FLOP and Chinchilla fits)."""
    tokens_per_param: tuple[float, ...] | None = None
    """Alternatively, tokens = this * params (all parameters, as in Chinchilla's 20)."""


@dataclass(frozen=True)
class TrainSpec:
    batch_tokens: int = 8192
    """Tokens per optimizer step (sequences x context); a multiple of context."""
    micro_batch_tokens: int | None = None
    """Tokens per forward pass; gradient accumulation makes up batch_tokens. Default: auto."""
    lr: tuple[float, ...] = (3e-3,)
    """Peak learning rate; a list makes a grid."""
    lr_rule: str = "constant"
    """`constant`, or `inverse_width`: lr * lr_ref_width / n_embd (wider models want smaller)."""
    lr_ref_width: int = 64
    """The width at which lr applies as given, for lr_rule inverse_width."""
    warmup_frac: float = 0.05
    """Fraction of the run's steps spent in linear warmup."""
    min_lr_frac: float = 0.1
    """Cosine decay ends at this fraction of the peak, exactly at the run's last step."""
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    """Clip the global gradient norm to this; 0 turns clipping off."""
    seeds: tuple[int, ...] = (0,)
    eval_points: int = 8
    """Evaluations on the held-out tokens during a run (curve.csv), besides the final one."""
    diverge_factor: float = 4.0
    """A loss above this times its running minimum after warmup ends the run as diverged."""
    checkpoint_every_s: float = 120.0
    """Seconds between mid-run checkpoints (for resuming after a crash); 0 turns them off."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about 30% more compute."""


@dataclass(frozen=True)
class EvalSpec:
    tokens: int = 200_000
    """Held-out tokens, the same for every run of the sweep (fewer if the split is smaller)."""
    batch_tokens: int = 16_384
    """Tokens per evaluation forward pass."""


@dataclass(frozen=True)
class RuntimeSpec:
    device: str = "auto"
    """cpu | cuda | auto."""
    dtype: str = "auto"
    """auto | fp32 | bf16. auto: bf16 autocast on CUDA GPUs with bf16 and on CPUs with
    native bf16 matmuls, fp32 otherwise; one dtype for every size. Master weights are
    always fp32."""
    compile: str = "auto"
    """auto | on | off. auto compiles only when the run is long enough to repay it."""
    threads: int | None = None
    """CPU threads for torch; default: the physical cores (with executor ray: cpus_per_run)."""
    executor: str = "local"
    """local | ray. ray: every run is a Ray task, on this machine or on a Ray cluster."""
    ray_address: str | None = None
    """With executor ray: the cluster to join (e.g. auto, ray://head:10001). Default:
    $RAY_ADDRESS if set, else a Ray instance started on this machine."""
    cpus_per_run: int = 1
    """With executor ray: CPUs Ray reserves for each run."""
    gpus_per_run: float | None = None
    """With executor ray: GPUs Ray reserves for each run. Default: 1 when device is cuda."""


@dataclass(frozen=True)
class SweepSpec:
    name: str
    data: DataSpec
    models: tuple[ModelSpec, ...]
    budget: BudgetSpec
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    out: str = "out"
    """Output root; results go to OUT/NAME/."""


@dataclass(frozen=True)
class RunSpec:
    """One training run: a model, a budget, a learning rate and a seed."""

    sweep: str
    model: ModelSpec
    tokens: int  # actual training tokens: steps * batch_tokens
    steps: int
    lr: float  # the peak lr actually used, after lr_rule
    lr_base: float  # the sweep's lr before lr_rule
    seed: int
    data: DataSpec
    train: TrainSpec
    eval: EvalSpec
    runtime: RuntimeSpec

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """Everything that defines the run's result: runtime settings excluded."""
        train = asdict(self.train)
        for key in ("lr", "seeds", "checkpoint_every_s", "eval_points"):
            train.pop(key)
        return {
            "model": asdict(self.model) | {"name": None},
            # The default activation is part of what was trained, though no file names it.
            "activation": dict(self.model.extra).get("activation_function", DEFAULT_ACTIVATION),
            "tokens": self.tokens,
            "lr": self.lr,
            "seed": self.seed,
            "context": self.data.context,
            "tokenizer": self.data.tokenizer,
            "data_fingerprint": fingerprint,
            "eval_tokens": self.eval.tokens,
            "train": train,
        }

    def run_id(self, fingerprint: str) -> str:
        blob = json.dumps(self.identity(fingerprint), sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{self.model.name}-t{_short(self.tokens)}-lr{self.lr:.3g}-s{self.seed}-{digest}"


def _short(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n))


# ---------------------------------------------------------------------------------------
# Parsing


_GPT2_FIELDS_CACHE: set[str] | None = None


def _gpt2_fields() -> set[str]:
    global _GPT2_FIELDS_CACHE
    if _GPT2_FIELDS_CACHE is None:
        from transformers import GPT2Config

        _GPT2_FIELDS_CACHE = set(GPT2Config().to_dict())
    return _GPT2_FIELDS_CACHE


def _did_you_mean(key: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _number(value: Any, where: str, kind: type) -> Any:
    # PyYAML reads `1e6` (no dot) as a string: accept numeric strings for numeric fields.
    if isinstance(value, bool):
        raise ScaleError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.replace("_", ""))
        except ValueError:
            raise ScaleError(f"{where}: expected a number, got {value!r}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScaleError(f"{where}: expected a number, got {value!r}")
    if kind is int:
        if float(value) != int(value):
            raise ScaleError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if origin is tuple:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ScaleError(f"{where}: the list is empty; give at least one value")
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(items))
    if hint in (int, float):
        return _number(value, where, hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ScaleError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if isinstance(value, bool) and where.endswith("compile"):
            return "on" if value else "off"
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ScaleError(f"{where}: expected text, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported field type {hint!r}")


def _section(cls: type, raw: Any, where: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScaleError(f"{where}: expected a mapping of settings, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values = {}
    for key, value in raw.items():
        if key not in names:
            raise ScaleError(f"{where}: unknown key '{key}'{_did_you_mean(str(key), names)}")
        values[key] = _convert(value, hints[key], f"{where}.{key}")
    return cls(**values)


def _model(raw: Any, index: int) -> ModelSpec:
    where = f"models[{index}]"
    if isinstance(raw, str):
        if raw not in SIZES:
            raise ScaleError(f"{where}: unknown size '{raw}'{_did_you_mean(raw, SIZES)}; "
                             f"known sizes: {', '.join(SIZES)}")
        raw = {"name": raw, **SIZES[raw]}
    if not isinstance(raw, dict):
        raise ScaleError(f"{where}: expected a size name or a mapping like "
                         "{name: s1, n_layer: 2, n_embd: 32, n_head: 2}")
    raw = dict(raw)
    base = raw.pop("size", None)
    if base is not None:
        if base not in SIZES:
            hint = _did_you_mean(str(base), SIZES)
            raise ScaleError(f"{where}.size: unknown size '{base}'{hint}")
        raw = {**SIZES[base], "name": base, **raw}
    shape = {}
    for key in ("n_layer", "n_embd", "n_head"):
        if key not in raw:
            raise ScaleError(f"{where}: missing '{key}'")
        shape[key] = _number(raw.pop(key), f"{where}.{key}", int)
        if shape[key] <= 0:
            raise ScaleError(f"{where}.{key} must be positive, got {shape[key]}")
    if shape["n_embd"] % shape["n_head"]:
        raise ScaleError(f"{where}: n_embd={shape['n_embd']} is not divisible by "
                         f"n_head={shape['n_head']}; pick n_head that divides n_embd")
    name = str(raw.pop("name", f"L{shape['n_layer']}d{shape['n_embd']}"))
    managed = {"n_positions", "n_ctx", "vocab_size"}
    allowed = _gpt2_fields() - managed
    for key in raw:
        if key in managed:
            raise ScaleError(f"{where}.{key}: set by the sweep (data.context and the tokenizer); "
                             "remove it from the model")
        if key not in allowed:
            raise ScaleError(f"{where}: unknown key '{key}'{_did_you_mean(key, [*allowed, 'name'])}"
                             "; use n_layer, n_embd, n_head or another GPT2Config field")
    return ModelSpec(name=name, **shape, extra=tuple(sorted(raw.items())))


def _positive(value: float | None, where: str, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ScaleError(f"{where} must be {'>= 0' if allow_zero else 'positive'}, got {value}")


def _check(spec: SweepSpec) -> None:
    d, t, e, r = spec.data, spec.train, spec.eval, spec.runtime
    _positive(d.context, "data.context")
    if not 0 < d.val_frac < 1:
        raise ScaleError(f"data.val_frac must be between 0 and 1, got {d.val_frac}")
    _positive(d.max_documents, "data.max_documents")
    if d.tokenizer.startswith("bpe:"):
        size = d.tokenizer[4:]
        if not size.isdigit() or not 257 <= int(size) <= 1_000_000:
            raise ScaleError(f"data.tokenizer '{d.tokenizer}': bpe:N needs a whole N from 257 "
                             "(the 256 bytes plus end-of-text) upwards, e.g. bpe:1024")
    b = spec.budget
    if (b.tokens is None) == (b.tokens_per_param is None):
        raise ScaleError("budget: give exactly one of 'tokens' or 'tokens_per_param'")
    for i, v in enumerate(b.tokens or ()):
        _positive(v, f"budget.tokens[{i}]")
    for i, v in enumerate(b.tokens_per_param or ()):
        _positive(v, f"budget.tokens_per_param[{i}]")
    _positive(t.batch_tokens, "train.batch_tokens")
    if t.batch_tokens % d.context:
        raise ScaleError(f"train.batch_tokens={t.batch_tokens} is not a multiple of "
                         f"data.context={d.context}; "
                         f"try {max(1, t.batch_tokens // d.context) * d.context}")
    if t.micro_batch_tokens is not None:
        _positive(t.micro_batch_tokens, "train.micro_batch_tokens")
        if t.batch_tokens % t.micro_batch_tokens or t.micro_batch_tokens % d.context:
            raise ScaleError("train.micro_batch_tokens must divide train.batch_tokens and be a "
                             "multiple of data.context")
    for i, v in enumerate(t.lr):
        _positive(v, f"train.lr[{i}]")
    if t.lr_rule not in ("constant", "inverse_width"):
        raise ScaleError(f"train.lr_rule: '{t.lr_rule}' is not one of constant, inverse_width")
    _positive(t.lr_ref_width, "train.lr_ref_width")
    if not 0 <= t.warmup_frac < 1:
        raise ScaleError(f"train.warmup_frac must be in [0, 1), got {t.warmup_frac}")
    if not 0 <= t.min_lr_frac <= 1:
        raise ScaleError(f"train.min_lr_frac must be in [0, 1], got {t.min_lr_frac}")
    _positive(t.weight_decay, "train.weight_decay", allow_zero=True)
    _positive(t.grad_clip, "train.grad_clip", allow_zero=True)
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(t, name) < 1:
            raise ScaleError(f"train.{name} must be in [0, 1), got {getattr(t, name)}")
    if any(s < 0 for s in t.seeds):
        raise ScaleError("train.seeds must be >= 0")
    _positive(t.eval_points, "train.eval_points", allow_zero=True)
    if t.diverge_factor <= 1:
        raise ScaleError(f"train.diverge_factor must be > 1, got {t.diverge_factor}")
    _positive(t.checkpoint_every_s, "train.checkpoint_every_s", allow_zero=True)
    _positive(e.tokens, "eval.tokens")
    _positive(e.batch_tokens, "eval.batch_tokens")
    if e.tokens < d.context + 1:
        raise ScaleError(f"eval.tokens={e.tokens} is shorter than one sequence "
                         f"(data.context + 1 = {d.context + 1})")
    for name, options in (("device", ("auto", "cpu", "cuda")), ("dtype", ("auto", "fp32", "bf16")),
                          ("compile", ("auto", "on", "off")), ("executor", ("local", "ray"))):
        value = getattr(r, name)
        if value not in options and not (name == "device" and value.startswith("cuda:")):
            raise ScaleError(f"runtime.{name}: '{value}' is not one of {', '.join(options)}")
    _positive(r.threads, "runtime.threads")
    _positive(r.cpus_per_run, "runtime.cpus_per_run")
    _positive(r.gpus_per_run, "runtime.gpus_per_run", allow_zero=True)
    names = [m.name for m in spec.models]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ScaleError(f"models: names must be unique, '{sorted(duplicates)[0]}' appears twice")
    if not spec.name or any(c in spec.name for c in "/\\") or spec.name.startswith("."):
        raise ScaleError(f"name: '{spec.name}' must be a plain folder name")


SECTIONS = {"data": DataSpec, "budget": BudgetSpec, "train": TrainSpec, "eval": EvalSpec,
            "runtime": RuntimeSpec}
TOP_KEYS = ("name", "data", "models", "budget", "train", "eval", "runtime", "out")


def parse_spec(raw: Any) -> SweepSpec:
    """Validate a sweep file's content (a dict from YAML) into a SweepSpec."""
    if not isinstance(raw, dict):
        raise ScaleError("the sweep file must be a YAML mapping with name, data, models and budget")
    for key in raw:
        if key not in TOP_KEYS:
            raise ScaleError(f"unknown key '{key}'{_did_you_mean(str(key), TOP_KEYS)}; "
                             f"the top level holds {', '.join(TOP_KEYS)}")
    for key in ("name", "models", "budget"):
        if key not in raw:
            raise ScaleError(f"the sweep file has no '{key}'")
    models = raw["models"]
    if not isinstance(models, list) or not models:
        raise ScaleError("models: expected a non-empty list of sizes")
    spec = SweepSpec(
        name=_convert(raw["name"], str, "name"),
        data=_section(DataSpec, raw.get("data"), "data"),
        models=tuple(_model(m, i) for i, m in enumerate(models)),
        budget=_section(BudgetSpec, raw["budget"], "budget"),
        train=_section(TrainSpec, raw.get("train"), "train"),
        eval=_section(EvalSpec, raw.get("eval"), "eval"),
        runtime=_section(RuntimeSpec, raw.get("runtime"), "runtime"),
        out=_convert(raw.get("out", "out"), str, "out"),
    )
    _check(spec)
    return spec


def read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScaleError(f"sweep file {path} does not exist") from None
    except IsADirectoryError:
        raise ScaleError(f"sweep file {path} is a folder; give a .yaml file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScaleError(f"cannot read sweep file {path}: {error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ScaleError(f"{path}: malformed YAML{at}: {problem}") from None
    if raw is None:
        raise ScaleError(f"{path} is empty; see sweeps/default.yaml for an example")
    return raw


def default_sweep_path() -> Path:
    """The default sweep: installed as scalecli/sweeps/, or sweeps/ in a source checkout."""
    here = Path(__file__).resolve().parent
    for folder in (here / "sweeps", here.parent / "sweeps"):
        if (folder / "default.yaml").exists():
            return folder / "default.yaml"
    raise ScaleError("the packaged sweeps/default.yaml is missing; reinstall scalecli, "
                     "or pass a sweep file")


def _split_numbers(text: str, where: str, kind: type) -> list[Any]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise ScaleError(f"{where}: give at least one value")
    return [_number(p, where, kind) for p in parts]


def apply_overrides(raw: dict[str, Any], *, out: str | None = None, device: str | None = None,
                    tokens: str | None = None, seeds: str | None = None,
                    executor: str | None = None, ray_address: str | None = None
                    ) -> dict[str, Any]:
    """Command-line overrides, applied to the raw dict so they pass the same checks."""
    raw = dict(raw)
    if out is not None:
        raw["out"] = out
    for key, value in (("device", device), ("executor", executor), ("ray_address", ray_address)):
        if value is not None:
            raw["runtime"] = {**(raw.get("runtime") or {}), key: value}
    if tokens is not None:
        raw["budget"] = {"tokens": _split_numbers(tokens, "--tokens", int)}
    if seeds is not None:
        raw["train"] = {**(raw.get("train") or {}), "seeds": _split_numbers(seeds, "--seeds", int)}
    return raw


def load_spec(path: Path | None = None, **overrides: Any) -> tuple[SweepSpec, dict[str, Any]]:
    """Read, override and validate a sweep file. Returns the spec and the resolved raw dict."""
    raw = read_yaml(path or default_sweep_path())
    if isinstance(raw, dict):
        raw = apply_overrides(raw, **overrides)
    return parse_spec(raw), raw


def lr_for(model: ModelSpec, lr: float, train: TrainSpec) -> float:
    if train.lr_rule == "inverse_width":
        # muP-style: the best Adam lr of the hidden matrices falls as 1/width.
        return lr * train.lr_ref_width / model.n_embd
    return lr


def expand(spec: SweepSpec, vocab_size: int) -> list[RunSpec]:
    """One RunSpec per (model, budget, lr, seed), smallest model first."""
    from scalecli.model import closed_form_counts

    runs = []
    for model in spec.models:
        extra = dict(model.extra)
        counts = closed_form_counts(n_layer=model.n_layer, n_embd=model.n_embd,
                                    vocab_size=vocab_size, n_ctx=spec.data.context,
                                    n_inner=extra.get("n_inner"))
        if spec.budget.tokens is not None:
            budgets = list(spec.budget.tokens)
        else:
            budgets = [tpp * counts.params for tpp in spec.budget.tokens_per_param or ()]
        for budget in budgets:
            steps = max(1, round(budget / spec.train.batch_tokens))
            for lr in spec.train.lr:
                for seed in spec.train.seeds:
                    runs.append(RunSpec(
                        sweep=spec.name, model=model, tokens=steps * spec.train.batch_tokens,
                        steps=steps, lr=lr_for(model, lr, spec.train), lr_base=lr, seed=seed,
                        data=spec.data, train=spec.train, eval=spec.eval, runtime=spec.runtime,
                    ))
    return runs


def with_runtime(spec: SweepSpec, **changes: Any) -> SweepSpec:
    return replace(spec, runtime=replace(spec.runtime, **changes))
