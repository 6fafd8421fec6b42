"""The command line of a user's first hour: --set, --data, init, a bare fit and report,
escaped text, choices, -h, exit codes and `sweep --dry-run --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import Interrupted, ScaleError
from scalecli.sweep.parse import load_spec

runner = CliRunner()

RESULTS = ("run_id,model,params_non_embedding,tokens,val_loss,val_ppl,status\n"
           "a,d32,25000,1000000,4.65,104.6,ok\nb,d64,100000,1000000,4.30,73.7,ok\n"
           "c,d96,300000,1000000,4.05,57.4,ok\nd,d128,900000,1000000,3.86,47.5,ok\n")
TINY = ["--set", "models=[{name: a, n_layer: 1, n_embd: 16, n_head: 2},"
        "{name: b, n_layer: 1, n_embd: 32, n_head: 2}]",
        "--set", "train.lr=3e-3", "--set", "train.noise_seeds=[]",
        "--set", "budget.tokens=4096", "--set", "train.batch_tokens=512",
        "--set", "runtime.device=cpu"]


def test_set_changes_any_field_before_validation() -> None:
    spec, raw = load_spec(None, sets=("train.lr=3e-3", "models=[s1,s2]", "budget.tokens=1e5",
                                      "data.context=64"))
    assert spec.train.lr == (3e-3,) and [m.name for m in spec.models] == ["s1", "s2"]
    assert spec.budget.tokens == (100_000,) and spec.data.context == 64
    assert float(raw["train"]["lr"]) == 3e-3  # the resolved file, as sweep.yaml saves it
    with pytest.raises(ScaleError, match=r"train\.batch_tokens must be|batch_tokens"):
        load_spec(None, sets=("train.batch_tokens=-5",))  # checked like the file


@pytest.mark.parametrize(("setting", "words"), [
    ("train.lrr=1e-3", ["--set train.lrr", "unknown key 'lrr'", "did you mean 'lr'"]),
    ("trian.lr=1e-3", ["--set trian.lr", "unknown key 'trian'", "did you mean 'train'"]),
    ("data.dataset.x=1", ["data.dataset is a value"]),
    ("lr", ["expected KEY=VALUE"]),
])
def test_set_with_an_unknown_key_is_one_line(setting: str, words: list[str]) -> None:
    result = runner.invoke(app, ["sweep", "--dry-run", "--set", setting])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in " ".join(result.stderr.split())


def test_data_names_the_sweep_after_the_data(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    spec, _ = load_spec(None, data=str(tmp_path / "corpus"))
    assert spec.data.dataset == str(tmp_path / "corpus") and spec.name == "default-corpus"
    spec, _ = load_spec(None, data="user/TinyStories", sets=("name=mine",))
    assert spec.name == "mine" and spec.data.dataset == "user/TinyStories"


def test_dry_run_json_lists_the_runs_with_counts_flops_and_time() -> None:
    result = runner.invoke(app, ["sweep", "--dry-run", "--json", *TINY])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)  # stdout holds the JSON alone
    assert [r["model"] for r in plan["runs"]] == ["a", "b"]
    for run in plan["runs"]:
        assert run["flops"] == run["flops_per_token"] * run["tokens"]
        assert run["params"] > run["params_non_embedding"] > 0
        assert run["est_seconds"] > 0 and run["steps"] * 512 == run["tokens"]
    assert plan["total"]["flops"] == sum(r["flops"] for r in plan["runs"])
    assert runner.invoke(app, ["sweep", "--json", *TINY]).exit_code == 2  # needs --dry-run


def test_dry_run_json_gives_the_workers_per_run_as_the_table_does() -> None:
    result = runner.invoke(app, ["sweep", "--dry-run", "--json", *TINY])
    assert json.loads(result.stdout)["workers_per_run"] == 1
    two = runner.invoke(app, ["sweep", "--dry-run", "--json", *TINY,
                              "--set", "runtime.workers_per_run=2"])
    assert two.exit_code == 0, two.output
    plan = json.loads(two.stdout)  # the note about the workers went to stderr
    assert plan["workers_per_run"] == 2
    assert "workers per run: 2 (data-parallel CPU processes" in two.stderr


def test_dry_run_json_lists_the_validation_runs_after_the_ladder() -> None:
    past = "validate={models: [{name: c, n_layer: 2, n_embd: 48, n_head: 2}]}"
    result = runner.invoke(app, ["sweep", "--dry-run", "--json", *TINY, "--set", past])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [(r["model"], r["role"]) for r in runs] == [
        ("a", "ladder"), ("b", "ladder"), ("c", "validation")]
    assert runs[-1]["est_seconds"] > 0 and not runs[-1]["chosen_after_fit"]


def test_init_writes_a_commented_sweep_that_parses_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith("#") and "scalecli sweep" in text and "# " in text.split("name:")[1]
    spec, _ = load_spec(path)
    assert spec.name == "mine" and len(spec.models) == 5
    path.write_text("name: edited\n")
    again = runner.invoke(app, ["init", str(path)])
    assert again.exit_code == 2 and "--force" in again.stderr
    assert path.read_text() == "name: edited\n"
    assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0
    assert load_spec(path)[0].name == "mine"


def _sweep_folder(root: Path, name: str) -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "results.csv").write_text(RESULTS)
    return root / name


def test_fit_without_an_argument_reads_the_last_sweep(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _sweep_folder(Path("out"), "default")
    _sweep_folder(Path("out"), "mine")
    result = runner.invoke(app, ["fit", "--bootstrap", "50"])
    assert result.exit_code == 2  # two sweeps, no marker: which one is not guessed
    message = " ".join(result.stderr.split())
    assert "out/default" in message and "out/mine" in message and result.stderr.count("\n") == 1
    Path("out/.last_sweep").write_text("mine\n")
    result = runner.invoke(app, ["fit", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert "using out/mine" in result.stderr
    assert Path("out/mine/fit.json").exists() and not Path("out/default/fit.json").exists()
    as_json = runner.invoke(app, ["fit", "--bootstrap", "50", "--json"])
    assert json.loads(as_json.stdout)["fits"]  # the folder's name goes to stderr


def test_fit_and_report_use_the_only_sweep_or_say_there_is_none(tmp_path: Path,
                                                                 monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2 and "no sweep found under out" in result.stderr
    _sweep_folder(Path("out"), "only")
    result = runner.invoke(app, ["fit", "--bootstrap", "50"])
    assert result.exit_code == 0 and "using out/only (the only sweep" in result.stderr


MARKUP = "pip install 'scalecli[ray]' failed at [/x] with [bold]no such file[/bold]"


def test_error_text_is_printed_as_it_is(monkeypatch) -> None:
    def fail(_options):
        raise ScaleError(MARKUP)

    monkeypatch.setattr("scalecli.sweep.driver.run_sweep", fail)
    result = runner.invoke(app, ["sweep"])
    assert result.exit_code == 2, repr(result.exception)
    assert MARKUP in " ".join(result.stderr.split())


def test_help_text_is_printed_as_it_is() -> None:
    result = runner.invoke(app, ["sweep", "--help"])
    assert "pip install 'scalecli[ray]'" in " ".join(result.stdout.split())
    assert runner.invoke(app, ["sweep", "-h"]).stdout == result.stdout


@pytest.mark.parametrize("command", ["sweep", "fit", "report", "init"])
def test_every_command_documents_its_exit_codes(command: str) -> None:
    result = runner.invoke(app, [command, "-h"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0" in text and "2 " in text.split("Exit codes:")[1]


@pytest.mark.parametrize(("raised", "code"), [(1, 1), (0, 0), (Interrupted("stopped"), 130),
                                              (KeyboardInterrupt(), 130),
                                              (ScaleError("bad"), 2)])
def test_sweep_exit_codes(monkeypatch, raised: object, code: int) -> None:
    def run(_options):
        if isinstance(raised, BaseException):
            raise raised
        return raised

    monkeypatch.setattr("scalecli.sweep.driver.run_sweep", run)
    assert runner.invoke(app, ["sweep"]).exit_code == code


def test_fit_interrupted_exits_130(tmp_path: Path, monkeypatch) -> None:
    def run(_options):
        raise KeyboardInterrupt

    monkeypatch.setattr("scalecli.fit.driver.run_fit", run)
    assert runner.invoke(app, ["fit", str(tmp_path)]).exit_code == 130


def test_choices_are_listed_and_checked(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr("scalecli.sweep.driver.run_sweep", lambda o: seen.append(o) or 0)
    assert runner.invoke(app, ["sweep", "--device", "cuda:1", "--executor", "ray"]).exit_code == 0
    assert (seen[0].device, seen[0].executor) == ("cuda:1", "ray")
    for option, value in (("--device", "gpu"), ("--executor", "slurm")):
        result = runner.invoke(app, ["sweep", option, value])
        assert result.exit_code == 2 and value in result.stderr
    result = runner.invoke(app, ["fit", "--form", "cubic"])
    assert result.exit_code == 2 and "'cubic' is not one of 'power', 'saturating'" in result.stderr
    help_text = " ".join(runner.invoke(app, ["fit", "-h"]).stdout.split())
    assert "power|saturating|chinchilla|all|isoflop|envelope|compute" in help_text


def test_sweep_saves_the_resolved_file(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    docs = [f"Paragraph {i}: " + "the quick brown fox jumps over the lazy dog " * 8
            for i in range(30)]
    (tmp_path / "t" / "a.txt").write_text("\n\n".join(docs))
    result = runner.invoke(app, ["sweep", "--data", str(tmp_path / "t"), "--out",
                                 str(tmp_path / "out"), *TINY, "--set", "data.tokenizer=bpe:300",
                                 "--set", "data.context=16", "--set", "eval.tokens=300"])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "out" / "default-t" / "sweep.yaml").read_text())
    assert float(saved["train"]["lr"]) == 3e-3 and saved["data"]["dataset"] == str(tmp_path / "t")
    assert (tmp_path / "out" / ".last_sweep").read_text().strip() == "default-t"
