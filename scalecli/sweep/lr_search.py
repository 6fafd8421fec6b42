"""`lr: auto`: the sweep's peak learning rate, chosen by measurement on the user's data.

Under muP (scalecli/sweep/mup.py) the best base lr at one width is the best at every width,
so it is measured where it is cheapest: the narrowest size, at each token budget of the
sweep, with the sweep's first seed. The probes are full-length runs, so there is no
short-probe bias to correct (a probe cut short favours a larger lr than the full run
would), and the probe at the chosen lr is that size's real run: the search costs the
other probes only, a few runs of the cheapest size.

The grid is a factor LR_FACTOR apart around LR_START and brackets the optimum: while the
lowest loss sits at the top edge of the probes, or the choice (`choose`) at the bottom edge,
one more probe goes past that edge, up to MAX_PROBES; the choice rule is applied to the
bracketed grid. Bracketing the choice alone stopped too early: on a prose corpus 5e-3,
1e-2 and 2e-2 gave 4.5894, 4.5687 and 4.5587, `choose` took 1e-2 (within LR_TOLERANCE of
the best), and the best itself sat at the top edge, unmeasured beyond. Every probe is an
ordinary row of results.csv, and lr_search.json records the probes and the choice; `fit`
reads it and keeps the chosen lr for the probed size (its point is the mean of the seeds
trained there), so the choice can be audited there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from scalecli.errors import ScaleError
from scalecli.finite import finite
from scalecli.sweep.spec import RunSpec, SweepSpec, design, expand, narrowest, one_budget

# The first probes: LR_START / LR_FACTOR, LR_START, LR_START * LR_FACTOR at the base width.
# 1e-2 is the standard-parametrization lr that scalecli used at width 32 before the search
# existed; muP at its base width is the standard parametrization, so it is a fair centre.
LR_START = 1e-2
# A factor 2 apart: near the optimum the loss is flat in log lr, so a finer grid resolves
# differences smaller than the seed-to-seed noise (about 0.01-0.03 nats at these sizes).
LR_FACTOR = 2.0
# Enough to walk 4 factors of 2 (16x) past the first grid before giving up.
MAX_PROBES = 7
# The smallest lr within this many nats of the best is chosen. One seed per probe cannot
# resolve smaller differences (seeds of one size differ by 0.01-0.02 nats), and the loss is
# asymmetric in lr: on the embedded corpus s1's best probe (base 4e-2, 4.253) was one
# factor below a cliff (8e-2, 4.833), its other seeds there spread by 0.11, and s2-s4 at
# that lr ended 0.2-0.25 nats worse than at 1e-2. The low edge of the flat basin carries
# to the wider sizes; its top edge does not.
LR_TOLERANCE = 0.02


def probe_spec(spec: SweepSpec, index: int, lrs: tuple[float, ...],
               vocab_size: int) -> SweepSpec:
    """The sweep cut to one budget's probes: the narrowest size that trains at that budget
    (the cheapest; a FLOP budget may train a window of the ladder), its first seed, these
    lrs. `expand` of it gives the very runs (and run_ids) of the full sweep."""
    one = one_budget(spec, index)
    model = narrowest(spec, [cell.model for cell in design(one, vocab_size)[0]])
    return replace(one, models=(model,), train=replace(
        spec.train, lr=lrs, seeds=spec.train.seeds[:1], noise_seeds=()))


def next_lrs(losses: Mapping[float, float]) -> list[float]:
    """The probes still to run, given the final val_loss of those done (nan: diverged).

    An empty list means the search is over: the optimum is bracketed, or MAX_PROBES is spent.
    """
    if not losses:
        return [LR_START / LR_FACTOR, LR_START, LR_START * LR_FACTOR]
    if len(losses) >= MAX_PROBES:
        return []
    lrs = sorted(losses)
    more = []
    if choose(losses) in (None, lrs[0]):  # all diverged, or the choice at the low edge
        more.append(lrs[0] / LR_FACTOR)
    if lowest(losses) == lrs[-1]:  # the best loss at the top edge: the optimum may be above
        more.append(lrs[-1] * LR_FACTOR)
    return more[:MAX_PROBES - len(losses)]


def lowest(losses: Mapping[float, float]) -> float | None:
    """The lr of the lowest finite loss; None when every probe diverged."""
    measured = _measured(losses)
    return min(measured, key=measured.__getitem__) if measured else None


def choose(losses: Mapping[float, float]) -> float | None:
    """The smallest lr within LR_TOLERANCE of the lowest final loss; None when every probe
    diverged."""
    measured = _measured(losses)
    if not measured:
        return None
    best = min(measured.values())
    return min(lr for lr, loss in measured.items() if loss <= best + LR_TOLERANCE)


def _measured(losses: Mapping[float, float]) -> dict[float, float]:
    """The probes with a finite final loss (a diverged or failed probe has none)."""
    return {lr: loss for lr, loss in losses.items() if finite(loss) is not None}


def bracketed(losses: Mapping[float, float]) -> bool:
    """Whether the chosen lr and the lowest loss both have a probe on each side (a diverged
    probe counts: it is worse)."""
    best, low = choose(losses), lowest(losses)
    return best is not None and min(losses) < best and low < max(losses)


def search(spec: SweepSpec, vocab_size: int, fingerprint: str,
           train: Callable[[list[tuple[RunSpec, str]]], None],
           losses_of: Callable[[list[str]], list[float]],
           say: Callable[[str], None]) -> tuple[dict[int, float], list[dict[str, Any]]]:
    """Run the search for every budget of the sweep; return the chosen lr per budget index
    and a record of every probe (for lr_search.json).

    `train` trains the runs not yet recorded (a rerun finds the probes already done, so an
    interrupted search resumes where it stopped); `losses_of` reads their final val_loss
    back from results.csv (nan for a run that diverged or failed).
    """
    chosen: dict[int, float] = {}
    log: list[dict[str, Any]] = []
    for index in range(spec.budget.count):
        model = probe_spec(spec, index, (LR_START,), vocab_size).models[0]
        losses: dict[float, float] = {}
        tokens = 0
        while lrs := next_lrs(losses):
            runs = expand(probe_spec(spec, index, tuple(lrs), vocab_size), vocab_size)
            ids = [run.run_id(fingerprint) for run in runs]
            train(list(zip(runs, ids, strict=True)))
            for run, rid, loss in zip(runs, ids, losses_of(ids), strict=True):
                losses[run.lr_base], tokens = loss, run.tokens
                log.append({"budget_index": index, "model": model.name, "tokens": run.tokens,
                            "lr_base": run.lr_base, "lr": run.lr, "val_loss": loss,
                            "run_id": rid})
        best = choose(losses)
        if best is None:
            raise ScaleError(f"lr: auto: every probe of {model.name} diverged, down to lr "
                             f"{min(losses):.3g}; set train.lr by hand, or lower "
                             "train.grad_clip or the budget")
        chosen[index] = best
        probes = ", ".join(f"{lr:.3g} -> {loss:.4f}" for lr, loss in sorted(losses.items()))
        edge = "" if bracketed(losses) else f"  (not bracketed after {MAX_PROBES} probes)"
        say(f"lr search on {model.name} at {tokens:,} tokens (lr at width "
            f"{spec.train.lr_ref_width}): {probes}; chose {best:.3g}{edge}")
    return chosen, log

