"""Training FLOPs per token as a function of N: the C = f(N) D that approach 3 solves on.

Approaches 1 and 2 read C from the compute column (`flops`, the exact count). Hoffmann et
al.'s closed form for approach 3, N_opt = G (C/6)^a, assumes C = 6 N D instead. At small
sizes the embeddings and attention make flops per token 1.1x to 1.3x 6N in total
parameters (more in non-embedding ones), so the closed form solved on the `flops` column
puts N_opt and D_opt ~1.1x off the other two approaches in the same table. This module
holds ln(f(N) / 6N) against ln N, measured on the runs, so that approach 3 minimises
L(N, C / f(N)) on the same C (`chinchilla.optimal_log_n`). Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# |ln(f / 6N)| below this everywhere: C is 6 N D (to a CSV's rounding), the closed form exact.
EXACT_TOL = 1e-6


@dataclass(frozen=True)
class FlopsPerToken:
    """ln(flops_per_token / 6N) at the runs' distinct ln N, sorted; linear in ln N between
    them and held at the end values beyond (`log_ratio_at`). `c_range` is the smallest and
    largest C of the runs: approach 3's a and b are slopes over it."""

    log_n: np.ndarray
    log_ratio: np.ndarray
    c_range: tuple[float, float]

    @classmethod
    def from_runs(cls, n: np.ndarray, per_token: np.ndarray,
                  flops: np.ndarray) -> FlopsPerToken | None:
        """From each run's N, FLOPs per token and C; None when per_token = 6 N for every
        run (C = 6 N D), where the closed form is exact. Runs that share an N (budgets,
        seeds) share a shape, so their ratios are averaged."""
        ok = (n > 0) & (per_token > 0) & np.isfinite(n) & np.isfinite(per_token) \
            & np.isfinite(flops)
        if not np.any(ok):
            return None
        log_n = np.log(n[ok])
        ratio = np.log(per_token[ok] / (6.0 * n[ok]))
        if np.max(np.abs(ratio)) < EXACT_TOL:
            return None
        distinct, owner = np.unique(log_n, return_inverse=True)
        mean = np.bincount(owner, weights=ratio) / np.bincount(owner)
        return cls(distinct, mean, (float(flops[ok].min()), float(flops[ok].max())))

    def log_ratio_at(self, log_n: np.ndarray) -> np.ndarray:
        """ln(f(N) / 6N) at any ln N (np.interp holds the end values beyond the runs)."""
        return np.interp(log_n, self.log_n, self.log_ratio)

    def text(self) -> str:
        """How approach 3 used it, for the fit's `method`."""
        lo, hi = np.exp(self.log_ratio[0]), np.exp(self.log_ratio[-1])
        return (f"N_opt(C) minimises L(N, C / flops_per_token(N)) on the compute column's C, "
                f"flops_per_token / 6N going from {lo:.3g} at the smallest N to {hi:.3g} at "
                "the largest (linear in ln N between the runs, held beyond); a and b are the "
                f"least-squares slopes of ln N_opt, ln D_opt on ln C over {LAW_POINTS} budgets "
                f"from {self.c_range[0]:.3g} to {self.c_range[1]:.3g} (the runs' C)")


LAW_POINTS = 9  # budgets log-spaced over the runs' C, for approach 3's slopes a and b

CLOSED_FORM_TEXT = ("N_opt(C) = G (C/6)^a (Hoffmann et al. 2022, Eq. 4), exact here: C is "
                    "6 N D in this N (the runs' flops per token is 6 N, or the CSV has no "
                    "compute column)")


def method_text(fpt: FlopsPerToken | None) -> str:
    """The fit's `method` note on approach 3's convention."""
    return CLOSED_FORM_TEXT if fpt is None else fpt.text()


def law_budgets(fpt: FlopsPerToken) -> np.ndarray:
    """The C at which approach 3's line is fitted: LAW_POINTS over the runs' C (a decade
    either side of them when they share one C, since a slope needs a span)."""
    lo, hi = fpt.c_range
    if hi < 1.1 * lo:
        mid = np.sqrt(lo * hi)
        lo, hi = mid / 10.0, mid * 10.0
    return np.geomspace(lo, hi, LAW_POINTS)
