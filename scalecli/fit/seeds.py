"""Seeds: the runs that differ only in their seed, the one point the fit takes from them, their
spread, and the seed level of b's bootstrap.

A configuration is a run's definition without its seed: the RUN_KEY columns that the CSV
has, --x and --d, and lr. The fit takes one point per configuration, the mean over its seeds
of log y, because every form is fitted in log space. For perplexity log y is the loss, so a
point's perplexity is exp(mean val_loss) (the geometric mean of the seeds' perplexities); for
a loss column the point is the geometric mean of the losses, which differs from their
arithmetic mean by about sd^2 / (2 L): 1e-4 nats for a seed sd of 0.03 at L = 4, far below
the noise. A CSV without a seed column has no replicates to average: each row is its own
configuration, as before seeds were averaged.

With an lr grid, each size (at each budget) keeps one configuration, all of its seeds
(Kaplan et al. 2020 and Hoffmann et al. 2022 fit the best lr per size), by one rule that the
point estimate, its bootstrap and the diagnostics share (`pick`):
- where the sweep's lr search ran (lr_search.json beside the CSV), the lr it chose. The
  search decided on one seed per probe and then trained the chosen lr with more seeds, so
  the chosen point is a mean over seeds; re-deciding on those same probes would pit one
  lucky seed of another lr against a three-seed mean (a best-of-three that is biased low).
- otherwise the lowest mean over all of a configuration's seeds, except that a
  configuration measured with fewer seeds wins only when its mean is lower by more than the
  noise of the difference, Z95 sd sqrt(1/n_a + 1/n_b): a one-seed probe must not beat a
  three-seed mean by luck. With equal seed counts this is the plain lowest mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from scalecli.finite import finite, finite_or_nan

# The columns of results.csv that define a run apart from its lr and seed (results.COLUMNS).
RUN_KEY = ("sweep", "model", "n_layer", "n_embd", "n_head", "n_ctx", "vocab_size",
           "activation_function", "tokens", "batch_tokens", "data_fingerprint", "tokenizer")
# Modified z-score (Iglewicz and Hoaglin 1993): 1.4826 x MAD estimates the sd of normal
# data and |z| > 3.5 marks an outlier; three seeds are the fewest with a median to use.
MAD_TO_SD = 1.4826
OUTLIER_Z = 3.5
MIN_SEEDS_OUTLIER = 3
# Robust-scale floor, in nats. Three seeds give a MAD that is near zero whenever two of
# them happen to agree, and a floor of 0.005 then flagged ordinary seeds (z = 8 at a seed
# sd of 0.015). 0.02 is the typical seed-to-seed sd itself: runs that differ only in float
# rounding differ by up to ~0.017 nats (docs/benchmarks.md), and seeds of s1-s3 by 0.01-0.02 on the
# corpora of bench/unseen.py. A seed is then an outlier only beyond 3.5 x 0.02 = 0.07 nats
# from its configuration's median, as the 0.4-nat seed that this rule is for is.
MAD_FLOOR = 0.02
# Two means whose difference is smaller than this many standard errors of that difference
# are not told apart (the two-sided 95% normal quantile).
Z95 = 1.96


def cell(row: dict[str, str], column: str) -> float:
    """A row's cell as a finite float, or NaN for a blank, non-numeric or non-finite one."""
    return finite_or_nan(row.get(column))


# ------------------------------------------------------------------------- the spread


def robust_z(values: np.ndarray) -> np.ndarray:
    """|v - median| / (1.4826 MAD), the scale floored at MAD_FLOOR."""
    med = np.median(values)
    scale = max(MAD_TO_SD * float(np.median(np.abs(values - med))), MAD_FLOOR)
    return np.abs(values - med) / scale


def seed_sd(values: np.ndarray) -> float | None:
    """The sample sd (n - 1) of one configuration's seeds, or None with fewer than two."""
    return float(np.std(values, ddof=1)) if values.size >= 2 else None


@dataclass(frozen=True)
class Pooled:
    """The seed-to-seed sd pooled over configurations: sqrt(sum of squares / dof)."""

    sd: float | None  # None when no configuration has two seeds
    dof: int  # sum of (seeds - 1) over the configurations pooled
    configs: int  # configurations with >= 2 seeds
    left_out: int  # outlier seeds left out (robust z > OUTLIER_Z)


def pooled_sd(groups: Iterable[np.ndarray]) -> Pooled:
    """Seed sd pooled over every configuration with >= 2 seeds. A seed that `seed_outlier`
    flags is left out: one diverged run must not make every gap look like noise. This is
    the one implementation: fit.json's seed_noise and the diagnostics both call it."""
    kept = []
    left_out = 0
    for values in groups:
        values = values[np.isfinite(values)]
        if values.size >= MIN_SEEDS_OUTLIER:
            inside = robust_z(values) <= OUTLIER_Z
            left_out += int((~inside).sum())
            values = values[inside]
        if values.size >= 2:
            kept.append(values)
    dof = sum(v.size - 1 for v in kept)
    ss = sum(float(np.sum((v - v.mean()) ** 2)) for v in kept)
    return Pooled(math.sqrt(ss / dof) if dof else None, dof, len(kept), left_out)


def noise_gap(sd: float, n_a: int | np.ndarray, n_b: int | np.ndarray) -> float | np.ndarray:
    """The smallest difference between a mean of n_a seeds and one of n_b seeds that the
    seed noise (sd of one run) does not explain: Z95 sd sqrt(1/n_a + 1/n_b)."""
    return Z95 * sd * np.sqrt(1.0 / np.asarray(n_a, float) + 1.0 / np.asarray(n_b, float))


# ------------------------------------------------------------------ configurations


@dataclass
class Config:
    """One configuration: the rows of its seeds and their val_loss (the lr criterion)."""

    rows: list[int]  # indices into the rows given to `ladder`, in their order
    loss: np.ndarray  # val_loss per seed; inf where missing, so it never wins an lr pick


@dataclass
class Ladder:
    """The rows as configurations: per size and budget its configurations (one per lr), and
    which of them the fit keeps."""

    groups: list[list[Config]]
    picked: list[list[int]]  # per group, the indices of the configurations that are fitted
    repick: bool  # an lr is picked per group (not --all-lrs, and the CSV has lr and val_loss)
    points: list[Config] = field(default_factory=list)  # fitted, in order of their first row
    searched: list[bool] = field(default_factory=list)  # per group: the lr search's choice
    loss_sd: float | None = None  # the pooled seed sd of val_loss, the pick's noise

    def __post_init__(self) -> None:
        chosen = [g[k] for g, ks in zip(self.groups, self.picked, strict=True) for k in ks]
        self.points = sorted(chosen, key=lambda c: c.rows[0])

    def fitted_rows(self) -> list[int]:
        """Indices of the rows the fit uses, in their original order."""
        return sorted(i for c in self.points for i in c.rows)

    def seeded(self) -> bool:
        """Whether any configuration has two seeds: else every point is one run, and the fit
        is what it was before seeds were averaged, to the last bit."""
        return any(len(c.rows) >= 2 for g in self.groups for c in g)

    def point_of_row(self) -> np.ndarray:
        """For each fitted row (in `fitted_rows` order), the index of its point."""
        owner = {i: p for p, c in enumerate(self.points) for i in c.rows}
        return np.array([owner[i] for i in self.fitted_rows()], dtype=int)

    def first(self, values: np.ndarray) -> np.ndarray:
        """A per-row column that is constant within a configuration (x, D), per point."""
        return values[np.unique(self.point_of_row(), return_index=True)[1]]

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Per point, exp(mean log value) over its seeds; a one-seed point keeps its value
        exactly (exp(log v) can differ from v in the last bit)."""
        owner = self.point_of_row()
        out = np.empty(len(self.points))
        for p in range(len(self.points)):
            v = values[owner == p]
            out[p] = v[0] if v.size == 1 else math.exp(float(np.mean(np.log(v))))
        return out


def ladder(rows: list[dict[str, str]], header: list[str], x_col: str, d_col: str,
           all_lrs: bool = False, searched: frozenset[str] = frozenset()) -> Ladder:
    """Group rows into configurations, and those by size and budget; pick the best lr.

    Rows pass unchanged (every configuration is fitted) with --all-lrs, when the CSV has no
    lr or val_loss column, or when a size has one lr. Without a seed column each row is a
    configuration of its own, so an lr grid keeps the single best row of each size.
    `searched`: the run_ids of the lr search's chosen probes (`searched_runs`); a size that
    has one keeps that lr.
    """
    size_cols = [c for c in dict.fromkeys((*RUN_KEY, x_col, d_col)) if c in header]
    groups: dict[tuple[str, ...], dict[tuple[str, ...], list[int]]] = {}
    for i, row in enumerate(rows):
        config = (row.get("lr", ""),) if "seed" in header else (row.get("lr", ""), str(i))
        size = groups.setdefault(tuple(row[c] for c in size_cols), {})
        size.setdefault(config, []).append(i)
    repick = not all_lrs and "lr" in header and "val_loss" in header
    all_configs = [[Config(members, np.array([cell(rows[i], "val_loss") for i in members]))
                    for members in size.values()] for size in groups.values()]
    sd = pooled_sd(c.loss for configs in all_configs for c in configs).sd
    picked, chosen_by_search = [], []
    for configs in all_configs:
        for c in configs:
            c.loss[~np.isfinite(c.loss)] = math.inf
        lrs = {rows[c.rows[0]].get("lr", "") for c in configs}
        hit = searched_config([{rows[i].get("run_id", "") for i in c.rows} for c in configs],
                              searched)
        if repick and len(lrs) >= 2:
            picked.append([hit if hit is not None else best_config(
                [[float(v) for v in c.loss] for c in configs], sd)])
        else:
            picked.append(list(range(len(configs))))
        chosen_by_search.append(repick and len(lrs) >= 2 and hit is not None)
    return Ladder(all_configs, picked, repick, searched=chosen_by_search, loss_sd=sd)


def searched_runs(record: dict | None) -> frozenset[str]:
    """The run_ids of the probes at the lr that the sweep's lr search chose, one per budget,
    from lr_search.json ({probes: [{budget_index, lr_base, run_id, ...}], chosen:
    [{budget_index, lr}]}); empty without a record or with one that does not parse."""
    try:
        chosen = {(c["budget_index"], float(c["lr"])) for c in record["chosen"]}
        return frozenset(str(p["run_id"]) for p in record["probes"]
                         if (p["budget_index"], float(p["lr_base"])) in chosen)
    except (TypeError, KeyError, ValueError):
        return frozenset()


def searched_config(run_ids: list[set[str]], searched: frozenset[str]) -> int | None:
    """Which configuration holds the lr search's chosen probe, or None (no search, or a
    size it did not probe)."""
    hits = [k for k, ids in enumerate(run_ids) if ids & searched]
    return hits[0] if len(hits) == 1 else None


def pick(means: np.ndarray, n: np.ndarray, sd: float | None) -> np.ndarray:
    """The configuration kept per row of `means` ((..., K) seed means; n: seeds per
    configuration): among those whose mean is within the noise of the lowest (`noise_gap`),
    the one with the most seeds, then the lowest mean. The point estimate and every
    bootstrap draw use this rule, so the draws carry the noise of the pick itself."""
    means = np.atleast_2d(means)
    low = np.argmin(means, axis=1)
    rows = np.arange(means.shape[0])
    if sd is None or np.all(n == n[0]):
        return low
    gap = noise_gap(sd, n[None, :], n[low][:, None])
    with np.errstate(invalid="ignore"):  # inf - inf: every lr of a size without a loss
        close = (means - means[rows, low][:, None] <= gap) | (np.arange(n.size) == low[:, None])
    most = np.where(close, n[None, :], -1)
    tied = close & (most == most.max(axis=1, keepdims=True))
    return np.argmin(np.where(tied, means, np.inf), axis=1)


def best_config(seed_losses: list[list[float]], sd: float | None) -> int:
    """Which configuration (lr) of one size is best, given each one's val_loss per seed and
    the pooled seed sd (`pick`). The fit and its diagnostics both call it."""
    means = np.array([float(np.mean(v)) if len(v) else math.inf for v in seed_losses])
    return int(pick(means, np.array([len(v) for v in seed_losses]), sd)[0])


# ------------------------------------------------------------ the seed level of b's CI


def seed_level(lad: Ladder, log_y: np.ndarray, n_boot: int, rng: np.random.Generator
               ) -> np.ndarray | None:
    """(n_boot, points) draws of how far each fitted point's log y moves when its seeds are
    resampled and its lr is picked again, or None when no configuration has two seeds.

    Each configuration's seeds are resampled with replacement, as residuals about their mean
    inflated by sqrt(n / (n - 1)): plain resampling of n seeds shrinks the variance of their
    mean by (n - 1) / n, a third with three seeds (Davison and Hinkley 1997, sec. 3.3 and
    6.2.3). Then each size keeps the lr that `pick` keeps on the resampled means, as the fit
    did, so the draws carry the noise of that pick, too; a one-seed configuration in such a
    pick moves by the pooled seed sd (it has no seeds of its own to resample), or a lucky
    probe would be as lucky in every draw. The draw is the kept lr's resampled mean log y
    minus the fitted point's. An lr that the lr search chose is kept in every draw: the
    search decided it before those seeds were trained. `log_y` is per row (NaN where not a
    positive number). A configuration outside a pick with one seed, or a non-finite value,
    does not move.
    """
    if not lad.seeded() or n_boot < 2:
        return None
    index = {id(c): p for p, c in enumerate(lad.points)}
    out = np.zeros((n_boot, len(lad.points)))
    ly_sd = pooled_sd(log_y[c.rows] for g in lad.groups for c in g).sd
    fixed = lad.searched or [False] * len(lad.groups)
    for configs, chosen, searched in zip(lad.groups, lad.picked, fixed, strict=True):
        repick = lad.repick and len(chosen) == 1 and len(configs) >= 2 and not searched
        if not repick:  # every configuration is a point of its own, or the search chose
            for k in chosen:
                _, mean_ly = resampled_means(configs[k].loss, log_y[configs[k].rows], n_boot,
                                             rng)
                out[:, index[id(configs[k])]] = mean_ly - float(np.mean(
                    log_y[configs[k].rows]))
            continue
        loss = np.empty((n_boot, len(configs)))
        mean_ly = np.empty((n_boot, len(configs)))
        sds = (lad.loss_sd, ly_sd) if lad.loss_sd is not None and ly_sd is not None else None
        for k, c in enumerate(configs):
            loss[:, k], mean_ly[:, k] = resampled_means(c.loss, log_y[c.rows], n_boot, rng,
                                                        sds)
        best = pick(loss, np.array([len(c.rows) for c in configs]), lad.loss_sd)
        draw = mean_ly[np.arange(n_boot), best]
        out[:, index[id(configs[chosen[0]])]] = draw - float(np.mean(log_y[
            configs[chosen[0]].rows]))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def resampled_means(loss: np.ndarray, log_y: np.ndarray, n_boot: int,
                    rng: np.random.Generator, sds: tuple[float, float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """n_boot means of one configuration's val_loss and log y, over its seeds resampled
    together (the same seeds for both) as inflated residuals. With one seed: fixed, or with
    `sds` (the pooled seed sd of val_loss and of log y) one normal draw moves both."""
    n = loss.size
    if not np.all(np.isfinite(log_y)):  # a y that is not a positive number: never picked
        return np.full(n_boot, math.inf), np.full(n_boot, math.nan)
    if n < 2 or not np.all(np.isfinite(loss)):
        z = rng.standard_normal(n_boot) if sds is not None and n == 1 else np.zeros(n_boot)
        sd_loss, sd_ly = sds or (0.0, 0.0)
        return (float(np.mean(loss)) + sd_loss * z, float(np.mean(log_y)) + sd_ly * z)
    pick_ = rng.integers(0, n, size=(n_boot, n))
    inflate = math.sqrt(n / (n - 1))
    res_loss, res_ly = loss - loss.mean(), log_y - log_y.mean()
    return (loss.mean() + inflate * res_loss[pick_].mean(axis=1),
            log_y.mean() + inflate * res_ly[pick_].mean(axis=1))


# ------------------------------------------------------------------------ fit.json


def noise_block(lad: Ladder, rows: list[dict[str, str]], column: str, x_col: str
                ) -> dict:
    """fit.json's `seed_noise`: the pooled seed sd of `column` over every configuration
    (every lr the filter kept) and, per fitted point, its seeds' mean and sd."""
    def values(c: Config) -> np.ndarray:
        return np.array([cell(rows[i], column) for i in c.rows])

    pooled = pooled_sd(values(c) for g in lad.groups for c in g)
    points = []
    for c in lad.points:
        v = values(c)
        first = rows[c.rows[0]]
        measured = v[np.isfinite(v)]
        points.append({
            "label": first.get("model") or f"{cell(first, x_col):g}",
            "x": finite(cell(first, x_col)), "tokens": finite(cell(first, "tokens")),
            "lr": finite(cell(first, "lr")), "n_seeds": len(c.rows),
            "mean": finite(float(np.mean(measured))) if measured.size else None,
            "sd": finite(seed_sd(measured)),
        })
    return {
        "column": column,
        "pooled_sd": finite(pooled.sd),
        "dof": pooled.dof,
        "configs_pooled": pooled.configs,
        "outliers_left_out": pooled.left_out,
        "points": points,
    }
