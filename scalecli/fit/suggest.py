"""N_opt at FLOP budgets past the ladder, from the ladder's own compute fit.

`scalecli sweep` asks this (through cli.py, since sweep/ may not import fit/) which size
its `validate: {flops: [...]}` runs should train: the ladder's results are fitted with the
compute-optimal approaches, and N_opt (total params, as C counts them) is read from
approach 2 (isoFLOP parabolas) when it converged, else approach 3 (the parametric
Chinchilla form), else approach 1 (the envelope). Validation rows (role=validation) are
left out: the choice must rest on the ladder alone, so that a rerun after the validation
runs are recorded chooses the same sizes (and so trains nothing new).
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

from scalecli.errors import ScaleError
from scalecli.fit.driver import compute_fit
from scalecli.fit.forms import registry
from scalecli.results import LR_SEARCH_RECORD, read_rows, role_of


def ladder_rows(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows that are not validation runs (a blank role is `ladder`)."""
    rows = read_rows(csv_path)
    with open(csv_path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    return header, [r for r in rows if role_of(r) != "validation"]


def optimal_params(csv_path: Path, flops: list[float]) -> list[tuple[float, str]]:
    """(N_opt, the approach that gave it) at each FLOP budget, fitted on the ladder's rows
    of `csv_path`. A ScaleError when no approach converged on them."""
    header, rows = ladder_rows(csv_path)
    if not rows:
        raise ScaleError(f"{csv_path} has no ladder runs to fit; validate.flops needs the "
                         "ladder's results")
    with tempfile.TemporaryDirectory(prefix="scalecli-suggest-") as folder:
        ladder_csv = Path(folder) / "results.csv"
        with open(ladder_csv, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore",
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        # The lr search's record goes with the rows, so that each size keeps the lr the
        # search chose, as `scalecli fit` on the CSV itself does (`seeds.searched_runs`).
        record = csv_path.parent / LR_SEARCH_RECORD
        if record.is_file():
            shutil.copyfile(record, Path(folder) / LR_SEARCH_RECORD)
        table = _approaches(ladder_csv, flops, csv_path)
    # the approach that reads N_opt most directly first (`Form.directness`): approach 2's
    # measured parabolas, then approach 3's fitted surface, then approach 1's coarse frontier
    for form in registry.by_directness():
        row = table.get(form.name)
        if row is None or len(row.get("predictions") or []) != len(flops):
            continue
        values = [(p.get("n_opt") or {}).get("value") for p in row["predictions"]]
        if all(v is not None and v > 0 for v in values):
            return [(float(v), row["approach"]) for v in values]
    raise ScaleError("validate.flops needs an isoFLOP design: no compute-optimal approach "
                     f"converged on the ladder's runs in {csv_path} (give budget.flops at "
                     "least 2 budgets, each with sizes on both sides of its optimum)")


def _approaches(csv_path: Path, flops: list[float], source: Path) -> dict[str, dict]:
    """fit.json's `approaches` rows by form, fitted on `csv_path` (the ladder's rows of
    `source`). Approach 2 alone first: it takes milliseconds, where `compute` also fits
    approach 3's grid of starts (tens of seconds)."""
    # Point estimates only: the choice of a size needs no interval and no holdout.
    options = {"predict_flops": list(flops), "bootstrap": 0, "holdout": 0}
    first = registry.by_directness()[0].name
    try:
        doc = compute_fit(csv_path, form=first, **options)
    except ScaleError:  # approach 2 fitted nothing: the other approaches may
        doc = {}
    table = {row["form"]: row for row in doc.get("approaches") or []}
    if first in table:
        return table
    try:
        doc = compute_fit(csv_path, form=registry.COMPUTE, **options)
    except ScaleError as error:
        # named by the user's file, not the temporary copy that is gone by now
        why = str(error).replace(str(csv_path), str(source))
        raise ScaleError(f"validate.flops needs an isoFLOP design: the compute fit of the "
                         f"ladder's runs failed ({why})") from None
    return {row["form"]: row for row in doc.get("approaches") or []}
