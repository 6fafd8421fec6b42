"""The sweep file: YAML -> validated, frozen dataclasses (`spec`).

Everything is checked before any compute is spent: unknown keys (with a "did you mean"),
wrong types, out-of-range values and impossible shapes each raise one ScaleError that
names the offending field. YAML holds values only; it is read with `yaml.safe_load`.
Command-line overrides are applied to the raw mapping, so they pass the same checks.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from scalecli.errors import ScaleError
from scalecli.sweep.overrides import apply_sets, data_name
from scalecli.sweep.sizes import SIZES
from scalecli.sweep.spec import (
    BudgetSpec,
    CheckpointSpec,
    DataSpec,
    EvalSpec,
    ModelSpec,
    RuntimeSpec,
    SweepSpec,
    TrainSpec,
    ValidateSpec,
)
from scalecli.sweep.validate import check

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
        if cls is TrainSpec and key == "lr" and value == "auto":
            values[key] = ()  # the search's marker: no lr given
            continue
        if cls is TrainSpec and key == "noise_seeds" and value in ([], None):
            values[key] = ()  # no extra seeds
            continue
        values[key] = _convert(value, hints[key], f"{where}.{key}")
    return cls(**values)


def _model(raw: Any, where: str) -> ModelSpec:
    if isinstance(raw, str):
        if raw.startswith("hf:") or "/" in raw:
            raise ScaleError(f"{where}: '{raw}' is not a size; to measure a trained model, "
                             f"write {{checkpoint: {raw}}}")
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


# A checkpoint's shape is its own config.json: these keys would contradict it.
SHAPE_KEYS = ("n_layer", "n_embd", "n_head", "size")


def _checkpoint(raw: dict[str, Any], where: str) -> CheckpointSpec:
    """A `models:` entry with `checkpoint:`: a trained model to measure, not to train."""
    for key in raw:
        if key in SHAPE_KEYS:
            raise ScaleError(f"{where}.{key}: a checkpoint's shape comes from its own config; "
                             f"remove {key}, or remove checkpoint to train this size")
    spec = _section(CheckpointSpec, raw, where)
    if not spec.checkpoint.strip():
        raise ScaleError(f"{where}.checkpoint is empty; give hf:ORG/NAME, a folder or "
                         "runs/RUN_ID")
    if spec.stride is not None and spec.stride <= 0:
        raise ScaleError(f"{where}.stride must be positive, got {spec.stride}")
    if spec.tokens_trained is not None and spec.tokens_trained <= 0:
        raise ScaleError(f"{where}.tokens_trained must be positive, got {spec.tokens_trained}")
    return spec


SECTIONS = {"data": DataSpec, "budget": BudgetSpec, "train": TrainSpec, "eval": EvalSpec,
            "runtime": RuntimeSpec}
TOP_KEYS = ("name", "data", "models", "budget", "train", "eval", "runtime", "out", "validate")
VALIDATE_KEYS = ("models", "flops")


def _validate(raw: Any) -> ValidateSpec:
    """The `validate:` block: sizes (`models`) and FLOP budgets (`flops`) past the ladder."""
    if raw is None:
        return ValidateSpec()
    if not isinstance(raw, dict):
        raise ScaleError(f"validate: expected a mapping with 'models' and/or 'flops', got "
                         f"{type(raw).__name__}, e.g. validate: {{models: [s8], flops: [8e12]}}")
    for key in raw:
        if key not in VALIDATE_KEYS:
            hint = _did_you_mean(str(key), VALIDATE_KEYS)
            raise ScaleError(f"validate: unknown key '{key}'{hint}; it holds models (sizes) "
                             "and flops (FLOP budgets)")
    models = raw.get("models")
    if models is None:
        models = []
    elif not isinstance(models, list):
        models = [models]  # one size, like a one-value budget
    elif not models:
        raise ScaleError("validate.models: the list is empty; give at least one size or "
                         "drop the key")
    flops = raw.get("flops")
    return ValidateSpec(
        models=tuple(_model(m, f"validate.models[{i}]") for i, m in enumerate(models)),
        flops=() if flops is None else _convert(flops, tuple[float, ...], "validate.flops"))


def parse_spec(raw: Any) -> SweepSpec:
    """Validate a sweep file's content (a dict from YAML) into a SweepSpec."""
    if not isinstance(raw, dict):
        raise ScaleError("the sweep file must be a YAML mapping with name, data, models and budget")
    for key in raw:
        if key not in TOP_KEYS:
            raise ScaleError(f"unknown key '{key}'{_did_you_mean(str(key), TOP_KEYS)}; "
                             f"the top level holds {', '.join(TOP_KEYS)}")
    for key in ("name", "models"):
        if key not in raw:
            raise ScaleError(f"the sweep file has no '{key}'")
    models = raw["models"]
    if not isinstance(models, list) or not models:
        raise ScaleError("models: expected a non-empty list of sizes")
    trained, checkpoints = [], []
    for i, m in enumerate(models):
        if isinstance(m, dict) and "checkpoint" in m:
            checkpoints.append(_checkpoint(m, f"models[{i}]"))
        else:
            trained.append(_model(m, f"models[{i}]"))
    # Only sizes that train need a budget: a sweep of checkpoints alone measures them.
    if trained and "budget" not in raw:
        raise ScaleError("the sweep file has no 'budget'")
    spec = SweepSpec(
        name=_convert(raw["name"], str, "name"),
        data=_section(DataSpec, raw.get("data"), "data"),
        models=tuple(trained),
        checkpoints=tuple(checkpoints),
        budget=(_section(BudgetSpec, raw["budget"], "budget") if "budget" in raw
                else BudgetSpec()),
        train=_section(TrainSpec, raw.get("train"), "train"),
        eval=_section(EvalSpec, raw.get("eval"), "eval"),
        runtime=_section(RuntimeSpec, raw.get("runtime"), "runtime"),
        out=_convert(raw.get("out", "out"), str, "out"),
        validate=_validate(raw.get("validate")),
    )
    check(spec)
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
    """The default sweep: installed as the package scalecli.presets (shipped from sweeps/),
    or sweeps/ beside the package in a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "presets", package.parent / "sweeps"):
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
                    executor: str | None = None, ray_address: str | None = None,
                    data: str | None = None, sets: typing.Sequence[str] = ()
                    ) -> dict[str, Any]:
    """Command-line overrides, applied to the raw dict so they pass the same checks.

    `--data` also names the sweep FILE_NAME-DATA_NAME (unless `--set name=` does): results
    of other data must not land in the file's own results.csv, where a fit would mix them.
    `--set` comes last, so it can change anything the other options set."""
    raw = dict(raw)
    if data is not None:
        raw["data"] = {**(raw.get("data") or {}), "dataset": data}
        raw["name"] = f"{raw.get('name', 'sweep')}-{data_name(data)}"
    if out is not None:
        raw["out"] = out
    for key, value in (("device", device), ("executor", executor), ("ray_address", ray_address)):
        if value is not None:
            raw["runtime"] = {**(raw.get("runtime") or {}), key: value}
    if tokens is not None:
        raw["budget"] = {"tokens": _split_numbers(tokens, "--tokens", int)}
    if seeds is not None:
        raw["train"] = {**(raw.get("train") or {}), "seeds": _split_numbers(seeds, "--seeds", int)}
    return apply_sets(raw, sets, {**dict.fromkeys(TOP_KEYS), **SECTIONS})


def load_spec(path: Path | None = None, **overrides: Any) -> tuple[SweepSpec, dict[str, Any]]:
    """Read, override and validate a sweep file. Returns the spec and the resolved raw dict."""
    raw = read_yaml(path or default_sweep_path())
    if isinstance(raw, dict):
        raw = apply_overrides(raw, **overrides)
    return parse_spec(raw), raw
