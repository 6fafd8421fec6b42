"""`scalecli fit`'s terminal summary (summary.print_summary and print_diagnostics) exactly
as a user sees it: every line, each parameter table cell by cell with its alignment (the
param column left, the numbers right, the title left), the lines printed without
highlighting and their colours, from a fit.json-like document written here by hand.

The document is what `fit --where lr=0.001` could write for a ladder of 3 sizes on a token
grid: the power law along tokens, pooled over sizes (so its caveat and by_size), an
isoFLOP fit, a saturating fit that did not converge, and the Chinchilla law along params
and tokens, in that order, so that a fit after a compute form or a failed one is still
printed. The numbers are consistent where a reader would check them: D_opt = C / (6
N_opt); Chinchilla's N_opt moves by 10^a per decade of C and G = N_opt / (C/6)^a; the
holdout's relative error is (predicted - observed) / observed and inside means observed
within [low, high]; 10^b is the power law's 10x factor; the pooled seed sd is that of two
configurations of 3 seeds (dof 4)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from rich.console import Console

import scalecli.console
from scalecli.fit import summary
from tests.fit.terminal import ANSI, printed, terminal

BOLD_COMBINED = "\x1b[1mcombined 2.68 [2.6, 2.78]\x1b[0m"  # color_system="standard"


def est(value: float, se: float | None, low: float | None, high: float | None) -> dict:
    return {"value": value, "se": se, "ci_low": low, "ci_high": high}


SEED_NOISE = {"column": "val_loss", "pooled_sd": ((2 * 0.011**2 + 2 * 0.013**2) / 4) ** 0.5,
              "dof": 4, "configs_pooled": 2, "outliers_left_out": 0, "points": [
                  {"label": "s1", "tokens": 1e9, "n_seeds": 3, "mean": 3.4567, "sd": 0.011},
                  {"label": "s2", "tokens": 1e9, "n_seeds": 3, "mean": 3.2101, "sd": 0.013}]}

# held out: the 2 largest token counts (3 rows): one inside its interval, one outside, one
# whose interval the bootstrap could not give
PREDICTED, OBSERVED = [3.1, 3.0, 2.9], [3.08, 3.12, 2.93]
POWER = {
    "x": "tokens", "y": "val_loss", "d": None, "converged": True, "message": "",
    "bootstrap": {"n": 200, "n_ok": 198, "seed": 7},
    "params": {"a": est(9.87, 0.41, 9.1, 10.7), "b": est(-0.0712, 0.0021, -0.0755, -0.0671)},
    "r2_log": 0.99874, "rmse_log": 0.00412, "n_points": 8,
    "derived": {"ten_x_factor": 10 ** -0.0712,
                "ten_x_text": "10x tokens -> 15.1% lower loss (95% CI 14.3-16.0%)",
                "predictions": [{"x": 1e10, "y": 2.95, "ci_low": 2.9, "ci_high": 3.01}]},
    "extrapolation_note": "refit without the 2 largest distinct x (3 rows); mean |relative "
                          "error| 1.84%; 1 of 3 inside its 95% prediction interval",
    "extrapolation": {"held_out": 2, "x": [2e9, 4e9, 4e9], "predicted": PREDICTED,
                      "observed": OBSERVED,
                      "rel_error": [(p - o) / o for p, o in zip(PREDICTED, OBSERVED, strict=True)],
                      "low": [3.05, 2.95, None], "high": [3.15, 3.05, None],
                      "inside": [True, False, None]},
    "caveat": "this fit pools 3 sizes, whose losses differ at the same tokens; the data "
              "exponent of each size is in by_size",
    "by_size": [
        {"size": "s1", "n": 2.1e7, "converged": True, "exponent": -0.081,
         "params": {"b": est(-0.081, 0.004, -0.09, -0.072)}},
        {"size": "s2", "n": 8.49e7, "converged": True, "exponent": -0.066,
         "params": {"b": est(-0.066, None, None, None)}},
        {"size": "s3", "n": 3.4e8, "converged": False, "exponent": None, "params": {},
         "message": "1 distinct x; the power form needs 3 points"}],
}
ISOFLOP = {
    "x": "params", "y": "val_loss", "c": "flops", "d": None, "converged": True,
    "message": "2 of 3 budgets accepted", "bootstrap": {"n": 200, "n_ok": 200, "seed": 7},
    "params": {"a_opt": est(0.49, 0.02, 0.45, 0.53), "b_opt": est(0.51, 0.02, 0.47, 0.55)},
    "budgets": [
        {"flops": 1e18, "points": 5, "n_opt": 1.2e8, "d_opt": 1e18 / (6 * 1.2e8),
         "loss_opt": 3.2101, "curvature": 0.0812, "accepted": True},
        {"flops": 1e19, "points": 4, "n_opt": 4e8, "d_opt": 1e19 / (6 * 4e8),
         "loss_opt": 2.95, "curvature": -0.004, "accepted": False, "reason": "not_bracketed",
         "reason_text": "the lowest loss is at the largest size"},
        {"flops": 1e20, "points": 5, "n_opt": 1.1e9, "d_opt": 1e20 / (6 * 1.1e9),
         "loss_opt": 2.7, "curvature": 0.05, "accepted": True}],
}
SATURATING = {"x": "params", "y": "val_loss", "d": None, "converged": False,
              "message": "the fit hit its iteration limit",
              "bootstrap": {"n": 200, "n_ok": 0, "seed": 7}}
A_OPT = 0.4516
CHINCHILLA = {
    "x": "params", "y": "val_loss", "d": "tokens", "converged": True, "message": "",
    "bootstrap": {"n": 100, "n_ok": 97, "seed": 7},
    "params": {"E": est(1.69, 0.05, 1.6, 1.78), "A": est(406.4, 30.0, 350.0, 470.0),
               "alpha": est(0.34, 0.02, 0.3, 0.38), "B": est(410.7, 40.0, 340.0, 490.0),
               "beta": est(0.28, 0.02, 0.24, 0.32)},
    "r2_log": 0.99731, "rmse_log": 0.00655, "n_points": 14,
    "derived": {"a_opt": A_OPT, "b_opt": 1 - A_OPT, "G": 3e9 / (1e21 / 6) ** A_OPT,
                "optimal": [
                    {"C": 1e21, "N_opt": 3e9, "D_opt": 1e21 / (6 * 3e9)},
                    {"C": 1e22, "N_opt": 3e9 * 10**A_OPT,
                     "D_opt": 1e22 / (6 * 3e9 * 10**A_OPT)}],
                "predictions": [{"x": 1e22, "y": 2.41, "ci_low": None, "ci_high": None}]},
    "extrapolation_note": "refit without the 1 largest distinct x (2 rows); mean |relative "
                          "error| 0.52%",
    # an older fit.json: a holdout check without low, high and inside
    "extrapolation": {"x": [3.4e8, 3.4e8], "predicted": [2.9, 2.8], "observed": [2.88, 2.81],
                      "rel_error": [0.02 / 2.88, -0.01 / 2.81]},
    "caveat": None,
}
PREDICTION = {"y": "val_loss", "seed_sd": SEED_NOISE["pooled_sd"], "points": [
    {"x": 3.4e9, "source": "default", "label": None,
     "forms": {"power": {"y": 2.71, "low": 2.62, "high": 2.8},
               "chinchilla": {"y": 2.65, "low": 2.6, "high": 2.7}},
     "combined": {"y": 2.68, "low": 2.6, "high": 2.78, "disagree": False}},
    {"x": 1.5e9, "source": "validation", "label": "gpt-val",
     "forms": {"chinchilla": {"y": 2.8, "low": 2.74, "high": 2.86}}, "combined": None}]}
# given in the order met, an info first: the summary puts the warning before the infos and
# keeps the infos in their order
DIAGNOSTICS = [
    {"severity": "info", "code": "lr_edge",
     "message": "s1: lr 0.001 is the edge of its grid [0.001, 0.004]"},
    {"severity": "warning", "code": "few_sizes",
     "message": "Only 3 sizes: the exponent's interval is wide."},
    {"severity": "info", "code": "multi_epoch", "message": "S3 saw its data 2.1 times."}]
DOC = {
    "source": "out/ladder/results.csv", "rows_total": 14, "rows_used": 8,
    "rows_excluded": {"failed": 1, "lr!=0.001": 4, "validation runs (scored, not fitted)": 1},
    "filter": ["status=ok", "lr=0.001"],
    "seed_noise": SEED_NOISE,
    "fits": {"power": POWER, "isoflop": ISOFLOP, "saturating": SATURATING,
             "chinchilla": CHINCHILLA},
    "prediction": PREDICTION,
    "diagnostics": DIAGNOSTICS,
}
NOTES = ["envelope: skipped (1 budget with 3 sizes; it needs 2)"]

HEAD = [
    "out/ladder/results.csv: 8 of 14 rows used (left out: 1 failed, 4 lr!=0.001, 1 validation "
    "runs (scored, not fitted)); filter status=ok lr=0.001",
]
SEED_LINES = [  # printed without highlighting
    "seed noise: pooled sd of val_loss 0.01204 (4 degrees of freedom over 2 configurations); "
    "each point is the mean over its seeds",
    "  per point (n seeds, mean +- sd): s1 3x 3.457 +- 0.011; s2 3x 3.21 +- 0.013",
]
# Columns: param 5 (its header), value 7 '-0.0712', se 6 '0.0021', 95% CI 18
# '[-0.0755, -0.0671]'; one space each side and 5 borders: 49, across which the title is
# left-justified. The param column is left-justified: 'a' and 'b' sit under 'p'.
POWER_TITLE = "power: val_loss vs tokens"
POWER_TABLE = [
    POWER_TITLE + " " * (49 - len(POWER_TITLE)),
    "┏━━━━━━━┳━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┓",
    "┃ param ┃   value ┃     se ┃             95% CI ┃",
    "┡━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━┩",
    "│ a     │    9.87 │   0.41 │        [9.1, 10.7] │",
    "│ b     │ -0.0712 │ 0.0021 │ [-0.0755, -0.0671] │",
    "└───────┴─────────┴────────┴────────────────────┘",
]
POWER_LINES = [
    "  R^2 (log) 0.9987, RMSE (log) 0.0041, 8 points; bootstrap 198/200 refits ok (seed 7)",
    "  10x tokens -> 15.1% lower loss (95% CI 14.3-16.0%) (10^b = 0.8488)",
    "  combined prediction at 10x the largest size (N = 3.4e+09): val_loss 2.68 [2.6, 2.78] "
    "(95% prediction interval)",  # printed without highlighting
    "  predicted val_loss at tokens = 1e+10: 2.95 [2.9, 3.01]",
    "  extrapolation: refit without the 2 largest distinct x (3 rows); mean |relative error| "
    "1.84%; 1 of 3 inside its 95% prediction interval",
    "    x = 2e+09: predicted 3.1 [3.05, 3.15], inside, observed 3.08 (+0.65%)",
    "    x = 4e+09: predicted 3 [2.95, 3.05], outside, observed 3.12 (-3.85%)",
    "    x = 4e+09: predicted 2.9, observed 2.93 (-1.02%)",
    "  caution: this fit pools 3 sizes, whose losses differ at the same tokens; the data "
    "exponent of each size is in by_size",
    "  per size, the exponent along tokens (95% CI): s1 (N 2.1e+07): -0.081 [-0.09, -0.072]; "
    "s2 (N 8.49e+07): -0.066; s3 (N 3.4e+08): no fit (1 distinct x; the power form needs 3 "
    "points)",  # printed without highlighting
]
ISOFLOP_LINES = [
    "  C = 1e+18: 5 sizes, N_opt 1.2e+08, D_opt 1.389e+09, loss 3.21, curvature 0.0812; "
    "accepted",
    "  C = 1e+19: 4 sizes, N_opt 4e+08, D_opt 4.167e+09, loss 2.95, curvature -0.004; "
    "rejected: not_bracketed (the lowest loss is at the largest size)",
    "  C = 1e+20: 5 sizes, N_opt 1.1e+09, D_opt 1.515e+10, loss 2.7, curvature 0.05; accepted",
    "isoflop: N_opt ~ C^a, D_opt ~ C^b (val_loss; N = params, C = flops): a = 0.49 [0.45, "
    "0.53], b = 0.51 [0.47, 0.55]; 2 of 3 budgets accepted; bootstrap 200/200 refits ok",
]
SATURATING_LINES = [
    "saturating: val_loss vs params: did not converge (the fit hit its iteration limit)",
]
# Columns: param 5, value 5, se 4 '0.05', 95% CI 12 '[0.24, 0.32]': 39 wide; the title,
# with the d column, is 38.
CHIN_TITLE = "chinchilla: val_loss vs params, tokens"
CHIN_TABLE = [
    CHIN_TITLE + " ",
    "┏━━━━━━━┳━━━━━━━┳━━━━━━┳━━━━━━━━━━━━━━┓",
    "┃ param ┃ value ┃   se ┃       95% CI ┃",
    "┡━━━━━━━╇━━━━━━━╇━━━━━━╇━━━━━━━━━━━━━━┩",
    "│ E     │  1.69 │ 0.05 │  [1.6, 1.78] │",
    "│ A     │ 406.4 │   30 │   [350, 470] │",
    "│ alpha │  0.34 │ 0.02 │  [0.3, 0.38] │",
    "│ B     │ 410.7 │   40 │   [340, 490] │",
    "│ beta  │  0.28 │ 0.02 │ [0.24, 0.32] │",
    "└───────┴───────┴──────┴──────────────┘",
]
CHIN_LINES = [
    "  R^2 (log) 0.9973, RMSE (log) 0.0066, 14 points; bootstrap 97/100 refits ok (seed 7)",
    "  compute-optimal: N_opt ~ C^0.452, D_opt ~ C^0.548, G = 2.213",
    "    C = 1e+21 FLOPs: N_opt = 3e+09, D_opt = 5.56e+10",
    "    C = 1e+22 FLOPs: N_opt = 8.49e+09, D_opt = 1.96e+11",
    "  predicted val_loss at C = 1e+22: 2.41",
    "  extrapolation: refit without the 1 largest distinct x (2 rows); mean |relative error| "
    "0.52%",
    "    x = 3.4e+08: predicted 2.9, observed 2.88 (+0.69%)",
    "    x = 3.4e+08: predicted 2.8, observed 2.81 (-0.36%)",
]
PREDICTION_LINES = [  # printed without highlighting; 'combined ...' in bold
    "prediction of one new run's val_loss from the ladder (95% prediction intervals: the "
    "fit's uncertainty plus seed noise sd 0.012)",
    "  N = 3.4e+09 (10x the largest): power 2.71 [2.62, 2.8]; chinchilla 2.65 [2.6, 2.7]; "
    "combined 2.68 [2.6, 2.78]",
    "  N = 1.5e+09 (gpt-val): chinchilla 2.8 [2.74, 2.86]",
]
TAIL = [
    "note: envelope: skipped (1 budget with 3 sizes; it needs 2)",
    "diagnostics: 1 warning(s), 2 note(s)",
    "  warning few_sizes: Only 3 sizes: the exponent's interval is wide.",
    "  info lr_edge: s1: lr 0.001 is the edge of its grid [0.001, 0.004]",
    "  info multi_epoch: S3 saw its data 2.1 times.",
    "wrote out/ladder/fit.json",
]


def console() -> Console:
    """A terminal of fixed width (nothing wraps) and colours, highlighting on as rich's
    default is: lines printed with highlight=False stay plain even so."""
    return terminal(200)


def shown(monkeypatch, doc: dict, notes: list[str], out: str = "out/ladder/fit.json"
          ) -> tuple[list[str], list[str]]:
    """(plain lines, lines with their ANSI styles) that print_summary writes."""
    con = console()
    monkeypatch.setattr(scalecli.console, "output_console", lambda: con)
    summary.print_summary(doc, notes, Path(out))
    return printed(con)


def test_the_whole_summary(monkeypatch) -> None:
    plain, _ = shown(monkeypatch, DOC, NOTES)
    assert plain == (HEAD + SEED_LINES + POWER_TABLE + POWER_LINES + ISOFLOP_LINES
                     + SATURATING_LINES + CHIN_TABLE + CHIN_LINES + PREDICTION_LINES + TAIL)


EXPECTED = (HEAD + SEED_LINES + POWER_TABLE + POWER_LINES + ISOFLOP_LINES + SATURATING_LINES
            + CHIN_TABLE + CHIN_LINES + PREDICTION_LINES + TAIL)
# the lines printed with highlight=False: the seed noise, the combined prediction beside
# the 10x, the per-size exponents and the prediction block
PLAIN = [*SEED_LINES, POWER_LINES[2], POWER_LINES[-1], *PREDICTION_LINES]


def test_lines_printed_without_highlighting_carry_no_highlighter_colours(monkeypatch) -> None:
    _, styled = shown(monkeypatch, DOC, NOTES)
    got = [styled[EXPECTED.index(line)] for line in PLAIN]
    # not one escape code but the prediction block's bold 'combined ...'
    assert got == [*PLAIN[:5], PLAIN[5].replace("combined 2.68 [2.6, 2.78]", BOLD_COMBINED),
                   PLAIN[6]]
    # the same text printed with rich's default highlighting is coloured (numbers bold cyan,
    # brackets bold), so the equality above is what highlight=False buys
    con = console()
    for line in PLAIN:
        con.print(line)
    coloured = con.export_text(styles=True).splitlines()
    assert all(ANSI.search(line) for line in coloured)
    assert "\x1b[1;36m0.01204\x1b[0m" in coloured[0]
    assert [ANSI.sub("", line) for line in coloured] == PLAIN
    # and the interval outside is yellow
    outside = styled[EXPECTED.index(POWER_LINES[6])]
    assert "\x1b[33moutside\x1b[0m" in outside and "inside" not in ANSI.sub("", outside)


@pytest.mark.parametrize("diagnostics", [[], None])
def test_no_diagnostics_says_so_in_green(monkeypatch, diagnostics) -> None:
    doc = {**DOC, "fits": {}, "seed_noise": None, "prediction": None,
           "diagnostics": diagnostics}
    plain, styled = shown(monkeypatch, doc, [])
    assert plain == [*HEAD, "diagnostics: nothing to warn about", "wrote out/ladder/fit.json"]
    assert styled[1] == "\x1b[32mdiagnostics: nothing to warn about\x1b[0m"


# The user's text in each place print_summary puts it, with brackets that rich would read as
# markup: a closing tag with nothing to close crashed (MarkupError), '[b]' vanished. Column
# names keep their length, so the tables keep their widths.
RENAMED = [("val_loss", "lo[/b]ss"), ("tokens", "t[b]ok"), ("params", "p[/i]m"),
           ("flops", "fl[/]p"), ("s1", "m[/b]"), ("gpt-val", "gpt [ablation]"),
           ("lr=0.001", "lr=[/0.001]"), ("lr!=0.001", "lr!=[/0.001]"),
           ("out/ladder", "out/[red]ladder"), ("iteration limit", "iteration [/b]limit"),
           ("lowest loss is", "lowest [/i]loss is"), ("budgets accepted", "budgets [b]accepted"),
           ("(3 rows)", "(3 rows[/])"), ("1 budget with", "1 [/]budget with"),
           ("not_bracketed", "not_[bold]bracketed")]


def renamed(value):
    """`value` with every string in it (not the keys) renamed as RENAMED says."""
    if isinstance(value, dict):
        return {k: renamed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v) for v in value]
    if isinstance(value, str):
        for old, new in RENAMED:
            value = value.replace(old, new)
    return value


def test_the_users_names_are_printed_as_written(monkeypatch) -> None:
    doc = renamed(copy.deepcopy(DOC))
    doc["rows_excluded"] = {renamed(k): n for k, n in DOC["rows_excluded"].items()}
    plain, _ = shown(monkeypatch, doc, renamed(NOTES), renamed("out/ladder/fit.json"))
    assert plain == renamed(EXPECTED)
    assert "  predicted lo[/b]ss at t[b]ok = 1e+10: 2.95 [2.9, 3.01]" in plain  # as written
    # a compute fit with no law says why, the message as written
    con = console()
    summary.print_optimum(con, "envelope", {**renamed(ISOFLOP), "budgets": None,
                                            "converged": False, "message": "m[/b] is flat"})
    assert con.export_text().splitlines() == [
        "envelope: N_opt ~ C^a, D_opt ~ C^b (lo[/b]ss; N = p[/i]m, C = fl[/]p): no law (m[/b] "
        "is flat)"]
