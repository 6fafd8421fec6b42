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


def test_fit_coverage_tiny(tmp_path: Path) -> None:
    reps = 3  # --tiny's sweeps per design
    last = fields(run_bench("fit_coverage.py", [], tmp_path, single_blas_thread=True)[-1])
    for tag in ("5", "10"):
        percent(last[f"power_b_{tag}"])
        for name in ("E", "A", "alpha"):
            percent(last[f"profile_{name}_{tag}"])
            assert 0 <= int(last[f"unbounded_{name}_{tag}"]) <= reps
        assert 0 <= int(last[f"not_converged_{tag}"]) <= reps
    # The seeded ladders: b's coverage and median interval width by each method.
    for tag in ("5", "5lr", "5het", "10"):
        for method in ("naive", "every", "means", "fit"):
            percent(last[f"seeds_b_{method}_{tag}"])
            finite_positive(last[f"seeds_width_{method}_{tag}"])


def test_fit_coverage_chinchilla_tiny(tmp_path: Path) -> None:
    lines = run_bench("fit_coverage.py", ["--chinchilla"], tmp_path, single_blas_thread=True)
    last = fields(lines[-1])
    assert list(last) == ["chinchilla_E", "chinchilla_A", "chinchilla_B", "chinchilla_alpha",
                          "chinchilla_beta", "not_converged"]
    for name in ("E", "A", "B", "alpha", "beta"):
        percent(last[f"chinchilla_{name}"])
    assert int(last["not_converged"]) in (0, 1)


def test_fit_coverage_isoflop_tiny(tmp_path: Path) -> None:
    lines = run_bench("fit_coverage.py", ["--isoflop"], tmp_path, single_blas_thread=True)
    last = fields(lines[-1])
    assert list(last) == ["isoflop_a", "isoflop_b", "isoflop_a_bias", "isoflop_a_sd",
                          "isoflop_width", "not_converged"]
    percent(last["isoflop_a"])
    assert int(last["not_converged"]) == 0


def test_fit_speed_tiny(tmp_path: Path) -> None:
    last = fields(run_bench("fit_speed.py", [], tmp_path, single_blas_thread=True)[-1])
    assert list(last) == ["fit_speedup", "fit_s", "same_optimum"]
    finite_positive(last["fit_speedup"])
    finite_positive(last["fit_s"])
    assert last["same_optimum"] in ("true", "false")


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
    assert math.isfinite(float(last["branch_max_abs_diff"]))
    assert last["branch_within_2se"] in ("true", "false")
    # The accounting is exact arithmetic on the design: budgets 1:2:4, cooldowns of 0.2.
    assert 1.0 < finite_positive(last["branch_flops_ratio"]) < 1.4
    assert finite_positive(last["separate_flops_ratio"]) == 1.75
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
