"""fit.summary's lines and tables as the terminal shows them, from fit.json dicts written
here by hand: every number and word checked against the dict it came from."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from scalecli.fit import summary
from scalecli.fit.schema.text import PARAMETRIC_C

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def console() -> Console:
    return Console(record=True, width=400, force_terminal=True, color_system="truecolor")


def lines(con: Console) -> list[str]:
    return [line.rstrip() for line in con.export_text(clear=False).splitlines()]


def est(value: float, lo: float | None = None, hi: float | None = None) -> dict:
    return {"value": value, "se": None, "ci_low": lo, "ci_high": hi}


def test_by_size_text() -> None:
    fitted = {"size": "s2", "n": 84900.0, "converged": True, "exponent": -0.0712,
              "params": {"b": {"ci_low": -0.08, "ci_high": -0.06}}}
    assert summary.by_size_text("power", fitted) == "s2 (N 8.49e+04): -0.0712 [-0.08, -0.06]"
    bare = {**fitted, "params": {"b": {"ci_low": None, "ci_high": None}}}
    assert summary.by_size_text("power", bare) == "s2 (N 8.49e+04): -0.0712"
    sat = {**fitted, "exponent": -0.3, "params": {"alpha": {"ci_low": 0.2, "ci_high": 0.4}}}
    assert summary.by_size_text("saturating", sat) == "s2 (N 8.49e+04): -0.3 [-0.4, -0.2]"
    failed = {"size": "s1", "n": None, "converged": False, "message": "2 distinct x"}
    assert summary.by_size_text("power", failed) == "s1 (N -): no fit (2 distinct x)"


def test_seed_noise_lines() -> None:
    assert summary.seed_noise_lines({"column": "val_loss", "pooled_sd": None}) == [
        "seed noise: one seed per configuration, so the seed-to-seed sd of val_loss is not "
        "measured"]
    noise = {"column": "val_loss", "pooled_sd": 0.012345, "dof": 6, "configs_pooled": 3,
             "outliers_left_out": 1, "points": [
                 {"label": "s1", "tokens": 1e9, "n_seeds": 3, "mean": 4.12345, "sd": 0.0111},
                 {"label": "s2", "tokens": 2e9, "n_seeds": 1, "mean": 3.9, "sd": None}]}
    assert summary.seed_noise_lines(noise) == [
        "seed noise: pooled sd of val_loss 0.01235 (6 degrees of freedom over 3 "
        "configurations; 1 outlier seed(s) left out); each point is the mean over its seeds",
        "  per point (n seeds, mean +- sd): s1 at 1e+09 tokens 3x 4.123 +- 0.0111; "
        "s2 at 2e+09 tokens 1x 3.9"]
    one_budget = {**noise, "outliers_left_out": 0,
                  "points": [{**p, "tokens": 1e9} for p in noise["points"]]}
    assert summary.seed_noise_lines(one_budget) == [
        "seed noise: pooled sd of val_loss 0.01235 (6 degrees of freedom over 3 "
        "configurations); each point is the mean over its seeds",
        "  per point (n seeds, mean +- sd): s1 3x 4.123 +- 0.0111; s2 1x 3.9"]


def approaches(flops_tpp: float = 1e21) -> list[dict]:
    return [{"approach": "1: envelope", "form": "envelope", "a_opt": est(0.5, 0.4, 0.6),
             "b_opt": est(0.5), "tokens_per_param": {"flops": flops_tpp, **est(20.0)},
             "predictions": []},
            {"approach": "3: parametric", "form": "chinchilla", "a_opt": est(0.46),
             "b_opt": est(0.54), "tokens_per_param": None,
             "predictions": [{"flops": 1e22, "n_opt": est(3e10, 2e10, 4e10),
                              "d_opt": est(5e10), "loss": est(2.01)}]}]


def test_print_approaches_with_and_without_conventions() -> None:
    con = console()
    summary.print_approaches(con, approaches())
    text = lines(con)
    assert "N counted as" not in text[2]  # the header row
    assert re.search(r"┃ approach\s+┃ a \(N_opt ~ C\^a\) ┃ b \(D_opt ~ C\^b\) ┃ "
                     r"tokens/param at C = 1e\+21 ┃", text[2])
    assert re.search(r"1: envelope\s+│\s+0\.5 \[0\.4, 0\.6\] │\s+0\.5 │\s+20 │$", text[4])
    assert re.search(r"3: parametric │\s+0\.46 │\s+0\.54 │\s+- │$", text[5])
    assert f"  3: parametric: {PARAMETRIC_C}, with N counted as its row says; 1 and 2 take C " \
           "from the compute column" in text
    assert ("  3: parametric at C = 1e+22: N_opt 3e+10 [2e+10, 4e+10], D_opt 5e+10, "
            "loss 2.01") in text
    # the parametric line is plain text: no highlighting of its numbers
    styled = con.export_text(styles=True)
    line = next(s for s in styled.splitlines() if "with N counted as its row says" in s)
    assert not ANSI.search(line)

    con = console()
    summary.print_approaches(con, approaches(), {"params": approaches(),
                                                 "params_non_embedding": approaches()[:1]})
    text = lines(con)
    assert "N counted as" in text[2]
    rows = text[4:7]
    assert rows[0].lstrip("│ ").startswith("total (params)")
    assert not rows[1].lstrip("│ ").startswith("total")  # the name on a group's first row
    assert rows[2].lstrip("│ ").startswith("non-embedding (params_non_embedding)")


def test_prediction_lines_and_the_combined_ten_x() -> None:
    block = {"y": "val_loss", "seed_sd": 0.0123, "points": [
        {"x": 1e9, "source": "default", "label": None,
         "forms": {"power": {"y": 3.5, "low": 3.4, "high": 3.6},
                   "saturating": {"y": 3.7, "low": None, "high": None}},
         "combined": {"y": 3.6, "low": 3.3, "high": 3.9, "disagree": True}},
        {"x": 2e9, "source": "validation", "label": None, "forms": {}, "combined": None},
        {"x": 3e9, "source": "predict", "label": None, "forms": {"power": None},
         "combined": {"y": 3.1, "low": 3.0, "high": 3.2}}]}
    assert summary.prediction_lines(block) == [
        "prediction of one new run's val_loss from the ladder (95% prediction intervals: the "
        "fit's uncertainty plus seed noise sd 0.0123)",
        "  N = 1e+09 (10x the largest): power 3.5 [3.4, 3.6]; saturating 3.7; [bold]combined "
        "3.6 [3.3, 3.9][/] (the forms disagree there)",
        "  N = 2e+09 (validation run): ",
        "  N = 3e+09 (--predict): power -; [bold]combined 3.1 [3, 3.2][/]"]
    assert summary.prediction_lines({**block, "seed_sd": None, "points": []}) == [
        "prediction of one new run's val_loss from the ladder (95% prediction intervals: the "
        "fit's uncertainty plus no seed noise: none measured)"]
    assert summary.ten_x_combined_text(block) == (
        "combined prediction at 10x the largest size (N = 1e+09): val_loss 3.6 [3.3, 3.9] "
        "(95% prediction interval); the forms disagree there")
    agree = {**block, "points": [{**block["points"][0], "combined": {"y": 3.6, "low": None}}]}
    assert summary.ten_x_combined_text(agree) == (
        "combined prediction at 10x the largest size (N = 1e+09): val_loss 3.6 (95% "
        "prediction interval)")
    assert summary.ten_x_combined_text(None) is None
    assert summary.ten_x_combined_text({"points": block["points"][1:]}) is None


def test_print_validation() -> None:
    block = {"y": "val_loss", "best_form": "saturating", "ruled_out": ["power"], "runs": [
        {"model": "", "run_id": "r7", "x": 5e8, "observed": 3.21234, "scores": [
            {"form": "power", "predicted": 3.0, "low": 2.9, "high": 3.1, "rel_error": -0.0661,
             "inside": False},
            {"form": "saturating", "predicted": 3.2, "low": 3.1, "high": 3.3,
             "rel_error": None, "inside": None}]}],
             "compute": [{"flops": 1e20, "best_trained_n": 3e8, "observed_best": 2.95,
                          "runs": [{"model": "v1", "observed": 2.95, "predicted": 2.9,
                                    "low": 2.8, "high": 3.0},
                                   {"run_id": "v2", "observed": 3.01}],
                          "approaches": [{"approach": "2: isoFLOP", "n_opt": 2.5e8,
                                          "n_ratio": 0.8333, "loss": None},
                                         {"approach": "3: parametric", "n_opt": 4e8,
                                          "n_ratio": 1.333, "loss": 2.9, "low": 2.85,
                                          "high": 2.92, "inside": False}]}]}
    con = console()
    summary.print_validation(con, block)
    text = lines(con)
    first = next(t for t in text if " power " in t)
    second = next(t for t in text if " saturating " in t)
    assert re.search(r"r7\s.*5e\+08\s.*power\s.*3 \[2\.9, 3\.1\]\s.*3\.212\s.*-6\.61%\s.*no",
                     first)
    assert "r7" not in second and "5e+08" not in second and "3.212" not in second
    assert re.search(r"saturating\s.*3\.2 \[3\.1, 3\.3\]\s.*-\s.*-", second)
    assert "  best form: saturating; ruled out (a run outside its interval): power" in text
    assert "  C = 1e+20: v1 2.95 (3: 2.9 [2.8, 3]), v2 3.01; best trained N 3e+08" in text
    assert "    2: isoFLOP: N_opt 2.5e+08 (0.8333x the best trained)" in text
    assert ("    3: parametric: N_opt 4e+08 (1.333x the best trained), loss 2.9 [2.85, 2.92] "
            "vs 2.95 outside") in text
    con = console()
    summary.print_validation(con, {"y": "val_loss", "runs": []})
    assert lines(con) == ["  best form: -; ruled out (a run outside its interval): none"]


def test_print_optimum() -> None:
    fit = {"y": "val_loss", "x": "params", "c": "flops", "converged": True,
           "message": "2 of 3 budgets accepted", "bootstrap": {"n": 200, "n_ok": 197},
           "params": {"a_opt": est(0.45, 0.41, 0.49), "b_opt": est(0.55, 0.51, 0.59)},
           "budgets": [{"flops": 1e18, "points": 7, "n_opt": 1.234e8, "d_opt": 1.35e9,
                        "loss_opt": 3.2101, "curvature": 0.0812, "accepted": True},
                       {"flops": 1e19, "points": 5, "n_opt": 5e8, "d_opt": 3.3e9,
                        "loss_opt": 2.9, "curvature": -0.01, "accepted": False,
                        "reason": "not_bracketed", "reason_text": "the lowest loss is at "
                        "the edge"}],
           "leave_one_out": {"budgets": [{"flops": 1e18, "a_opt": 0.44},
                                         {"flops": 1e20, "a_opt": 0.47}]}}
    con = console()
    summary.print_optimum(con, "isoflop", fit)
    text = lines(con)
    assert text[0] == ("  C = 1e+18: 7 sizes, N_opt 1.234e+08, D_opt 1.35e+09, loss 3.21, "
                       "curvature 0.0812; accepted")
    assert text[1] == ("  C = 1e+19: 5 sizes, N_opt 5e+08, D_opt 3.3e+09, loss 2.9, "
                       "curvature -0.01; rejected: not_bracketed (the lowest loss is at the "
                       "edge)")
    assert text[2] == ("isoflop: N_opt ~ C^a, D_opt ~ C^b (val_loss; N = params, C = flops): "
                       "a = 0.45 [0.41, 0.49], b = 0.55 [0.51, 0.59]; 2 of 3 budgets "
                       "accepted; bootstrap 197/200 refits ok")
    assert text[3] == "  leave one budget out: a = 0.44 without 1e+18, 0.47 without 1e+20"
    envelope = {"y": "val_loss", "x": "params", "c": "flops", "converged": False,
                "message": "the envelope has 2 budget(s)",
                "envelope": [{"flops": 1e18, "loss": 3.2, "n": 1e8, "d": 1.7e9}]}
    con = console()
    summary.print_optimum(con, "envelope", envelope)
    assert lines(con) == [
        "  C = 1e+18: lowest loss 3.2 at N = 1e+08, D = 1.7e+09",
        "envelope: N_opt ~ C^a, D_opt ~ C^b (val_loss; N = params, C = flops): no law (the "
        "envelope has 2 budget(s))"]


def test_print_summary_tables_predictions_and_diagnostics(monkeypatch) -> None:
    import scalecli.console

    con = console()
    monkeypatch.setattr(scalecli.console, "output_console", lambda: con)
    power = {"x": "params_non_embedding", "y": "val_ppl", "d": None, "converged": True,
             "message": "", "bootstrap": {"n": 100, "n_ok": 99, "seed": 0},
             "params": {"a": {"value": 120.5, "se": 3.0, "ci_low": 115.0, "ci_high": 126.0},
                        "b": {"value": -0.0712, "se": 0.004, "ci_low": None,
                              "ci_high": -0.06}},
             "r2_log": 0.99912, "rmse_log": 0.00231, "n_points": 5,
             "derived": {"predictions": [{"x": 1e9, "y": 20.0, "ci_low": 18.0,
                                          "ci_high": 22.0}]},
             "extrapolation_note": "refit without the 1 largest", "extrapolation": {
                 "x": [1.6e6, 3.2e6], "predicted": [3.86, 3.7], "observed": [3.85, 3.5],
                 "rel_error": [0.0026, 0.0571], "low": [3.8, None], "high": [3.9, None],
                 "inside": [True, None]}}
    chin = {**power, "extrapolation": None, "x": "params", "y": "val_loss", "d": "tokens",
            "params": {},
            "derived": {"a_opt": 0.4516, "b_opt": 0.5484, "G": 0.6, "optimal": [],
                        "predictions": [{"x": 1e21, "y": 2.1, "ci_low": None,
                                         "ci_high": None}]}}
    doc = {"source": "r.csv", "rows_used": 5, "rows_total": 6, "rows_excluded": {"failed": 1},
           "filter": ["status=ok"], "fits": {"power": power, "chinchilla": chin},
           "diagnostics": [{"severity": "warning", "code": "poor_fit",
                            "message": "The power law fits poorly: [x]."}]}
    summary.print_summary(doc, [], Path("out/fit.json"))
    text = lines(con)
    assert text[0] == "r.csv: 5 of 6 rows used (left out: 1 failed); filter status=ok"
    assert any(re.search(r"b\s+│\s+-0\.0712 │\s+0\.004 │\s+\[-inf, -0\.06\] │$", t) for t in text)
    assert any(re.search(r"a\s+│\s+120\.5 │\s+3 │\s+\[115, 126\] │$", t) for t in text)
    assert "  predicted val_ppl at params_non_embedding = 1e+09: 20 [18, 22]" in text
    assert "  predicted val_loss at C = 1e+21: 2.1" in text
    assert "  compute-optimal: N_opt ~ C^0.452, D_opt ~ C^0.548, G = 0.6" in text
    assert ("  R^2 (log) 0.9991, RMSE (log) 0.0023, 5 points; bootstrap 99/100 refits ok "
            "(seed 0)") in text
    assert "  warning poor_fit: The power law fits poorly: [x]." in text
    assert "    x = 1.6e+06: predicted 3.86 [3.8, 3.9], inside, observed 3.85 (+0.26%)" in text
    assert "    x = 3.2e+06: predicted 3.7, observed 3.5 (+5.71%)" in text
    assert text[-1] == "wrote out/fit.json"


def test_print_summary_lists_every_exclusion_a_caveat_and_a_check_without_intervals(
        monkeypatch) -> None:
    import scalecli.console

    con = console()
    monkeypatch.setattr(scalecli.console, "output_console", lambda: con)
    fit = {"x": "params_non_embedding", "y": "val_loss", "d": None, "converged": True,
           "message": "", "params": {}, "r2_log": 0.5, "rmse_log": 0.01, "n_points": 3,
           "bootstrap": {"n": 10, "n_ok": 10, "seed": 0}, "derived": {},
           "caveat": "few sizes: the interval undercovers",
           "extrapolation_note": "refit without the 1 largest",
           "extrapolation": {"x": [2e6], "predicted": [3.9], "observed": [3.8],
                             "rel_error": [0.0263]}}  # an older fit.json: no low/high/inside
    doc = {"source": "r.csv", "rows_used": 3, "rows_total": 6,
           "rows_excluded": {"failed": 2, "diverged": 1}, "filter": [],
           "fits": {"saturating": fit}, "diagnostics": []}
    summary.print_summary(doc, [], Path("out/fit.json"))
    text = lines(con)
    assert text[0] == "r.csv: 3 of 6 rows used (left out: 2 failed, 1 diverged)"
    assert "    x = 2e+06: predicted 3.9, observed 3.8 (+2.63%)" in text
    assert "  caution: few sizes: the interval undercovers" in text
