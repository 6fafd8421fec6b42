"""Every bench runs end to end on its `--tiny` setting, so a missing dependency or a renamed
API fails CI instead of the next person who runs the bench.

Each bench runs as a subprocess, as a user would run it, from the repository root. The
asserts read the documented machine-readable last line and require real numbers in it, so
a bench that printed nothing useful cannot pass. The figures themselves are not checked:
a tiny run on a shared CI machine measures nothing.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, args: list[str], tmp_path: Path, *,
              single_blas_thread: bool = False) -> list[str]:
    """Run bench/SCRIPT --tiny ARGS; assert it exits 0 and return its stdout lines."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SCALECLI_CACHE": str(tmp_path / "cache")}
    if single_blas_thread:
        # numpy's OpenBLAS threads spin-wait: on a busy 2-core machine (another test run,
        # a sweep) the fits' many small matrix ops ran 30x slower with 2 threads than with 1.
        # This is a smoke test, not a measurement, so it takes the setting that never stalls.
        env["OPENBLAS_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, f"bench/{script}", "--tiny", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing"
    return lines


def fields(line: str) -> dict[str, str]:
    """KEY=VALUE tokens of a machine-readable line; every token must be one."""
    tokens = line.split()
    assert tokens and all("=" in t for t in tokens), f"not a KEY=VALUE line: {line!r}"
    return dict(t.split("=", 1) for t in tokens)


def finite_positive(value: str) -> float:
    number = float(value)
    assert math.isfinite(number) and number > 0, value
    return number


def percent(value: str) -> float:
    number = float(value)
    assert 0.0 <= number <= 100.0, value
    return number


def test_train_throughput_tiny(tmp_path: Path) -> None:
    # s1 only: L6d384 is left out, which the last line reports as nan rather than crashing.
    # One torch thread: on a busy 2-core machine two OpenMP threads that spin-wait for each
    # other made each tiny step ~4x slower; the threads setting is not what is tested here.
    lines = run_bench("train_throughput.py", ["--sizes", "s1", "--threads", "1"], tmp_path)
    last = fields(lines[-1])
    assert list(last) == ["loop_vs_trainer", "recipe_vs_trainer", "vs_nanogpt_l6d384",
                          "mfu_l6d384"]
    finite_positive(last["loop_vs_trainer"])
    finite_positive(last["recipe_vs_trainer"])
    assert math.isnan(float(last["vs_nanogpt_l6d384"]))
    assert math.isnan(float(last["mfu_l6d384"]))

    # The per-shape ratio line: "s1  loop_vs_trainer_s1=... recipe_vs_trainer_s1=... ..."
    row = next(line for line in lines if line.partition(" ")[2].lstrip()
               .startswith("loop_vs_trainer_"))
    label, ratios = row.split(maxsplit=1)
    assert label == "s1"
    shape = fields(ratios)
    assert set(shape) == {"loop_vs_trainer_s1", "recipe_vs_trainer_s1", "vs_nanogpt_s1"}
    for value in shape.values():
        finite_positive(value)
    # The loop comparison is like for like: Trainer ran scalecli's own model config.
    assert any(line.startswith("trainer_same model: attention scalecli, activation gelu, "
                               "dropout 0.0,") for line in lines), "\n".join(lines)
    assert any(line.startswith("trainer_stock model:") and "gelu_new" in line
               for line in lines), "\n".join(lines)


def count_of(value: str, reps: int) -> int:
    """A coverage in percent is a count of `reps` sweeps: k * 100 / reps, printed to 0.1."""
    k = round(percent(value) * reps / 100)
    assert abs(float(value) - 100 * k / reps) <= 0.05, (value, reps)
    return k


def test_fit_coverage_tiny(tmp_path: Path) -> None:
    # 3 synthetic sweeps per design. A 95% interval misses two of three sweeps with
    # probability 3 x 0.05^2 (under 1%), so the intervals that fit reports (power b by
    # the fixed bootstrap, the saturating profile intervals, b with the seed level) must
    # hold the truth in at least 2 of 3; the reference methods (naive, every seed, means)
    # are there to be compared and may miss. Synthetic data from the law itself converge.
    reps = 3
    last = fields(run_bench("fit_coverage.py", [], tmp_path, single_blas_thread=True)[-1])
    for tag in ("5", "10"):
        assert count_of(last[f"power_b_{tag}"], reps) >= 2
        for name in ("E", "A", "alpha"):
            assert count_of(last[f"profile_{name}_{tag}"], reps) >= 2
            assert 0 <= int(last[f"unbounded_{name}_{tag}"]) <= reps
        assert int(last[f"not_converged_{tag}"]) == 0
    # The seeded ladders: b's coverage and median interval width by each method. b is
    # about -0.1 here; an interval wider than 0.1 would say nothing.
    for tag in ("5", "5lr", "5het", "10"):
        for method in ("naive", "every", "means", "fit"):
            covered = count_of(last[f"seeds_b_{method}_{tag}"], reps)
            assert finite_positive(last[f"seeds_width_{method}_{tag}"]) < 0.1
        assert covered >= 2  # the last method is "fit", what `scalecli fit` does


def test_fit_coverage_chinchilla_tiny(tmp_path: Path) -> None:
    lines = run_bench("fit_coverage.py", ["--chinchilla"], tmp_path, single_blas_thread=True)
    last = fields(lines[-1])
    assert list(last) == ["chinchilla_E", "chinchilla_A", "chinchilla_B", "chinchilla_alpha",
                          "chinchilla_beta", "not_converged"]
    # One sweep of 60 points, 5 refits: each parameter is covered or not (0 or 100%);
    # the sweep is drawn from the law itself, so its fit converges.
    for name in ("E", "A", "B", "alpha", "beta"):
        count_of(last[f"chinchilla_{name}"], 1)
    assert int(last["not_converged"]) == 0


def test_fit_coverage_isoflop_tiny(tmp_path: Path) -> None:
    lines = run_bench("fit_coverage.py", ["--isoflop"], tmp_path, single_blas_thread=True)
    last = fields(lines[-1])
    assert list(last) == ["isoflop_a", "isoflop_b", "isoflop_a_bias", "isoflop_a_sd",
                          "isoflop_width", "not_converged"]
    # 3 designs of 5 budgets x 7 sizes at 1% noise: a and b must be covered in 2 of 3
    # (see test_fit_coverage_tiny), and a's estimates within a few hundredths of the truth
    # (measured: bias -0.0004, sd 0.014, interval width 0.06).
    assert count_of(last["isoflop_a"], 3) >= 2
    assert count_of(last["isoflop_b"], 3) >= 2
    assert abs(float(last["isoflop_a_bias"])) < 0.03
    assert 0 < float(last["isoflop_a_sd"]) < 0.05
    assert 0 < float(last["isoflop_width"]) < 0.2
    assert int(last["not_converged"]) == 0


def test_fit_speed_tiny(tmp_path: Path) -> None:
    lines = run_bench("fit_speed.py", [], tmp_path, single_blas_thread=True)
    last = fields(lines[-1])
    assert list(last) == ["fit_speedup", "fit_s", "same_optimum"]
    # The tiny reference runs 15 of the 4,500 starts (x300); about half of them reach the
    # optimum (8 of 15 on this machine), so its best is the fit's optimum: the fit must be
    # no worse and land on the same exponents. Against 15 finite-difference L-BFGS-B runs
    # scaled x300 the grid fit measured ~590x; 10x leaves room for a loaded machine.
    assert last["same_optimum"] == "true", "\n".join(lines)
    diff = next(line for line in lines if line.startswith("ours - loop best: objective "))
    assert float(diff.split()[5].rstrip(",")) <= 1e-9, diff
    assert finite_positive(last["fit_speedup"]) > 10
    assert finite_positive(last["fit_s"]) < 120


def test_eval_precision_tiny(tmp_path: Path) -> None:
    lines = run_bench("eval_precision.py", [], tmp_path)
    last = fields(lines[-1])
    assert list(last) == ["eval_bf16_minus_fp32_max_abs", "eval_bf16_minus_fp32_median", "runs"]
    assert int(last["runs"]) == 2
    assert math.isfinite(float(last["eval_bf16_minus_fp32_max_abs"]))
    assert math.isfinite(float(last["eval_bf16_minus_fp32_median"]))


def test_corpora_tiny(tmp_path: Path) -> None:
    # Built from this machine's standard library (and dante-corpora where installed).
    lines = run_bench("corpora.py", [str(tmp_path / "corpora")], tmp_path)
    last = fields(lines[-1])
    names = last["corpora"].split(",")
    assert {"code", "docs"} <= set(names)
    for name, size in zip(names, last["bytes"].split(","), strict=True):
        assert finite_positive(size) >= 50_000, name
        first = (tmp_path / "corpora" / f"{name}.jsonl").read_text(encoding="utf-8")
        assert first.startswith('{"text": ')


def test_unseen_tiny(tmp_path: Path) -> None:
    lines = run_bench("unseen.py", ["--out", str(tmp_path / "unseen")], tmp_path,
                      single_blas_thread=True)
    last = fields(lines[-1])
    monotone, total = last["unseen_monotone"].split("/")
    assert 0 <= int(monotone) <= int(total) == 1
    assert 0 <= float(last["unseen_min_r2"]) <= 1
    finite_positive(last["unseen_max_seed_sd"])
    finite_positive(last["unseen_max_wall_ratio"])
    assert any(line.startswith("| docs | auto |") for line in lines)


def test_wsd_tiny(tmp_path: Path) -> None:
    lines = run_bench("wsd.py", ["--out", str(tmp_path / "wsd")], tmp_path,
                      single_blas_thread=True)
    last = fields(lines[-1])
    assert list(last) == ["branch_max_abs_diff", "branch_within_2se", "branch_flops_ratio",
                          "separate_flops_ratio"]
    # Per budget: | tokens | steps | wsd mean | cosine mean | diff | se | within |
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines
            if line.startswith("| ") and line[2].isdigit()]
    assert [int(row[1]) for row in rows] == [12, 24, 48]
    diffs = [float(row[4]) for row in rows]
    ses = [float(row[5]) for row in rows]
    for d, row in zip(diffs, rows, strict=True):  # the means are printed to 4 decimals
        assert abs(d - abs(float(row[2]) - float(row[3]))) <= 1.5e-4, row
    # The last line carries the table's result: the largest difference, and whether every
    # one is within 2 standard errors of two seeds.
    assert float(last["branch_max_abs_diff"]) == max(diffs)
    assert last["branch_within_2se"] == str(all(
        d <= 2 * se for d, se in zip(diffs, ses, strict=True))).lower()
    # What the tiny run honestly gives: a branch cooled down from its branch point matches
    # cosine from scratch to 0.01-0.02 nats (seeds differ by ~0.03-0.14 here). A branch
    # that skipped its stable phase, or cooled down from the wrong step, is far off.
    assert last["branch_within_2se"] == "true", "\n".join(lines)
    assert 0 <= float(last["branch_max_abs_diff"]) < 0.05
    assert all(0 < se < 0.5 for se in ses)
    # The accounting is exact arithmetic on the design: 12, 24 and 48 steps branch at
    # 10, 19 and 38 (cooldowns of 0.2), so one family trains 48 + 2 + 5 = 55 steps where
    # separate runs train 12 + 24 + 48 = 84, both over the longest run's 48.
    assert float(last["branch_flops_ratio"]) == round(55 / 48, 3)
    assert float(last["separate_flops_ratio"]) == round(84 / 48, 3)
    assert sum(line.startswith("| ") for line in lines) == 4  # the header, three budgets


def test_validate_tiny(tmp_path: Path) -> None:
    """The ladder, a size past it, and every form scored on it: the last line counts the
    corpora whose combined interval held the run, and the misses."""
    lines = run_bench("validate.py", ["--out", str(tmp_path / "validate")], tmp_path,
                      single_blas_thread=True)
    last = fields(lines[-1])
    validated, total = last["validated_corpora"].split("/")
    assert int(total) == 1 and 0 <= int(validated) <= 1
    assert 0 <= float(last["best_form_max_rel_err"]) < 1
    assert int(last["prediction_misses"]) >= 0
    assert any("| combined |" in line for line in lines)


def test_prediction_coverage_tiny(tmp_path: Path) -> None:
    lines = run_bench("prediction_coverage.py", [], tmp_path, single_blas_thread=True)
    last = fields(lines[-1])
    for law in ("saturating", "bends", "power"):
        for method in ("power", "saturating", "mixture", "combined"):
            percent(last[f"cover_{method}_{law}"])
            finite_positive(last[f"half_{method}_{law}"])


def test_mutation_tiny(tmp_path: Path) -> None:
    """The mutation harness on one module, 3 mutants, one fast test file: every mutant is
    counted once, each survivor is listed as file:line, and the shared tree is untouched."""
    import re

    import pytest

    pytest.importorskip("mutmut")  # the bench extra
    proc = subprocess.run(
        [sys.executable, "bench/mutation.py", "--module", "scalecli/sweep/lr_search.py",
         "--sample", "3", "--seed", "1", "--tests", "tests/sweep/test_lr_choice.py",
         "--workdir", str(tmp_path / "mutation")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    lines = proc.stdout.strip().splitlines()
    last = fields(lines[-1])
    assert int(last["mutants"]) == 3
    assert int(last["killed"]) + int(last["survived"]) + int(last["equivalent"]) == 3
    # test_lr_choice.py alone catches 9 in 10 of lr_search.py's mutants: 3 survivors of 3
    # would be a broken harness (or tests), not bad luck.
    assert int(last["killed"]) >= 1
    assert 0 <= float(last["kill_rate"]) <= 100
    assert any(re.fullmatch(r"\| scalecli/sweep/lr_search\.py \| 3 / \d+ \| .*", line)
               for line in lines)
    survivors = [line for line in lines if line.startswith("scalecli/sweep/lr_search.py:")]
    assert len(survivors) == int(last["survived"])
    for line in survivors:
        assert re.match(r"scalecli/sweep/lr_search\.py:\d+  \w+  \w[\w ]*: .+  ->  .+", line)
    assert not (ROOT / "mutants").exists()  # mutmut ran in the copy

    # --again runs only the first run's survivors, and grades the same 3 mutants: the ones
    # killed before count as killed, so nothing can be lost between the runs.
    proc = subprocess.run(
        [sys.executable, "bench/mutation.py", "--again", str(tmp_path / "mutation"),
         "--tests", "tests/sweep/test_lr_choice.py", "--workdir", str(tmp_path / "again")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    lines = proc.stdout.strip().splitlines()
    rerun = fields(lines[-1])
    assert int(rerun["mutants"]) == 3
    assert int(rerun["killed"]) + int(rerun["survived"]) + int(rerun["equivalent"]) == 3
    assert int(rerun["killed"]) >= int(last["killed"])
    assert f"mutating 1 modules, {3 - int(last['killed'])} mutants" in proc.stdout


def test_profile_step_tiny(tmp_path: Path) -> None:
    lines = run_bench("profile_step.py", [], tmp_path)
    last = fields(lines[-1])
    assert list(last) == ["s1_step_ms_1t", "s1_matmul_share"]
    finite_positive(last["s1_step_ms_1t"])
    assert 0 < float(last["s1_matmul_share"]) < 1
    # Every kind of work has its row, and the rows add up to the profiled step.
    rows = {line[:16].strip(): line[16:] for line in lines}
    for kind in ("matmul", "vocab softmax", "attn softmax", "casts", "norm + gelu",
                 "optimizer", "elementwise", "framework"):
        assert "ms" in rows[kind], kind
    total = sum(float(rows[k].split()[0]) for k in ("matmul", "vocab softmax", "attn softmax",
                                                    "casts", "norm + gelu", "optimizer",
                                                    "elementwise", "framework"))
    assert total == pytest.approx(float(rows["profiled step"].split()[0]), abs=0.05)


def test_stacked_forward_tiny_is_bit_identical(tmp_path: Path) -> None:
    # One thread: the stacked models' logits and every gradient equal each plain model's,
    # bit for bit, in fp32 (and in bf16 on the CPUs measured; bf16 kernels for a batched
    # matmul may round apart from a single one's elsewhere, so only fp32 is required).
    last = fields(run_bench("stacked_forward.py", [], tmp_path)[-1])
    assert last["s1_m2_t1_identical"] in ("yes", "fp32")
    finite_positive(last["s1_m2_t1_ratio"])


def test_perturbation_tiny(tmp_path: Path) -> None:
    last = fields(run_bench("perturbation.py", [], tmp_path)[-1])
    assert list(last) == ["fp32_delta"]
    delta = float(last["fp32_delta"])
    assert math.isfinite(delta) and delta >= 0


def load_mutation_harness():
    """bench/mutation.py as a module (it imports without mutmut)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutation", ROOT / "bench" / "mutation.py")
    mutation = importlib.util.module_from_spec(spec)
    sys.modules["mutation"] = mutation  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(mutation)
    finally:
        del sys.modules["mutation"]
    return mutation


def test_mutation_again_reruns_every_mutant_of_an_edited_function() -> None:
    mutation = load_mutation_harness()
    before = {"x_f": "def f(): return 1", "x_g": "def g(): return 2"}
    earlier = mutation.Module("m.py", 4, [mutation.Mutant(n) for n in (
        "m.x_f__mutmut_1", "m.x_f__mutmut_2", "m.x_g__mutmut_1", "m.x_g__mutmut_2")])
    names = ["m.x_f__mutmut_1", "m.x_f__mutmut_2", "m.x_g__mutmut_1", "m.x_g__mutmut_2"]
    kept, stale = mutation.again("m.py", names, earlier, before, dict(before))
    assert ([m.name for m in kept.mutants], stale) == (names, set())
    # g edited: its new mutants (three now) are all picked, its old verdicts are stale
    names = [*names[:2], "m.x_g__mutmut_1", "m.x_g__mutmut_2", "m.x_g__mutmut_3"]
    edited = {**before, "x_g": "def g(): return 2 + 0"}
    kept, stale = mutation.again("m.py", names, earlier, before, edited)
    assert [m.name for m in kept.mutants] == names
    assert kept.total == 5
    assert stale == {"m.x_g__mutmut_1", "m.x_g__mutmut_2"}
    # an unchanged function whose mutant is gone: the names are not mutmut's any more
    with pytest.raises(SystemExit, match=r"m\.x_f__mutmut_2 is not a mutant any more"):
        mutation.again("m.py", [names[0], *names[2:]], earlier, before, edited)


def test_mutation_function_sources_key_functions_as_mutmut_does(tmp_path: Path) -> None:
    mutation = load_mutation_harness()
    path = tmp_path / "m.py"
    path.write_text("def f():\n    return 1\n\n\nclass C:\n    def m(self):\n        return 2\n",
                    encoding="utf-8")
    assert mutation.function_sources(path) == {
        "x_f": "def f():\n    return 1", "xǁCǁm": "def m(self):\n        return 2"}
    assert mutation.function_of("scalecli.fit.m.xǁCǁm__mutmut_12") == "xǁCǁm"


def test_mutation_equivalent_list_is_one_mutant_per_block(tmp_path: Path) -> None:
    mutation = load_mutation_harness()
    assert len(mutation.read_equivalent()) > 100  # the repository's own list parses
    one = "m.py\n- a = 1\n- b = 2\n+ a = 2\nwhy: w\n"  # one mutant over two lines
    (tmp_path / "ok.txt").write_text(one, encoding="utf-8")
    assert mutation.read_equivalent(tmp_path / "ok.txt") == {
        ("m.py", ("a = 1", "b = 2"), ("a = 2",)): "w"}
    (tmp_path / "two.txt").write_text("m.py\n- a = 1\n+ a = 2\n- a = 1\n+ a = 3\nwhy: w\n",
                                      encoding="utf-8")
    with pytest.raises(SystemExit, match="lists several mutants"):
        mutation.read_equivalent(tmp_path / "two.txt")


def test_mutation_wilson_interval_matches_the_textbook_values() -> None:
    """The harness's per-module interval (it imports without mutmut). 10 of 10 killed gives
    the Wilson interval 72.2-100% (Agresti and Coull 1998 tabulate 0.722 for x = n = 10);
    9 of 10 gives 59.6-98.2%, which is why one sample of 10 ranks modules and cannot grade
    one at 90%."""
    mutation = load_mutation_harness()
    assert mutation.wilson(10, 10) == pytest.approx((72.25, 100.0), abs=0.01)
    assert mutation.wilson(9, 10) == pytest.approx((59.58, 98.21), abs=0.01)
    assert mutation.wilson(0, 4) == pytest.approx((0.0, 48.99), abs=0.01)
    assert mutation.interval_text(310, 334) == "90-95%"
    assert mutation.interval_text(0, 0) == "-"


def test_mutation_rate_text_never_rounds_a_survivor_up_to_100() -> None:
    mutation = load_mutation_harness()
    assert mutation.rate_text(100.0 * 480 / 482) == "99.6%"
    assert mutation.rate_text(100.0 * 853 / 857) == "99.5%"
    assert mutation.rate_text(100.0) == "100%"
    assert mutation.rate_text(100.0 * 9 / 10) == "90%"
    assert mutation.rate_text(100.0 * 940 / 1016) == "93%"


def test_mutation_function_filter_keeps_only_the_named_functions_and_methods() -> None:
    mutation = load_mutation_harness()
    names = ["m.x_build__mutmut_1", "m.x_build__mutmut_2", "m.x_builder__mutmut_1",
             "m.xǁLadderǁmean__mutmut_3", "m.xǁLadderǁfirst__mutmut_1", "m.x_mean__mutmut_1"]
    assert mutation.only_functions(names, None) == names
    assert mutation.only_functions(names, ["build"]) == names[:2]  # not `builder`
    assert mutation.only_functions(names, ["Ladder.mean"]) == [names[3]]  # not x_mean
    assert mutation.only_functions(names, ["mean", "Ladder.first"]) == [names[4], names[5]]
