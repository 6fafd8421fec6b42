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
from scalecli.sweep.spec import RunSpec, SweepSpec, design, expand
from scalecli.sweep.units import duration, si


def dry_run(spec: SweepSpec, console: Console, trust_remote_code: bool) -> int:
    from scalecli.sweep.data import vocab_size_of
    from scalecli.sweep.hardware import resolve_runtime

    vocab = vocab_size_of(spec.data, trust_remote_code)
    runs = _planned_runs(spec, vocab, console)
    try:
        rt = resolve_runtime(spec.runtime.device, spec.runtime.dtype, spec.runtime.threads)
        where = rt.device.type
    except ScaleError:
        # Planning a GPU sweep on a machine without one: counts yes, time unknown.
        rt, where = None, f"{spec.runtime.device} (not here: no time estimate)"
    rate_of, how = _estimated_rate(runs, vocab, rt, console) if rt else (None, "")
    by_flops = spec.budget.flops is not None
    table = Table(title=f"{spec.name}: {len(runs)} runs (vocab {vocab}, context "
                        f"{spec.data.context}) on {where}")
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
    if spec.train.schedule == "wsd":
        say_branches(runs, vocab, rate_of, console)
    _say_epochs(spec, runs, console, trust_remote_code)
    return 0


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
    families = len({(r.model, r.lr, r.seed) for r in runs})
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
    from scalecli.sweep.train import probe_tokens_per_s

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
