"""`scalecli sweep --dry-run`: the expanded runs with their counts, FLOPs and estimated time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.table import Table

from scalecli.console import print_finding
from scalecli.epochs import epochs, epochs_note
from scalecli.errors import ScaleError
from scalecli.sweep import beyond
from scalecli.sweep.spec import (
    MIN_BUDGET_STEPS,
    RunSpec,
    SweepSpec,
    design,
    expand,
    family_key,
)
from scalecli.sweep.units import duration, si


def dry_run(spec: SweepSpec, console: Console, trust_remote_code: bool) -> int:
    from scalecli.sweep.data import vocab_size_of
    from scalecli.sweep.hardware import resolve_runtime

    if spec.checkpoints:  # measured, not trained (scalecli/sweep/checkpoints.py)
        from scalecli.sweep.checkpoints import say_plan

        say_plan(spec, console, trust_remote_code)
        if not spec.models:
            return 0
    vocab = vocab_size_of(spec.data, trust_remote_code)
    runs = _planned_runs(spec, vocab, console)
    ladder = [run for run in runs if run.role == "ladder"]
    beyond.check_past(spec, ladder, vocab)
    valid, valid_notes = beyond.model_runs(spec, vocab, _start_lrs(spec))
    guessed = {c: beyond.planned(spec, vocab, c) for c in spec.validate.flops}
    try:
        rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
        where = rt.device.type
    except ScaleError:
        # Planning a GPU sweep on a machine without one: counts yes, time unknown.
        rt, where = None, f"{spec.runtime.device} (not here: no time estimate)"
    every = runs + valid + [r for _, guess in guessed.values() for r in guess]
    rate_of, how = _estimated_rate(every, vocab, rt, console) if rt else (None, "")
    rate_of, how = _workers(spec, rt, rate_of, how, console)
    title = (f"{spec.name}: {len(runs)} runs (vocab {vocab}, context {spec.data.context}) "
             f"on {where}")
    total_flops, total_s, per_budget = _runs_table(spec, runs, vocab, rate_of, title, console)
    for line in design(spec, vocab)[1]:
        console.print(f"[yellow]{line}[/]")
    for budget, cells in per_budget.items():
        tokens, secs = cells[0::2], cells[1::2]
        console.print(f"budget {si(budget)}FLOPs: {len(tokens)} runs, D {si(min(tokens))} to "
                      f"{si(max(tokens))} tokens"
                      + (f", about {duration(sum(secs))}" if rate_of else ""))
    if rate_of:
        console.print(f"total: {si(total_flops)}FLOPs, about {duration(total_s)} of training "
                      f"and evaluation ({how}; data preparation not included)")
    else:
        console.print(f"total: {si(total_flops)}FLOPs")
    if spec.validate:
        _say_validation(spec, vocab, valid, valid_notes, guessed, rate_of, console)
    if spec.train.schedule == "wsd":
        say_branches(runs, vocab, rate_of, console)
    _say_epochs(spec, runs + valid, console, trust_remote_code)
    return 0


def _runs_table(spec: SweepSpec, runs: list[RunSpec], vocab: int,
                rate_of: Callable[[float], float] | None, title: str, console: Console
                ) -> tuple[float, float, dict[float, list[float]]]:
    """Print one row per run; return the total FLOPs, the total seconds (0 without a rate)
    and, per FLOP budget, its runs' tokens and seconds interleaved."""
    by_flops = any(run.budget_flops is not None for run in runs)
    table = Table(title=title)
    for column in ("model", "L", "d", "heads", "params", "N (non-emb.)",
                   *(("budget C",) if by_flops else ()), "tokens", "steps", "lr", "seed",
                   "FLOPs", "est. time"):
        table.add_column(column, justify="right" if column != "model" else "left")
    per_budget: dict[float, list[float]] = {}
    total_flops = total_s = 0.0
    for run in runs:
        c = run.counts(vocab)
        flops = c.flops_per_token * run.tokens
        seconds = run_seconds(run, c.flops_per_token, rate_of) if rate_of else None
        total_flops += flops
        total_s += seconds or 0.0
        if run.budget_flops is not None:
            per_budget.setdefault(run.budget_flops, []).extend([run.tokens, seconds or 0.0])
        table.add_row(run.model.name, str(run.model.n_layer), str(run.model.n_embd),
                      str(run.model.n_head), si(c.params), si(c.params_non_embedding),
                      *((si(run.budget_flops or 0),) if by_flops else ()),
                      si(run.tokens), str(run.steps), f"{run.lr:.3g}", str(run.seed),
                      si(flops), duration(seconds) if seconds is not None else "-")
    console.print(table)
    return total_flops, total_s, per_budget


def _say_validation(spec: SweepSpec, vocab: int, valid: list[RunSpec], notes: list[str],
                    guessed: dict[float, tuple[list, list[RunSpec]]],
                    rate_of: Callable[[float], float] | None, console: Console) -> None:
    """The validate: block's runs: they train after the ladder, role=validation."""
    def cost(runs: list[RunSpec]) -> str:
        flops = sum(r.counts(vocab).flops_per_token * r.tokens for r in runs)
        seconds = sum(run_seconds(r, r.counts(vocab).flops_per_token, rate_of) for r in runs
                      ) if rate_of else None
        return f"{si(flops)}FLOPs" + (f", about {duration(seconds)}" if seconds else "")

    if valid:
        _runs_table(spec, valid, vocab, rate_of, f"validation: {len(valid)} runs past the "
                    "ladder, trained after it (role=validation; no fit uses them)", console)
        console.print(f"validation runs: {cost(valid)}, after the ladder")
    for line in notes:
        console.print(f"[yellow]{line}[/]")
    ratio = spec.budget.expected_tokens_per_param
    for c, (fit, runs) in guessed.items():
        (low, lc), (high, hc) = fit[0], fit[-1]
        names = ", ".join(dict.fromkeys(r.model.name for r in runs))
        console.print(f"validate.flops {si(c)}FLOPs: the size is chosen after the ladder is "
                      f"fitted (N_opt from its compute fit, and one size either side), from "
                      f"{low.name} ({si(lc.params)} params) to {high.name} ({si(hc.params)}), "
                      f"the sizes that train at least {MIN_BUDGET_STEPS} steps there; at "
                      f"{ratio:g} tokens per parameter it would be {names}: {len(runs)} runs, "
                      f"{cost(runs)}")


def _workers(spec: SweepSpec, rt: Any, rate_of: Callable[[float], float] | None, how: str,
             console: Console) -> tuple[Callable[[float], float] | None, str]:
    """runtime.workers_per_run: the devices each run holds, checked against this machine
    (a local sweep), and the time column counted on them: k GPUs at k times the speed of
    one (an upper bound), or k CPU processes sharing the cores that the probe timed."""
    k, runtime = spec.runtime.workers_per_run, spec.runtime
    if k == 1:
        return rate_of, how
    from scalecli.sweep.distributed import check_devices

    gpus = runtime.device.startswith("cuda") or (rt is not None and rt.device.type == "cuda")
    where = "on the Ray cluster" if runtime.executor == "ray" else "on this machine"
    if runtime.executor == "local" and rt is not None:
        warning = check_devices(runtime)  # too few GPUs here: one line, and no plan
        if warning:
            console.print(f"[yellow]{warning}[/]")
    if gpus:
        console.print(f"workers per run: {k} (data-parallel, one GPU each: {k} GPUs per run "
                      f"{where}); the times assume {k}x the speed of one GPU, an upper bound, "
                      f"and each run holds {k} GPUs for that long")
        if rate_of is None:
            return None, how
        one = rate_of
        return (lambda fpt: k * one(fpt)), f"{how}; x{k} GPUs per run"
    console.print(f"workers per run: {k} (data-parallel CPU processes {where}, sharing the "
                  "cores: no faster than one process, so the times are one process's)")
    return rate_of, how


def _start_lrs(spec: SweepSpec) -> dict[int, float] | None:
    """With lr: auto, before the search: its centre, as the ladder's rows show it."""
    from scalecli.sweep.lr_search import LR_START

    return None if spec.train.lr else dict.fromkeys(range(spec.budget.count), LR_START)


def say_branches(runs: list[RunSpec], vocab: int, rate_of: Callable[[float], float] | None,
                 console: Console) -> None:
    """Under wsd: what the branched design trains against the same runs trained apart."""
    from scalecli.sweep.branches import trained_steps

    steps = trained_steps(runs)
    separate = branched = separate_s = branched_s = 0.0
    for index, run in enumerate(runs):
        fpt = run.counts(vocab).flops_per_token
        own = replace(run, tokens=steps[index] * run.train.batch_tokens)
        separate += fpt * run.tokens
        branched += fpt * own.tokens
        if rate_of:
            separate_s += run_seconds(run, fpt, rate_of)
            branched_s += run_seconds(own, fpt, rate_of)
    families = len({family_key(r) for r in runs})
    times = (f", about {duration(branched_s)} against {duration(separate_s)}"
             if rate_of else "")
    noun = "family" if families == 1 else "families"
    console.print(f"wsd: {len(runs)} branches of {families} {noun} train {si(branched)}FLOPs "
                  f"(stable phases and cooldowns) against {si(separate)}FLOPs as separate "
                  f"runs{times}: {branched / separate:.2f}x the compute")


def run_seconds(run: RunSpec, flops_per_token: float,
                rate_of: Callable[[float], float]) -> float:
    """Estimated wall time of one run: training, plus its evaluations (eval_points during
    the run and the final one, forward only: a third of a training token's FLOPs each)."""
    evals = (run.train.eval_points + 1) * run.eval.tokens * flops_per_token / 3
    return (flops_per_token * run.tokens + evals) / rate_of(flops_per_token)


def _planned_runs(spec: SweepSpec, vocab: int, console: Console) -> list[RunSpec]:
    """The sweep's runs; with lr: auto, the search's first probes first, and the rest at
    the search's starting lr (the lr that the search will replace)."""
    if not spec.train.lr_auto:
        return expand(spec, vocab)
    from scalecli.sweep.lr_search import LR_START, next_lrs, probe_spec

    first = next_lrs({})
    others = tuple(lr for lr in first if lr != LR_START)
    budgets = spec.budget.count
    probes = [run for i in range(budgets)
              for run in expand(probe_spec(spec, i, others, vocab), vocab)]
    names = ", ".join(dict.fromkeys(run.model.name for run in probes))
    console.print(f"lr: auto: {len(probes)} extra runs of {names} ({len(first)} lrs per "
                  f"budget, {', '.join(f'{lr:.3g}' for lr in first)}) search the lr first; "
                  "one more per budget each time the best is at an edge. The lr of the other "
                  f"runs below is the search's centre, {LR_START:.3g}, until it has chosen")
    return probes + expand(spec, vocab, dict.fromkeys(range(budgets), LR_START))


def _say_epochs(spec: SweepSpec, runs: list[RunSpec], console: Console,
                trust_remote_code: bool) -> None:
    """How many epochs the largest budget makes; it needs the tokenised training split,
    which is prepared (and cached for the sweep) here."""
    from scalecli.sweep.data import prepare

    try:
        with console.status("preparing data to count the training tokens"):
            data = prepare(spec.data, spec.eval.tokens, trust_remote_code)
    except ScaleError as error:
        console.print(f"epochs: unknown ({error})")
        return
    say_epochs(max(r.tokens for r in runs), int(data.train.size), console)


def say_epochs(tokens: int, train_tokens: int, console: Console) -> None:
    """One line on repeated data: the same words and threshold as fit's multi_epoch."""
    note = epochs_note(tokens, train_tokens)
    if note is None:
        console.print(f"data: {epochs(tokens, train_tokens):.2f} epochs of the "
                      f"{train_tokens:,} training tokens at the largest budget")
        return
    severity, message = note
    print_finding(console, severity, "multi_epoch", message)


PROBE_MAX_STEP_S = 2.0  # probe a size only if a step is this quick by the peak-based guess


def _estimated_rate(runs: list[RunSpec], vocab: int, rt: Any, console: Console
                    ) -> tuple[Callable[[float], float], str]:
    """FLOP/s as a function of FLOPs per token, for the time column of a dry run.

    Small models use far less of the matmul peak than large ones (on a 2-core CPU, 7% for
    the default s1 and 35% for s5), so a fixed fraction misjudges a ladder. Where a step is
    quick, the smallest and largest shapes train a few steps here, and the time per token
    is taken as affine in FLOPs per token between them (a fixed cost per token plus
    compute): on the default ladder this put every size within 20% of its measured time
    and the whole ladder within 5%.
    Else the estimate is 40% of the measured matmul peak.
    """
    from scalecli.sweep.hardware import assumed_rate
    from scalecli.sweep.speed_probe import probe_tokens_per_s

    guess = assumed_rate(rt)
    by_cost = sorted(runs, key=lambda r: r.counts(vocab).flops_per_token)
    ends = [by_cost[0], by_cost[-1]] if len(by_cost) > 1 else by_cost[:1]
    step_s = [r.counts(vocab).flops_per_token * r.train.batch_tokens / guess for r in ends]
    if max(step_s) > PROBE_MAX_STEP_S:
        return (lambda _fpt: guess), (f"at {si(guess)}FLOP/s, 40% of this machine's "
                                       "measured matmul peak")
    points = []
    with console.status("timing a few training steps of the smallest and largest size"):
        for run in dict.fromkeys(ends):  # one probe if the ends are the same run
            fpt = run.counts(vocab).flops_per_token
            points.append((fpt, 1.0 / probe_tokens_per_s(run, vocab, rt)))  # s per token
    (f0, t0), (f1, t1) = points[0], points[-1]

    def rate(fpt: float) -> float:
        t = t0 if f1 == f0 else t0 + (t1 - t0) * (fpt - f0) / (f1 - f0)
        if t <= 0:  # far outside the probed range, with a negative slope: scale by FLOPs
            t = t1 * fpt / f1
        return fpt / t

    names = " and ".join(dict.fromkeys(r.model.name for r in ends))
    return rate, f"speed measured on {names} here, interpolated between them"
