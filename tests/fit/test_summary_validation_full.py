"""The fit terminal's 'Prediction check' (summary.print_validation) exactly as a user sees
it: the whole table, cell by cell and with each column's alignment, the lines under it,
and their colours, from a validation block written here by hand.

The block is consistent with fit.validation: rel_error = (predicted - observed) / observed,
inside = observed within [low, high] (None without an interval), ruled_out the forms with
a run outside their interval in the order met, best_form the non-combined form with the
smallest worst |rel_error| (power 5%, saturating 2%)."""

from __future__ import annotations

from rich.console import Console

from scalecli.fit import summary
from tests.fit.terminal import ANSI, printed, terminal

YELLOW_NO = "\x1b[33mno\x1b[0m"  # 'no' in yellow, color_system="standard"

RUNS = [
    # a model name beside a run_id: the model is what the run column shows
    {"model": "gpt-big", "run_id": "r1", "x": 1.5e9, "observed": 3.2, "scores": [
        {"form": "power", "predicted": 3.04, "low": 2.98, "high": 3.1, "rel_error": -0.05,
         "inside": False},
        {"form": "saturating", "predicted": 3.168, "low": 3.1, "high": 3.25,
         "rel_error": -0.01, "inside": True}]},
    # an empty model name: the run_id; no prediction at all, and one without an interval
    {"model": "", "run_id": "r2", "x": 3e9, "observed": 3.05, "scores": [
        {"form": "power", "predicted": None, "rel_error": None, "inside": None},
        {"form": "saturating", "predicted": 3.111, "low": None, "high": None,
         "rel_error": 0.02, "inside": None}]},
    # neither: '-'
    {"x": 6e9, "observed": 2.95, "scores": [
        {"form": "saturating", "predicted": 2.95, "low": 2.9, "high": 3.0, "rel_error": 0.0,
         "inside": True},
        {"form": "combined", "predicted": 3.0, "low": 2.97, "high": 3.03,
         "rel_error": 0.05 / 2.95, "inside": False}]},
]
COMPUTE = [
    {"flops": 1e20, "best_trained_n": 3e8, "observed_best": 2.95123,
     "runs": [{"model": "v1", "run_id": "x1", "observed": 2.95123, "predicted": 2.9,
               "low": 2.8, "high": 3.0},
              {"run_id": "v2", "observed": 3.01}],
     "approaches": [{"approach": "2: isoFLOP", "n_opt": 2.5e8, "n_ratio": 0.8333,
                     "loss": None},
                    {"approach": "3: parametric", "n_opt": 4e8, "n_ratio": 1.333,
                     "loss": 2.93, "low": 2.9, "high": 2.96, "inside": True}]},
    {"flops": 1e21, "best_trained_n": 1e9, "observed_best": 2.81,
     "runs": [{"run_id": "v3", "observed": 2.81, "predicted": 2.7, "low": 2.65,
               "high": 2.75}],
     "approaches": [{"approach": "3: parametric", "n_opt": 1.2e9, "n_ratio": 1.2,
                     "loss": 2.7, "low": 2.65, "high": 2.75, "inside": False}]},
]
BLOCK = {"y": "val_loss", "best_form": "saturating", "ruled_out": ["power", "combined"],
         "runs": RUNS, "compute": COMPUTE}

TITLE = "Prediction check: runs past the ladder (val_loss, 95% prediction intervals)"
# Column widths: the widest of header and cells (run 7 'gpt-big', N 7 '1.5e+09', form 10
# 'saturating', predicted 21 its header, observed 8, rel. error 10, inside 6), one space
# each side, 8 borders: 91 characters, across which the title is left-justified.
TABLE = [
    TITLE + " " * (91 - len(TITLE)),
    "┏━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━┓",
    "┃ run     ┃       N ┃ form       ┃ predicted [low, high] ┃ observed ┃ rel. error ┃ inside ┃",
    "┡━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━┩",
    "│ gpt-big │ 1.5e+09 │ power      │      3.04 [2.98, 3.1] │      3.2 │     -5.00% │     no │",
    "│         │         │ saturating │     3.168 [3.1, 3.25] │          │     -1.00% │    yes │",
    "│ r2      │   3e+09 │ power      │                     - │     3.05 │          - │      - │",
    "│         │         │ saturating │                 3.111 │          │     +2.00% │      - │",
    "│ -       │   6e+09 │ saturating │         2.95 [2.9, 3] │     2.95 │     +0.00% │    yes │",
    "│         │         │ combined   │        3 [2.97, 3.03] │          │     +1.69% │     no │",
    "└─────────┴─────────┴────────────┴───────────────────────┴──────────┴────────────┴────────┘",
]
LINES = [
    "  best form: saturating; ruled out (a run outside its interval): power, combined",
    "  C = 1e+20: v1 2.951 (3: 2.9 [2.8, 3]), v2 3.01; best trained N 3e+08",
    "    2: isoFLOP: N_opt 2.5e+08 (0.8333x the best trained)",
    "    3: parametric: N_opt 4e+08 (1.333x the best trained), loss 2.93 [2.9, 2.96] vs "
    "2.951 inside",
    "  C = 1e+21: v3 2.81 (3: 2.7 [2.65, 2.75]); best trained N 1e+09",
    "    3: parametric: N_opt 1.2e+09 (1.2x the best trained), loss 2.7 [2.65, 2.75] vs "
    "2.81 outside",
]


def console() -> Console:
    """A terminal of fixed width and colours, highlighting on as rich's default is."""
    return terminal(120)


def shown(block: dict) -> tuple[list[str], list[str]]:
    """(plain lines, lines with their ANSI styles) that print_validation writes."""
    con = console()
    summary.print_validation(con, block)
    return printed(con)


def test_the_whole_table_and_the_lines_under_it() -> None:
    plain, _ = shown(BLOCK)
    assert plain == TABLE + LINES


def test_no_runs_no_table_and_nothing_ruled_out() -> None:
    for ruled in ([], None):
        plain, _ = shown({"y": "val_loss", "runs": [], "best_form": None, "ruled_out": ruled})
        assert plain == ["  best form: -; ruled out (a run outside its interval): none"]


def test_no_is_yellow_and_nothing_else_in_the_rows_is_coloured() -> None:
    _, styled = shown(BLOCK)
    rows = styled[4:10]
    assert [row.count(YELLOW_NO) for row in rows] == [1, 0, 0, 0, 0, 1]
    # the yellow 'no' is the only escape code in the rows
    assert [row.replace(YELLOW_NO, "no") for row in rows] == TABLE[4:10]


def test_the_lines_under_the_table_carry_no_highlighter_colours() -> None:
    _, styled = shown(BLOCK)
    assert styled[len(TABLE):] == LINES  # not one escape code: printed with highlight=False
    # the same text printed with rich's default highlighting is coloured (numbers bold cyan,
    # brackets bold), so the equality above is what highlight=False buys
    con = console()
    for line in LINES:
        con.print(line)
    coloured = con.export_text(styles=True).splitlines()
    assert all(ANSI.search(line) for line in coloured)
    assert "\x1b[1;36m2.951\x1b[0m" in coloured[3]
    assert [ANSI.sub("", line) for line in coloured] == LINES
