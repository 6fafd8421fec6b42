"""`scalecli sweep` end to end through the CLI: a 2-size sweep of a few steps."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.results import COLUMNS

TINY = {
    "name": "tiny",
    "data": {"dataset": "embedded:shakespeare", "tokenizer": "bpe:300", "context": 32},
    "models": [{"name": "d16", "n_layer": 1, "n_embd": 16, "n_head": 2},
               {"name": "d32", "n_layer": 2, "n_embd": 32, "n_head": 2}],
    "budget": {"tokens": 12288},
    "train": {"batch_tokens": 512, "lr": 0.01, "eval_points": 2, "noise_seeds": []},
    "eval": {"tokens": 4097},
    "runtime": {"device": "cpu"},
}


def run_sweep(tmp_path: Path, out: str, **changes: object) -> tuple[object, pd.DataFrame]:
    spec = {**TINY, **changes}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / out)])
    csv = tmp_path / out / "tiny" / "results.csv"
    return result, (pd.read_csv(csv) if csv.exists() else pd.DataFrame())


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("sweep")
    result, df = run_sweep(tmp, "a")
    assert result.exit_code == 0, result.output
    return tmp, df


def test_results_csv_has_the_contract_columns_and_sane_values(swept) -> None:
    _, df = swept
    assert tuple(df.columns) == COLUMNS
    assert len(df) == 2 and list(df["model"]) == ["d16", "d32"]
    assert (df["status"] == "ok").all()
    assert df["run_id"].is_unique
    assert (df["tokens"] == 24 * 512).all() and (df["steps"] == 24).all()
    assert df["params_non_embedding"].iloc[1] > df["params_non_embedding"].iloc[0]
    for _, row in df.iterrows():
        assert math.isfinite(row["val_loss"]) and 0 < row["val_loss"] < math.log(300) + 1
        assert row["val_ppl"] == pytest.approx(math.exp(row["val_loss"]), rel=1e-9)
        assert 0 < row["val_bpb"] < row["val_loss"] / math.log(2)
        assert row["flops"] == row["flops_per_token"] * row["tokens"]
        assert row["flops_6nd"] == 6 * row["params"] * row["tokens"]
        assert row["vocab_size"] == 300 and row["n_ctx"] == 32
        assert row["activation_function"] == "gelu"
        assert row["tokens_per_s"] > 0 and 0 < row["mfu"] < 1
        assert row["device"] == "cpu"
    assert df["data_fingerprint"].nunique() == 1


def test_run_folders_hold_curve_config_weights_and_tokenizer(swept) -> None:
    tmp, df = swept
    for run_id in df["run_id"]:
        folder = tmp / "a" / "tiny" / "runs" / run_id
        names = {p.name for p in folder.iterdir()}
        assert {"curve.csv", "config.json", "model.safetensors", "tokenizer.json",
                "run.json"} <= names
        assert not any(n.startswith("checkpoint") for n in names)  # removed once finished
        curve = pd.read_csv(folder / "curve.csv")
        assert curve["step"].iloc[-1] == 24
        assert curve["val_loss"].notna().sum() == 3  # two mid-run evaluations and the final
        final = df.set_index("run_id").loc[run_id, "val_loss"]
        assert curve["val_loss"].dropna().iloc[-1] == pytest.approx(final, abs=1e-12)
    assert (tmp / "a" / "tiny" / "sweep.yaml").exists()
    assert (tmp / "a" / "tiny" / "data.json").exists()


def test_rerun_trains_nothing(swept) -> None:
    tmp, _ = swept
    csv = tmp / "a" / "tiny" / "results.csv"
    before = csv.read_text()
    result = CliRunner().invoke(app, ["sweep", str(tmp / "tiny.yaml"), "--out", str(tmp / "a")])
    assert result.exit_code == 0, result.output
    assert "2 already recorded, 0 to train" in result.output
    assert csv.read_text() == before


def test_same_seed_from_scratch_gives_the_same_losses(swept, tmp_path: Path) -> None:
    _, df = swept
    result, again = run_sweep(tmp_path, "b")
    assert result.exit_code == 0, result.output
    assert list(again["run_id"]) == list(df["run_id"])
    for a, b in zip(df["val_loss"], again["val_loss"], strict=True):
        assert abs(a - b) <= 1e-6


def test_dry_run_prints_runs_and_trains_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"),
                                      "--dry-run", "--seeds", "0,1"])
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output and "d32" in result.output
    assert "speed measured on d16 and d32 here" in result.output
    assert not (tmp_path / "o").exists()


def test_dry_run_time_is_affine_in_flops_per_token_between_the_probes(monkeypatch) -> None:
    from rich.console import Console

    from scalecli.sweep import plan as sweep
    from scalecli.sweep import speed_probe
    from scalecli.sweep.hardware import resolve_runtime
    from scalecli.sweep.parse import parse_spec
    from scalecli.sweep.spec import expand

    runs = expand(parse_spec({**TINY, "models": [
        {"name": n, "n_layer": 1, "n_embd": d, "n_head": 2} for n, d in
        (("a", 16), ("b", 32), ("c", 64))]}), 300)
    fpt = {r.model.name: r.counts(300).flops_per_token for r in runs}
    # A machine with 1 us of fixed cost per token and 1 GFLOP/s of compute.
    monkeypatch.setattr(speed_probe, "probe_tokens_per_s", lambda run, vocab, rt: 1 / (
        1e-6 + fpt[run.model.name] / 1e9))
    rate, how = sweep._estimated_rate(runs, 300, resolve_runtime("cpu", "fp32", 1),
                                      Console(quiet=True))
    assert "measured on a and c" in how
    f = fpt["b"]
    assert rate(f) == pytest.approx(f / (1e-6 + f / 1e9), rel=1e-9)  # exact for this machine

    monkeypatch.setattr(sweep, "PROBE_MAX_STEP_S", 0.0)  # too slow to probe: the peak rule
    _, how = sweep._estimated_rate(runs, 300, resolve_runtime("cpu", "fp32", 1),
                                   Console(quiet=True))
    assert "40% of this machine's measured matmul peak" in how


def test_a_fast_speed_probe_runs_again_for_about_a_second(monkeypatch) -> None:
    # Three steps of a tiny model take ~0.1 s: too few to time, so the probe runs again
    # for about min_s; a slow step is timed from the first few steps alone.
    from scalecli.sweep import speed_probe
    from scalecli.sweep.hardware import resolve_runtime
    from scalecli.sweep.parse import parse_spec
    from scalecli.sweep.spec import expand

    run = expand(parse_spec(TINY), 300)[0]
    rt = resolve_runtime("cpu", "fp32", 1)
    for first, calls, step_s in ((0.05, [4, 21], 0.04), (0.001, [4, 64], 0.04),
                                 (0.5, [4], 0.5)):
        asked = []

        def median(run, vocab, rt, steps, first=first, asked=asked):
            asked.append(steps)
            return first if len(asked) == 1 else 0.04
        monkeypatch.setattr(speed_probe, "_median_step_s", median)
        rate = speed_probe.probe_tokens_per_s(run, 300, rt)
        assert asked == calls
        assert rate == pytest.approx(run.train.batch_tokens / step_s)


def test_the_speed_probe_times_real_steps() -> None:
    from scalecli.sweep import speed_probe
    from scalecli.sweep.hardware import resolve_runtime
    from scalecli.sweep.parse import parse_spec
    from scalecli.sweep.spec import expand

    run = expand(parse_spec(TINY), 300)[0]
    rate = speed_probe.probe_tokens_per_s(run, 300, resolve_runtime("cpu", "fp32", 1), min_s=0.2,
                                    max_steps=12)
    assert math.isfinite(rate) and rate > 0
