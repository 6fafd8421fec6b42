"""`fit --form all`'s exponents: every kind of scale the runs' design supports, in one table.

The power law P = a * Scale^b holds for three kinds of scale, and each needs its own design:
- N, at a fixed D: the sizes trained on one token budget (at least 3). An isoFLOP design
  trains each size on its own D, so it has none; its N dependence is a and the parametric
  alpha.
- D, at a fixed N: one size trained on several token budgets (at least 3), a grid or WSD
  branches. Each size gets its own exponent: a law of loss in D holds at one N.
- C, on the compute frontier (`axes.frontier`): only when the runs trade N against D (at
  least 2 sizes and 2 token budgets). With one D for every run, C is proportional to N and
  L(C) would be L(N) under another name.
- The compute-optimal a and b of N_opt ~ C^a and D_opt ~ C^b, from the isoFLOP profiles
  (approach 2) when the CSV has FLOP budgets; `--form compute` puts all three approaches
  side by side.
- The parametric form's alpha and beta (L = E + A/N^alpha + B/D^beta), when it was fitted.

Every entry says what it was measured at, or why the design does not support it, so a user
sees which runs to add for the exponent they miss. The numbers are of three kinds, and each
entry names its own (`kind`, `quantity`): a power fit's slope b = d ln y / d ln x (of
perplexity, that is d loss / d ln x in nats: it shrinks as the loss nears its floor), the
compute-optimal a and b, and the parametric form's -alpha and -beta, exponents of the
reducible loss L - E alone. A power slope and -alpha at the same scale are not the same
number and are not comparable. Each power fit is the same as
`fit --form power` on those points: ln y on ln x, its 95% interval from the bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scalecli.fit import axes, seeds
from scalecli.fit.forms import registry

MIN_POINTS = 3  # the power form's two parameters and one point to check them
POWER_SLOPE = "power slope"
COMPUTE_OPTIMAL = "compute-optimal exponent"
REDUCIBLE = "reducible-loss exponent"


def _entry(scale: str, x_col: str, y_col: str, at: str, result: dict | None = None,
           reason: str | None = None) -> dict:
    """One row of the table: a power fit's exponent and its interval, or why there is none."""
    entry = {"scale": scale, "x": x_col, "y": y_col, "at": at, "kind": POWER_SLOPE,
             "quantity": f"b of {y_col} = k {x_col}^b (d ln {y_col} / d ln {x_col})"}
    if result is None or not result.get("converged"):
        entry["exponent"] = None
        entry["reason"] = reason or (result or {}).get("message") or "no fit"
        return entry
    b = result["params"]["b"]
    entry["exponent"] = {k: b[k] for k in ("value", "se", "ci_low", "ci_high")}
    entry["n_points"] = int(result["n_points"])
    entry["r2_log"] = result["r2_log"]
    return entry


def _groups(key: np.ndarray) -> list[np.ndarray]:
    """Indices of the points that share each value of key, smallest value first."""
    finite = np.isfinite(key)
    return [np.flatnonzero(finite & (key == v)) for v in np.unique(key[finite])]


def along_n(n: np.ndarray, d: np.ndarray, y: np.ndarray, x_col: str, y_col: str,
            d_col: str, fit_one: Callable, whole: dict | None = None) -> list[dict]:
    """The N exponent at each token budget with at least MIN_POINTS sizes. `whole` is the
    power fit over every point: when one budget holds them all it is that fit, and its
    interval also counts the seeds' noise (`seeds.seed_level`), so it is reused."""
    out = []
    for g in _groups(d):
        if np.unique(n[g]).size >= MIN_POINTS:
            same = whole is not None and g.size == n.size and whole.get("x") == x_col
            out.append(_entry("N", x_col, y_col, f"{d_col} = {d[g[0]]:.3g}",
                              whole if same else fit_one(n[g], y[g])))
    if not out:
        most = max((np.unique(n[g]).size for g in _groups(d)), default=0)
        out.append(_entry("N", x_col, y_col, f"fixed {d_col}", reason=(
            f"no {d_col} value has {MIN_POINTS} sizes (at most {most}): each size was trained "
            "on its own D (an isoFLOP design, or tokens_per_param), so N and D moved together."
            f" The N dependence is in a and alpha; for the N exponent at a fixed D, train "
            f"{MIN_POINTS}+ sizes on one budget.tokens")))
    return out


def along_d(n: np.ndarray, d: np.ndarray, y: np.ndarray, labels: np.ndarray, y_col: str,
            d_col: str, fit_one: Callable) -> list[dict]:
    """The D exponent of each size trained on at least MIN_POINTS token budgets."""
    out = []
    order = sorted(set(labels), key=lambda s: (np.nanmin(n[labels == s]), str(s)))
    for size in order:
        g = np.flatnonzero(labels == size)
        if np.unique(d[g]).size >= MIN_POINTS:
            out.append(_entry("D", d_col, y_col, f"{size} (N = {n[g[0]]:.3g})",
                              fit_one(d[g], y[g])))
    if not out:
        most = max((np.unique(d[labels == s]).size for s in set(labels)), default=0)
        out.append(_entry("D", d_col, y_col, "fixed N", reason=(
            f"no size was trained on {MIN_POINTS} token budgets (at most {most}); for the D "
            "exponent, give budget.tokens a grid (schedule: wsd trains it as branches of one "
            "run per size)")))
    return out


def along_c(n: np.ndarray, d: np.ndarray, c: np.ndarray | None, y: np.ndarray,
            c_col: str | None, y_col: str, fit_one: Callable,
            nominal: np.ndarray | None = None) -> dict:
    """The C exponent on the compute frontier, one point per FLOP budget (`axes`), when the
    runs trade N against D. `nominal` is budget_flops per point, when the CSV has it."""
    at = "compute frontier"
    if c is None:
        return _entry("C", "flops", y_col, at, reason="the CSV has no flops or flops_6nd column")
    sizes, budgets = np.unique(n).size, np.unique(d).size
    if sizes < 2 or budgets < 2:
        return _entry("C", c_col, y_col, at, reason=(
            f"the runs span {sizes} size(s) and {budgets} token budget(s): with one of either, "
            "C moves with the other alone and L(C) is L(N) or L(D) under another name. Train "
            "several sizes on several budgets (an isoFLOP design or a token grid)"))
    keep, c_budget = axes.frontier_points(c, y, nominal)
    budgets = len(axes.group_budgets(c, nominal, axes.FRONTIER_REL_TOL))
    if keep.size < MIN_POINTS:
        return _entry("C", c_col, y_col, at, reason=(
            f"the frontier has {keep.size} of {budgets} FLOP budgets, the power form needs "
            f"{MIN_POINTS}"))
    return _entry("C", c_col, y_col, f"{at} ({keep.size} of {budgets} budgets, {c.size} "
                  "runs)", fit_one(c_budget, y[keep]))


def compute_optimal(isoflop: dict | None) -> list[dict]:
    """a and b of the isoFLOP approach, or why there are none."""
    rows = []
    for name, scale in (("a_opt", "N_opt(C)"), ("b_opt", "D_opt(C)")):
        entry = {"scale": scale, "x": "flops", "y": scale.split("(")[0],
                 "at": "isoFLOP budgets", "kind": COMPUTE_OPTIMAL,
                 "quantity": f"{name[0]} of {scale.split('(')[0]} ~ C^{name[0]}"}
        p = ((isoflop or {}).get("params") or {}).get(name)
        if isoflop is None:
            entry.update(exponent=None, reason="the CSV has no budget_flops: add "
                         "budget: {flops: [...]} to the sweep for the compute-optimal a and b")
        elif not isoflop.get("converged") or not p:
            entry.update(exponent=None, reason=isoflop.get("message") or "no fit")
        else:
            accepted = sum(b["accepted"] for b in isoflop.get("budgets") or [])
            entry.update(exponent={k: p.get(k) for k in ("value", "se", "ci_low", "ci_high")},
                         at=f"isoFLOP budgets ({accepted} accepted)")
        rows.append(entry)
    return rows


def parametric(chinchilla: dict | None) -> list[dict]:
    """-alpha and -beta of the fitted chinchilla form: exponents of the reducible loss
    L - E, signed as a power law's b but not a slope of L itself (`REDUCIBLE`)."""
    if not chinchilla or not chinchilla.get("converged"):
        return []
    rows = []
    for name, scale, col in (("alpha", "N", chinchilla["x"]), ("beta", "D", chinchilla["d"])):
        p = chinchilla["params"].get(name)
        if not p:
            continue
        flip = {"value": -p["value"], "se": p.get("se"),
                "ci_low": None if p.get("ci_high") is None else -p["ci_high"],
                "ci_high": None if p.get("ci_low") is None else -p["ci_low"]}
        term = "A / N^alpha" if name == "alpha" else "B / D^beta"
        rows.append({"scale": scale, "x": col, "y": chinchilla["y"],
                     "at": f"parametric (-{name}), every run", "kind": REDUCIBLE,
                     "quantity": f"-{name} of {term} in L - E = A / N^alpha + B / D^beta",
                     "exponent": flip,
                     "n_points": int(chinchilla["n_points"]), "r2_log": chinchilla["r2_log"]})
    return rows


def exponents(rows: list[dict[str, str]], header: list[str], lad: seeds.Ladder,
              n_col: str, y_col: str, d_col: str, c_col: str | None,
              fit_one: Callable[[np.ndarray, np.ndarray], dict], fits: dict) -> list[dict]:
    """fit.json's `exponents`: one point per configuration (`lad`), every scale in turn."""
    def column(name: str | None) -> np.ndarray | None:
        if name is None or name not in header:
            return None
        return lad.first(np.array([seeds.cell(r, name) for r in rows]))

    n, d = column(n_col), column(d_col)
    y = lad.mean(np.array([seeds.cell(r, y_col) for r in rows])) if y_col in header else None
    out: list[dict] = []
    if n is not None and d is not None and y is not None:
        labels, _ = axes.sizes(rows, header, lad)
        ok = np.isfinite(n) & np.isfinite(d) & np.isfinite(y) & (y > 0)
        n, d, y, labels = n[ok], d[ok], y[ok], labels[ok]
        c, nominal = column(c_col), column("budget_flops")
        c = None if c is None else c[ok]
        nominal = None if nominal is None else nominal[ok]
        power = fits.get(registry.default().name)
        whole = power if power and power.get("y") == y_col else None
        out += along_n(n, d, y, n_col, y_col, d_col, fit_one, whole)
        out += along_d(n, d, y, labels, y_col, d_col, fit_one)
        out.append(along_c(n, d, c, y, c_col, y_col, fit_one, nominal))
    # approach 2's a and b (`fit --form all` fits the most direct approach), and the
    # reducible-loss exponents of a law in N and D
    out += compute_optimal(fits.get(registry.by_directness()[0].name))
    for form in registry.law_forms():
        if form.reads_d:
            out += parametric(fits.get(form.name))
    return out
