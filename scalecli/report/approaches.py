"""The report's tables of the compute-optimal approaches, from fit.json alone.

`approaches` (Hoffmann et al. 2022's approaches 1-3 for the N that `fit` was given) becomes
one table of a with its 95% interval, b and the tokens per parameter at the optimum, and
the --predict-flops rows; `conventions` (the same table with N counted as total,
non-embedding and matmul-only parameters) a second table with an "N counted as" column,
since which parameters count as N moves a by itself. A fit.json without them (power,
saturating, chinchilla alone, or one written before they existed) shows neither.
"""

from __future__ import annotations

from scalecli.fit.forms import LawForm, registry
from scalecli.fit.schema import ApproachRow, FitDoc
from scalecli.fit.schema.text import (
    EXPONENT_HEADERS,
    NAMES,
    PARAMETRIC_C,
    estimate_text,
    exponent_rows,
)
from scalecli.report.blocks import Block, fmt

HEADERS = ["approach", "a (N_opt ~ C^a), 95% CI", "b (D_opt ~ C^b), 95% CI"]


def _cells(row: ApproachRow) -> list[str]:
    return [row.approach, estimate_text(row.a_opt, fmt), estimate_text(row.b_opt, fmt),
            estimate_text(row.tokens_per_param, fmt)]


def _reference(rows: list[ApproachRow]) -> str:
    """The one C at which tokens per parameter are compared (`compute.reference_flops`)."""
    flops = next((r.tokens_per_param.flops for r in rows
                  if r.tokens_per_param and r.tokens_per_param.flops), None)
    return f"tokens/param at C = {fmt(flops, 'e')}"


def _named(column: str) -> str:
    return f"{NAMES[column]} ({column})" if column in NAMES else column


def approaches_blocks(fit: FitDoc | None) -> list[Block]:
    """The approaches table, its predictions and the conventions table; [] without them."""
    table = fit.approach_rows() if fit else []
    if not fit or not table:
        return []
    n_col = next((f.x for r in table if (f := fit.fits.get(r.form))), None) or "params"
    blocks = [Block("h3", "compute-optimal approaches"),
              Block("p", f"Hoffmann et al. (2022)'s approaches on the same runs, with N "
                         f"counted as {_named(n_col)}: N_opt ~ C^a and D_opt ~ C^b, each "
                         "with its 95% bootstrap interval, and the tokens per parameter at "
                         "the optimum at one C (the geometric middle of the budgets)."),
              Block("table", headers=[*HEADERS, _reference(table)],
                    rows=[_cells(r) for r in table])]
    predicted = [(r, p) for r in table for p in r.predictions]
    if predicted:
        blocks.append(Block("table", headers=["approach", "C (FLOPs)", "N_opt, 95% CI",
                                              "D_opt, 95% CI", "loss, 95% CI"],
                            rows=[[r.approach, fmt(p.x, "e"), estimate_text(p.n_opt, fmt),
                                   estimate_text(p.d_opt, fmt), estimate_text(p.y, fmt)]
                                  for r, p in predicted]))
    conventions = fit.convention_tables()
    if conventions:
        rows = [[_named(column) if k == 0 else "", *_cells(r)]
                for column, group in conventions.items() for k, r in enumerate(group)]
        every = [r for group in conventions.values() for r in group]
        blocks += [Block("p", "The same approaches with N counted each way the CSV allows: "
                              "every parameter (C, the flops column, counts them all), Kaplan "
                              "et al.'s non-embedding N, and every weight that enters a "
                              "matmul. The embeddings' share of N shrinks as models grow, so "
                              "the count alone moves a."),
                   Block("table", headers=["N counted as", *HEADERS, _reference(every)],
                         rows=rows)]
    skipped = fit.conventions_skipped or {}
    if skipped:
        blocks.append(Block("p", "Not counted: " + "; ".join(
            f"{_named(column)}, because {why}" for column, why in skipped.items()) + "."))
    if any(isinstance(registry.find(r.form), LawForm) for r in table):  # approach 3
        blocks.append(Block("p", f"Approach 3 (parametric): {PARAMETRIC_C}, with N counted as its "
                                 "row says; approaches 1 and 2 take C from the compute "
                                 f"column ({_compute_column(fit)})."))
    return blocks


def _compute_column(fit: FitDoc) -> str:
    return next((f.c for f in fit.fits.values() if f.c), "flops")


def exponents_blocks(fit: FitDoc | None) -> list[Block]:
    """`fit --form all`'s exponents: every scale the design supports, and the missing ones
    with what to add; [] for a fit.json without them."""
    entries = fit.exponents if fit else None
    if not entries:
        return []
    rows, missing = exponent_rows(entries, fmt)
    blocks = [Block("h3", "exponents"),
              Block("p", "The power law's exponent for each kind of scale these runs allow: N "
                         "at a fixed D, D at a fixed N, C on the compute frontier, the "
                         "compute-optimal a and b (isoFLOP), and the parametric form's alpha "
                         "and beta (signed as exponents). Each with its 95% bootstrap "
                         "interval.")]
    if rows:
        blocks.append(Block("table", headers=list(EXPONENT_HEADERS), rows=rows))
    if missing:
        blocks.append(Block("p", "Not measured by this design: " + "; ".join(missing) + "."))
    return blocks
