# ruff: noqa: E501  (the table's lines are written out as wide as the terminal shows them)
"""`fit --form all`'s exponents in the terminal (summary.print_exponents) exactly as a user
sees it: the whole table, cell by cell and with each column's alignment (text left,
numbers right), the 'not measured:' lines under it, and their colours, from entries
written here by hand.

The entries are what fit.exponents writes for a token grid without budget_flops: sizes
s1, s2, s3 on 1e9 and 4e9 tokens and s1 also on 2e9 (7 runs), so N at two fixed budgets,
D for s1 alone, C on the frontier, no isoFLOP a and b (with the reason and what to add),
and the parametric -alpha and -beta, the latter with a profile interval unbounded below.
Cells follow fit.schema.text: a value to 4 significant digits with its [low, high],
'-inf' for a missing end, R^2 to 3 decimals."""

from __future__ import annotations

from rich.console import Console

from scalecli.fit import summary
from tests.fit.terminal import ANSI, printed, terminal

YELLOW = "\x1b[33mnot measured:\x1b[0m"  # color_system="standard"


def _slope(scale: str, x: str, at: str, value: float, low: float, high: float, n: int,
           r2: float) -> dict:
    return {"scale": scale, "x": x, "y": "val_loss", "at": at, "kind": "power slope",
            "quantity": f"b of val_loss = k {x}^b (d ln val_loss / d ln {x})",
            "exponent": {"value": value, "se": 0.002, "ci_low": low, "ci_high": high},
            "n_points": n, "r2_log": r2}


NO_FLOPS = ("the CSV has no budget_flops: add budget: {flops: [...]} to the sweep for the "
            "compute-optimal a and b")
ENTRIES = [
    _slope("N", "params", "tokens = 1e+09", -0.0761, -0.0803, -0.0722, 3, 0.99912),
    _slope("N", "params", "tokens = 4e+09", -0.0698, -0.0751, -0.0644, 3, 0.99456),
    _slope("D", "tokens", "s1 (N = 2e+07)", -0.0412, -0.0467, -0.0359, 3, 0.9871),
    _slope("C", "flops", "compute frontier (4 of 7 budgets, 7 runs)", -0.0372, -0.041,
           -0.0335, 4, 0.99783),
    {"scale": "N_opt(C)", "x": "flops", "y": "N_opt", "at": "isoFLOP budgets",
     "kind": "compute-optimal exponent", "quantity": "a of N_opt ~ C^a", "exponent": None,
     "reason": NO_FLOPS},
    {"scale": "D_opt(C)", "x": "flops", "y": "D_opt", "at": "isoFLOP budgets",
     "kind": "compute-optimal exponent", "quantity": "b of D_opt ~ C^b", "exponent": None,
     "reason": NO_FLOPS},
    {"scale": "N", "x": "params", "y": "val_loss", "at": "parametric (-alpha), every run",
     "kind": "reducible-loss exponent",
     "quantity": "-alpha of A / N^alpha in L - E = A / N^alpha + B / D^beta",
     "exponent": {"value": -0.34, "se": 0.03, "ci_low": -0.41, "ci_high": -0.28},
     "n_points": 7, "r2_log": 0.99941},
    {"scale": "D", "x": "tokens", "y": "val_loss", "at": "parametric (-beta), every run",
     "kind": "reducible-loss exponent",
     "quantity": "-beta of B / D^beta in L - E = A / N^alpha + B / D^beta",
     "exponent": {"value": -0.28, "se": None, "ci_low": None, "ci_high": -0.21},
     "n_points": 7, "r2_log": 0.99941},
]

TITLE = "exponents: every scale the design supports"
# Column widths: the widest of header and cells (scale 5 its header, at 41 the frontier's,
# what the number is 57 -alpha's, value 26, points 6 and R^2 (log) 9 their headers), one
# space each side, 7 borders: 163 characters, across which the title is left-justified.
# The terminal is 180 wide so that nothing wraps.
TABLE = [
    TITLE + " " * (163 - len(TITLE)),
    "┏━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━┓",
    "┃ scale ┃ at                                        ┃ what the number is                                        ┃             value (95% CI) ┃ points ┃ R^2 (log) ┃",
    "┡━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━┩",
    "│ N     │ tokens = 1e+09                            │ b of val_loss = k params^b (d ln val_loss / d ln params)  │ -0.0761 [-0.0803, -0.0722] │      3 │     0.999 │",
    "│ N     │ tokens = 4e+09                            │ b of val_loss = k params^b (d ln val_loss / d ln params)  │ -0.0698 [-0.0751, -0.0644] │      3 │     0.995 │",
    "│ D     │ s1 (N = 2e+07)                            │ b of val_loss = k tokens^b (d ln val_loss / d ln tokens)  │ -0.0412 [-0.0467, -0.0359] │      3 │     0.987 │",
    "│ C     │ compute frontier (4 of 7 budgets, 7 runs) │ b of val_loss = k flops^b (d ln val_loss / d ln flops)    │  -0.0372 [-0.041, -0.0335] │      4 │     0.998 │",
    "│ N     │ parametric (-alpha), every run            │ -alpha of A / N^alpha in L - E = A / N^alpha + B / D^beta │       -0.34 [-0.41, -0.28] │      7 │     0.999 │",
    "│ D     │ parametric (-beta), every run             │ -beta of B / D^beta in L - E = A / N^alpha + B / D^beta   │        -0.28 [-inf, -0.21] │      7 │     0.999 │",
    "└───────┴───────────────────────────────────────────┴───────────────────────────────────────────────────────────┴────────────────────────────┴────────┴───────────┘",
]
# the brackets and braces of the reason are text, not rich markup
LINES = [
    "  not measured: N_opt(C) (isoFLOP budgets): " + NO_FLOPS,
    "  not measured: D_opt(C) (isoFLOP budgets): " + NO_FLOPS,
]


def console() -> Console:
    """A terminal of fixed width and colours, highlighting on as rich's default is."""
    return terminal(180)


def shown(entries: list[dict]) -> tuple[list[str], list[str]]:
    """(plain lines, lines with their ANSI styles) that print_exponents writes."""
    con = console()
    summary.print_exponents(con, entries)
    return printed(con)


def test_the_whole_table_and_the_scales_not_measured() -> None:
    plain, _ = shown(ENTRIES)
    assert plain == TABLE + LINES


def test_every_scale_measured_no_lines_under_the_table() -> None:
    plain, _ = shown([e for e in ENTRIES if e["exponent"] is not None])
    assert plain == TABLE


def test_the_rows_carry_no_colour_and_the_lines_only_a_yellow_prefix() -> None:
    _, styled = shown(ENTRIES)
    body = styled[4:len(TABLE)]
    assert body == TABLE[4:]  # not one escape code in the rows or the bottom border
    tail = styled[len(TABLE):]
    assert [line.count(YELLOW) for line in tail] == [1, 1]
    # the yellow prefix is the only escape code: the lines are printed with highlight=False
    assert [line.replace(YELLOW, "not measured:") for line in tail] == LINES
    # the same text printed with rich's default highlighting is coloured (the parentheses,
    # braces and brackets), so the equality above is what highlight=False buys
    con = console()
    for line in LINES:
        con.print(line)
    coloured = con.export_text(styles=True).splitlines()
    assert all(ANSI.search(line) for line in coloured)
    assert [ANSI.sub("", line) for line in coloured] == LINES
