"""The compute-optimal approaches with N counted three ways: fit.json's `conventions`.

Which parameters count as N moves a. Kaplan et al. (2020) left the embeddings out and found
N_opt ~ C^0.73; Hoffmann et al. (2022) counted every parameter and found about 0.5. Pearce
and Song (2024) and Porian et al. (2024) traced much of that gap to the count itself: at
small sizes the embeddings are a large share of the parameters, and that share shrinks as
models grow. So the same runs are fitted with N as
- `params`: every trainable parameter, the default (C, the `flops` column, counts them all);
- `params_non_embedding`: Kaplan et al.'s N;
- `params_matmul`: every weight that enters a matmul, the tied output head included, the N
  of `flops_per_token` = 6 N + attention (without position embeddings, biases, LayerNorms).
C stays the `flops` column for all three approaches: approach 3 solves L(N, C / f(N)) with
f the FLOPs per token measured against whichever N is counted (`compute.per_token`).

A CSV gets the conventions its columns allow: one without `params_matmul` (written before
that column existed, or not by scalecli) gets the others and a note that says why.
"""

from __future__ import annotations

from dataclasses import replace

from scalecli.errors import ScaleError
from scalecli.fit.compute import Job, approach_fits, approaches_table
from scalecli.fit.forms import registry
from scalecli.fit.schema.text import CONVENTIONS, NAMES


def by_convention(choice: str, job: Job, table: list[dict]
                  ) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """({column: approaches table}, {column: why it was skipped}) for the --form choice.

    `table` is the approaches table already fitted with N = job.x_col; it is reused, not
    refitted. The other conventions refit the same
    runs (one point per configuration, `job.lad`) with only N changed."""
    x_col, header, path = job.x_col, job.header, job.path
    # an --x outside the three is shown too, first, as the N the user asked for
    tables: dict[str, list[dict]] = {} if x_col in NAMES else {x_col: table}
    skipped: dict[str, str] = {}
    for column, _ in CONVENTIONS:
        if column == x_col:
            tables[column] = table
            continue
        if column not in header:
            skipped[column] = f"{path.name} has no column {column!r}"
            continue
        try:
            fits, _ = approach_fits(registry.selected(choice), replace(job, x_col=column))
        except ScaleError as error:  # e.g. blank cells in rows written before the column
            skipped[column] = str(error)
            continue
        tables[column] = approaches_table(fits)
    return tables, skipped


def skipped_notes(skipped: dict[str, str]) -> list[str]:
    """One summary note per convention left out (`by_convention` skips only NAMES' columns)."""
    return [f"N counted as {NAMES[column]} ({column}) left out of the "
            f"conventions table: {why}" for column, why in skipped.items()]
