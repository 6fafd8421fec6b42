# ruff: noqa: E501  (the table's lines are written out as wide as the terminal shows them)
"""`fit --form compute`'s approaches in the terminal (summary.print_approaches) exactly as a
user sees it: the whole table, cell by cell and with each column's alignment (text left,
numbers right), the parametric line and the per-budget lines under it, from a table
written here by hand.

The rows are what fit.compute.approaches_table writes for `--x n_active --predict-flops
1e22`: n_active, a column the conventions do not name, comes first and is `approaches`
itself (fit.conventions.by_convention), then the default N, params, whose isoFLOP fit did
not converge (no row). Tokens per parameter are compared at the first row's C, 1e21.
The predictions are consistent with C = 6 N D at 1e22 and with each approach's tokens per
parameter moved by C^(b - a); approaches 1 and 2 give no loss (`"loss": None`)."""

from __future__ import annotations

from scalecli.fit import summary
from tests.fit.terminal import terminal


def est(value: float, low: float, high: float) -> dict:
    return {"value": value, "se": None, "ci_low": low, "ci_high": high}


def tpp(value: float, low: float, high: float) -> dict:
    return {"flops": 1e21, **est(value, low, high)}


def predicted(n: tuple, d: tuple, loss: tuple | None) -> list[dict]:
    return [{"flops": 1e22, "n_opt": est(*n), "d_opt": est(*d),
             "loss": None if loss is None else est(*loss)}]


N_ACTIVE = [
    {"approach": "1: envelope", "form": "envelope", "a_opt": est(0.52, 0.47, 0.58),
     "b_opt": est(0.48, 0.42, 0.53), "tokens_per_param": tpp(21.3, 15.2, 29.8),
     "predictions": predicted((9.3e9, 7.1e9, 1.21e10), (1.8e11, 1.38e11, 2.35e11), None)},
    {"approach": "2: isoFLOP", "form": "isoflop", "a_opt": est(0.49, 0.45, 0.53),
     "b_opt": est(0.51, 0.47, 0.55), "tokens_per_param": tpp(19.6, 17.1, 22.4),
     "predictions": predicted((9e9, 8.1e9, 1e10), (1.85e11, 1.67e11, 2.06e11), None)},
    {"approach": "3: parametric", "form": "chinchilla", "a_opt": est(0.46, 0.44, 0.48),
     "b_opt": est(0.54, 0.52, 0.56), "tokens_per_param": tpp(24.7, 22.9, 26.4),
     "predictions": predicted((7.5e9, 6.9e9, 8.2e9), (2.22e11, 2.03e11, 2.41e11),
                              (2.013, 1.998, 2.029))},
]
PARAMS = [
    {"approach": "1: envelope", "form": "envelope", "a_opt": est(0.55, 0.5, 0.61),
     "b_opt": est(0.45, 0.39, 0.5), "tokens_per_param": tpp(14.8, 11.0, 19.9),
     "predictions": predicted((1.06e10, 8e9, 1.4e10), (1.57e11, 1.19e11, 2.08e11), None)},
    {"approach": "3: parametric", "form": "chinchilla", "a_opt": est(0.5, 0.48, 0.52),
     "b_opt": est(0.5, 0.48, 0.52), "tokens_per_param": tpp(18.2, 17.0, 19.5),
     "predictions": predicted((9.6e9, 9e9, 1.02e10), (1.74e11, 1.63e11, 1.85e11),
                              (2.02, 2.005, 2.036))},
]
CONVENTIONS = {"n_active": N_ACTIVE, "params": PARAMS}

TITLE = "compute-optimal, per approach (95% CI)"
# Column widths: the widest of header and cells (N counted as 19 'n_active (n_active)',
# approach 13 '3: parametric', a and b 17 their intervals, tokens/param 25 its header), one
# space each side, 6 borders: 107 characters, across which the title is left-justified.
# The name of a group is on its first row only; the header says N counted as what.
TABLE = [
    TITLE + " " * (107 - len(TITLE)),
    "┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
    "┃ N counted as        ┃ approach      ┃   a (N_opt ~ C^a) ┃   b (D_opt ~ C^b) ┃ tokens/param at C = 1e+21 ┃",
    "┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
    "│ n_active (n_active) │ 1: envelope   │ 0.52 [0.47, 0.58] │ 0.48 [0.42, 0.53] │         21.3 [15.2, 29.8] │",
    "│                     │ 2: isoFLOP    │ 0.49 [0.45, 0.53] │ 0.51 [0.47, 0.55] │         19.6 [17.1, 22.4] │",
    "│                     │ 3: parametric │ 0.46 [0.44, 0.48] │ 0.54 [0.52, 0.56] │         24.7 [22.9, 26.4] │",
    "│ total (params)      │ 1: envelope   │  0.55 [0.5, 0.61] │  0.45 [0.39, 0.5] │           14.8 [11, 19.9] │",
    "│                     │ 3: parametric │  0.5 [0.48, 0.52] │  0.5 [0.48, 0.52] │           18.2 [17, 19.5] │",
    "└─────────────────────┴───────────────┴───────────────────┴───────────────────┴───────────────────────────┘",
]
# approach 3 says how it solves; then the budgets of `approaches` (n_active), loss only
# where the approach gives one
LINES = [
    "  3: parametric: N_opt(C) minimises L(N, C / flops_per_token(N)) on the compute column's "
    "C, flops per token as the runs count it (the closed form G (C/6)^a assumes C = 6 N D, and "
    "is used only where that holds), with N counted as its row says; 1 and 2 take C from the "
    "compute column",
    "  1: envelope at C = 1e+22: N_opt 9.3e+09 [7.1e+09, 1.21e+10], D_opt 1.8e+11 [1.38e+11, 2.35e+11]",
    "  2: isoFLOP at C = 1e+22: N_opt 9e+09 [8.1e+09, 1e+10], D_opt 1.85e+11 [1.67e+11, 2.06e+11]",
    "  3: parametric at C = 1e+22: N_opt 7.5e+09 [6.9e+09, 8.2e+09], D_opt 2.22e+11 [2.03e+11, 2.41e+11], loss 2.013 [1.998, 2.029]",
]


def shown(table: list[dict], conventions: dict | None) -> list[str]:
    """The plain lines print_approaches writes on a terminal of fixed width (the
    parametric line, 281 characters, does not wrap) and colours."""
    con = terminal(320)
    summary.print_approaches(con, table, conventions)
    return con.export_text().splitlines()


def test_the_whole_table_with_n_counted_two_ways_and_the_lines_under_it() -> None:
    assert shown(N_ACTIVE, CONVENTIONS) == TABLE + LINES


def test_a_column_name_with_brackets_is_printed_as_written() -> None:
    # `--x` names a CSV column: the user's text, not rich markup ('m[/b]' crashed with a
    # MarkupError, '[bold]' vanished)
    conventions = {"m[/b]": N_ACTIVE[:1], "[bold]n": N_ACTIVE[1:2]}
    lines = shown(N_ACTIVE[:1], conventions)
    assert lines[4].startswith("│ m[/b] (m[/b])     │ 1: envelope │")
    assert lines[5].startswith("│ [bold]n ([bold]n) │ 2: isoFLOP  │")
