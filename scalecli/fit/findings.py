"""What a diagnostic is, and what its rules read: the types `diagnostics` and `compute`
share, and the two ways a rule reports (one `skipped` note, or one warning listing every
instance)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """A stable code to grep, `info` or `warning` (do not trust it as it stands), a message."""

    code: str
    severity: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


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


def skipped(rule: str, why: str) -> Diagnostic:
    return Diagnostic("skipped", "info", f"{rule} skipped: {why}")


def listing(code: str, found: list[str], head: str, advice: str) -> list[Diagnostic]:
    """One warning that lists every instance found, or none."""
    return [Diagnostic(code, "warning", f"{head}: {'; '.join(found)}. {advice}")] if found else []
