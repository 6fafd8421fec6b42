"""Range and consistency checks of a parsed sweep, before any compute is spent.

Types were checked while parsing (`parse`); these are the rules between values: a batch
that is a whole number of sequences, a tokenizer size that holds the bytes, one budget
kind, known runtime choices. Each failure is one ScaleError naming the field.
"""

from __future__ import annotations

from scalecli.errors import ScaleError
from scalecli.sweep.schedule import COOLDOWN_SHAPES, SCHEDULES
from scalecli.sweep.spec import SweepSpec, model_counts


def _positive(value: float | None, where: str, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ScaleError(f"{where} must be {'>= 0' if allow_zero else 'positive'}, got {value}")


def check(spec: SweepSpec) -> None:
    """Raise a ScaleError naming the first setting that is out of range or inconsistent."""
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
    if not spec.models and b.count:
        raise ScaleError("budget: every model is a checkpoint, so nothing trains; remove "
                         "budget (or add sizes to train)")
    if spec.models and sum(v is not None for v in (b.tokens, b.tokens_per_param,
                                                    b.flops)) != 1:
        raise ScaleError("budget: give exactly one of 'tokens', 'tokens_per_param' or 'flops'")
    for i, v in enumerate(b.flops or ()):
        _positive(v, f"budget.flops[{i}]")
    if b.flops is None and b.sizes_per_budget is not None:
        raise ScaleError("budget.sizes_per_budget needs budget.flops (a window of sizes per "
                         "FLOP budget); with token budgets every size trains at each")
    _positive(b.sizes_per_budget, "budget.sizes_per_budget")
    _positive(b.expected_tokens_per_param, "budget.expected_tokens_per_param")
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
    if t.parametrization not in ("mup", "standard"):
        raise ScaleError(f"train.parametrization: '{t.parametrization}' is not one of mup, "
                         "standard")
    if t.parametrization == "mup" and t.lr_rule != "constant":
        raise ScaleError("train.lr_rule: inverse_width is for parametrization standard; muP "
                         "already scales the hidden matrices' lr by lr_ref_width / n_embd. "
                         "Set lr_rule: constant with parametrization: mup")
    _positive(t.lr_ref_width, "train.lr_ref_width")
    if not 0 <= t.warmup_frac < 1:
        raise ScaleError(f"train.warmup_frac must be in [0, 1), got {t.warmup_frac}")
    if not 0 <= t.min_lr_frac <= 1:
        raise ScaleError(f"train.min_lr_frac must be in [0, 1], got {t.min_lr_frac}")
    _check_schedule(spec)
    _positive(t.weight_decay, "train.weight_decay", allow_zero=True)
    _positive(t.grad_clip, "train.grad_clip", allow_zero=True)
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(t, name) < 1:
            raise ScaleError(f"train.{name} must be in [0, 1), got {getattr(t, name)}")
    if any(s < 0 for s in t.seeds + t.noise_seeds):
        raise ScaleError("train.seeds and train.noise_seeds must be >= 0")
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
    _check_workers(spec)
    names = [m.name for m in spec.models] + [c.name for c in spec.checkpoints if c.name]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ScaleError(f"models: names must be unique, '{sorted(duplicates)[0]}' appears twice")
    if not spec.name or any(c in spec.name for c in "/\\") or spec.name.startswith("."):
        raise ScaleError(f"name: '{spec.name}' must be a plain folder name")
    _check_validation(spec)


def _check_workers(spec: SweepSpec) -> None:
    """Data-parallel workers split every batch into equal whole sequences."""
    k, t, context = spec.runtime.workers_per_run, spec.train, spec.data.context
    _positive(k, "runtime.workers_per_run")
    seqs = t.batch_tokens // context
    if seqs % k:
        raise ScaleError(f"runtime.workers_per_run={k} does not divide the {seqs} sequences of "
                         f"a batch (train.batch_tokens / data.context); use a batch of "
                         f"{max(k, seqs // k * k) * context} tokens")
    if t.micro_batch_tokens is not None and (t.batch_tokens // k) % t.micro_batch_tokens:
        raise ScaleError(f"train.micro_batch_tokens={t.micro_batch_tokens} must divide each "
                         f"worker's share of the batch ({t.batch_tokens // k} tokens with "
                         f"workers_per_run {k})")
    if k > 1 and spec.runtime.device.startswith("cuda:"):
        raise ScaleError(f"runtime.device {spec.runtime.device} names one GPU, and "
                         f"workers_per_run={k} needs {k}; use device: cuda "
                         "(CUDA_VISIBLE_DEVICES chooses which GPUs)")


def _check_schedule(spec: SweepSpec) -> None:
    t = spec.train
    if t.schedule not in SCHEDULES:
        raise ScaleError(f"train.schedule: '{t.schedule}' is not one of {', '.join(SCHEDULES)}")
    if t.cooldown_shape not in COOLDOWN_SHAPES:
        raise ScaleError(f"train.cooldown_shape: '{t.cooldown_shape}' is not one of "
                         f"{', '.join(COOLDOWN_SHAPES)}")
    if not 0 < t.cooldown_frac < 1:
        raise ScaleError(f"train.cooldown_frac must be between 0 and 1 (exclusive), got "
                         f"{t.cooldown_frac}; 0.2 is the usual WSD cooldown")
    if t.schedule == "wsd" and t.warmup_frac + t.cooldown_frac > 1:
        # The shortest branch warms up over warmup_frac of its steps and cools down over
        # its last cooldown_frac: with more than 1 together its cooldown would start first.
        raise ScaleError(f"train.cooldown_frac={t.cooldown_frac} with warmup_frac="
                         f"{t.warmup_frac}: the shortest branch's cooldown would start before "
                         "its warmup ends; make warmup_frac + cooldown_frac at most 1")


def _check_validation(spec: SweepSpec) -> None:
    """validate: sizes past the ladder's largest N, FLOP budgets past its largest budget,
    and a ladder whose compute fit can predict N_opt for the FLOP budgets."""
    v = spec.validate
    if v and not spec.models:
        raise ScaleError("validate: runs past the ladder need a ladder of sizes to train; an "
                         "evaluation-only sweep (checkpoints alone) has none")
    if not spec.models:
        return
    ladder = {m.name for m in spec.models}
    seen: set[str] = set()
    # Non-embedding N does not depend on the vocabulary or the context: checkable here.
    n_of = {m: model_counts(m, 257, spec.data.context).params_non_embedding
            for m in (*spec.models, *v.models)}
    largest = max(spec.models, key=lambda m: n_of[m])
    for i, m in enumerate(v.models):
        where = f"validate.models[{i}]"
        if m.name in ladder:
            raise ScaleError(f"{where}: '{m.name}' is a ladder size; a validation size is "
                             "past the ladder, give it a size larger than the ladder's largest")
        if m.name in seen:
            raise ScaleError(f"{where}: '{m.name}' appears twice")
        seen.add(m.name)
        if n_of[m] <= n_of[largest]:
            raise ScaleError(f"{where}: {m.name} has N = {n_of[m]:,} non-embedding parameters, "
                             f"not more than the ladder's largest ({largest.name}, "
                             f"{n_of[largest]:,}); a validation size tests the extrapolation "
                             "past the ladder, so name a larger one")
    if not v.flops:
        return
    for i, c in enumerate(v.flops):
        _positive(c, f"validate.flops[{i}]")
    b = spec.budget
    if b.count < 2:
        raise ScaleError("validate.flops needs an isoFLOP design: the ladder's compute fit "
                         "predicts N_opt at each budget, and one budget gives no such fit; "
                         "use budget.flops with at least 2 budgets (or a grid of token budgets)")
    if b.flops is not None:
        for i, c in enumerate(v.flops):
            if c <= max(b.flops):
                raise ScaleError(f"validate.flops[{i}] = {c:.3g} is not past the ladder's "
                                 f"largest budget ({max(b.flops):.3g}); a validation budget "
                                 "tests the extrapolation, so give a larger one")
