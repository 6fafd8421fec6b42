"""The sizes that the diagnostics compare: the rows as runs, grouped per budget into sizes,
each with the runs of the lr the fit keeps (`seeds.pick`), and the seed noise between them.

A budget is a token count, or in an isoFLOP design (budget_flops) a FLOP budget, where
every size has its own D: grouped by tokens, such a design has one size per group and no
rule would ever compare two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scalecli.finite import finite
from scalecli.fit.seeds import Z95, best_config, noise_gap, pooled_sd, searched_config


@dataclass
class Evidence:
    """What the rules read (see the module docstring)."""

    rows: list[dict[str, str]]  # after --where, before the best-lr choice: every lr and seed
    header: list[str]
    x_col: str
    y_col: str
    fits: dict  # fit.json's "fits"
    predict: list[float] | None
    data_summary: dict | None  # the sweep folder's data.json, None outside a sweep folder
    # The run_ids of the lr search's chosen probes (lr_search.json, `seeds.searched_runs`):
    # the lr that the fit keeps for the size the search probed.
    searched: frozenset[str] = frozenset()
    # The rows before the status filter (diverged and failed runs too), so that lr_edge can
    # say what happened past the best lr; None: `rows` are all there is.
    tried: list[dict[str, str]] | None = None

FLOPS = "FLOPs"  # the kind of budget of an isoFLOP design; the other kind is "tokens"


def loss_column(ev: Evidence) -> str:
    """The loss rules compare val_loss (nats) when the CSV has it, else the fitted y."""
    return "val_loss" if "val_loss" in ev.header else ev.y_col


def budget_of(row: dict[str, str]) -> tuple[str, float | None]:
    """The budget a row's size is compared within: (FLOPS, budget_flops) in an isoFLOP
    design, else ("tokens", tokens)."""
    flops = finite(row.get("budget_flops"))
    return (FLOPS, flops) if flops is not None else ("tokens", finite(row.get("tokens")))


@dataclass(frozen=True)
class Run:
    """One row with the numbers the rules group and compare by."""

    x: float
    loss: float
    budget: tuple[str, float | None]  # `budget_of`
    lr: float | None
    row: dict[str, str]


@dataclass(frozen=True)
class Size:
    """One size at one budget: every run, the runs of its best lr, and their mean loss."""

    x: float
    label: str  # model name(s), else x; with the budget when a sweep has several
    loss: float
    best: list[Run]
    runs: list[Run]
    budget: tuple[str, float | None] = ("tokens", None)


def runs(ev: Evidence) -> list[Run]:
    """Rows with a numeric x and loss (blank or non-numeric cells are missing); the others
    cannot be placed on the law."""
    cells = ((row, finite(row.get(ev.x_col)), finite(row.get(loss_column(ev)))) for row in ev.rows)
    return [Run(x, loss, budget_of(row), finite(row.get("lr")), row)
            for row, x, loss in cells if x is not None and loss is not None]


def group(items: list[Run], key: Callable[[Run], object]) -> dict:
    out: dict = {}
    for r in items:
        out.setdefault(key(r), []).append(r)
    return out


Slices = dict[tuple[str, float | None], list["Size"]]


def sizes_by_budget(ev: Evidence) -> Slices:
    """Per budget (`budget_of`), its sizes in order of x."""
    items = runs(ev)
    sd = pooled_seed_sd(ev)
    by_size = group(items, lambda r: (r.budget, r.x))
    several = len({budget for budget, _ in by_size}) > 1
    out: Slices = {}
    for (budget, x), members in sorted(by_size.items(), key=lambda kv: kv[0][1]):
        # The lr the fit keeps (`seeds.pick`: the lr search's choice, else seed means);
        # without a seed column there are no seeds to average: the best single run.
        if any("seed" in r.row for r in members):
            per_lr = list(group(members, lambda r: r.lr).values())
            hit = searched_config([{r.row.get("run_id", "") for r in rs} for rs in per_lr],
                                  ev.searched)
            best = per_lr[hit if hit is not None else best_config(
                [[r.loss for r in rs] for rs in per_lr], sd)]
        else:
            best = [min(members, key=lambda r: r.loss)]
        models = sorted({r.row.get("model", "") for r in members} - {""})
        name = "/".join(models) or f"{x:g}"  # the model name(s), else x
        name += f" at {budget[1]:g} {budget[0]}" if several and budget[1] is not None else ""
        mean = float(np.mean([r.loss for r in best]))
        out.setdefault(budget, []).append(Size(x, name, mean, best, members, budget))
    return out


def all_sizes(ev: Evidence) -> list[Size]:
    return [s for sizes in sizes_by_budget(ev).values() for s in sizes]


def seed_groups(size: Size) -> list[list[Run]]:
    """A size's runs that differ only in seed (same lr)."""
    return list(group(size.runs, lambda r: r.lr).values())


def pooled_seed_sd(ev: Evidence) -> float | None:
    """Seed-to-seed sd pooled over every configuration with >= 2 seeds, or None (also
    without a seed column); outlier seeds left out (`seeds.pooled_sd`, the same number as
    fit.json's seed_noise)."""
    if "seed" not in ev.header:
        return None
    configs = group(runs(ev), lambda r: (r.budget, r.x, r.lr)).values()
    return pooled_sd(np.array([r.loss for r in m]) for m in configs).sd


def gap(sd: float | None, a: Size, b: Size) -> float:
    """The difference of two sizes' seed means that the seed noise does not explain, or 0
    without a measured sd."""
    return float(noise_gap(sd, len(a.best), len(b.best))) if sd is not None else 0.0


NOISE_TEXT = f"{Z95:g} sd sqrt(1/n_a + 1/n_b) for means of n_a and n_b seeds"


def points(sizes: list[Size], column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, mean log y) of the best-per-size points, or None if a y is missing or <= 0."""
    ly = []
    for size in sizes:
        values = [finite(r.row.get(column)) for r in size.best]
        if any(v is None or v <= 0 for v in values):
            return None
        ly.append(float(np.mean(np.log(values))))
    return np.array([s.x for s in sizes]), np.array(ly)
