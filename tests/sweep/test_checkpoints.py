"""Checkpoints in a sweep: evaluation-only runs of trained models, through the CLI.

A tiny sweep is trained once; an evaluation-only sweep of its saved runs on the same data
gives back their val_loss; tiny GPT-2 and GPT-NeoX models with two tokenizers, saved at
test time, are measured on one text and fitted in bits per byte. Bad references are one
line and exit 2 before anything is written. Offline, CPU, fp32.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.results import read_rows
from scalecli.sweep.parse import parse_spec
from tests.sweep.test_pretrained import _config, tiny_model, tokenizer
from tests.sweep.test_resume import sweep_in_process, write_corpus
from tests.sweep.test_wsd import sweep_dict

os.environ["HF_HUB_OFFLINE"] = "1"
runner = CliRunner()


def evaluation_only(corpus: str, checkpoints: list[dict], name: str = "measured") -> dict:
    """A sweep of checkpoints alone on the tiny sweep's data settings: no budget, no train."""
    spec = sweep_dict(corpus)
    return {"name": name, "data": spec["data"], "models": checkpoints, "eval": spec["eval"],
            "runtime": spec["runtime"]}


def run_cli(root: Path, spec: dict, *extra: str):
    path = root / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return sweep_in_process(path, root / "out", root / "cache", *extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("trained")
    spec = sweep_dict(str(write_corpus(root)), schedule="cosine")
    spec["budget"]["tokens"] = [3072]
    spec["models"].append({"name": "b", "n_layer": 1, "n_embd": 32, "n_head": 2})
    result = run_cli(root, spec)
    assert result.exit_code == 0, result.output
    out = root / "out" / "tiny"
    return {"root": root, "corpus": spec["data"]["dataset"], "out": out,
            "rows": read_rows(out / "results.csv")}


def test_an_evaluation_only_sweep_gives_back_the_sweeps_val_loss(trained: dict) -> None:
    root, rows = trained["root"], trained["rows"]
    spec = evaluation_only(trained["corpus"], [
        {"checkpoint": str(trained["out"] / "runs" / row["run_id"])} for row in rows])
    result = run_cli(root, spec)
    assert result.exit_code == 0, result.output
    measured = read_rows(root / "out" / "measured" / "results.csv")
    assert [r["model"] for r in measured] == ["a", "b"]  # the runs' own size names
    for row, again in zip(rows, measured, strict=True):
        assert abs(float(again["val_loss"]) - float(row["val_loss"])) < 1e-4
        assert abs(float(again["val_bpb"]) - float(row["val_bpb"])) < 1e-4
        # the same tokens and counts as trained; nothing trained here
        assert (again["tokens"], again["params"], again["params_non_embedding"]) == (
            row["tokens"], row["params"], row["params_non_embedding"])
        assert again["tokenizer"] == row["tokenizer"] == "bpe:280"
        assert again["lr"] == again["seed"] == again["steps"] == again["batch_tokens"] == ""
        assert again["status"] == "ok" and again["role"] == "ladder"
    data = json.loads((root / "out" / "measured" / "data.json").read_text())
    assert data["text_bytes"] > data["val_bytes"] and "train_tokens" not in data
    # A rerun measures nothing again: the run_ids are the same, the rows untouched.
    before = (root / "out" / "measured" / "results.csv").read_bytes()
    result = run_cli(root, spec)
    assert result.exit_code == 0 and "0 to measure" in result.output
    assert (root / "out" / "measured" / "results.csv").read_bytes() == before


@pytest.fixture(scope="module")
def two_tokenizers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three untrained checkpoints of three depths: GPT-2 with a 300-token BPE, GPT-NeoX
    with a 700-token one, GPT-2 again."""
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("models")
    toks = {300: tokenizer(300), 700: tokenizer(700)}
    for name, arch, vocab, layers in (("g-small", "gpt2", 300, 1), ("n-mid", "neox", 700, 2),
                                      ("g-big", "gpt2", 300, 3)):
        config = _config(arch, len(toks[vocab]), 64)
        config.num_hidden_layers = layers
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(config).save_pretrained(root / name)
        toks[vocab].save_pretrained(root / name)
    return root


def test_two_tokenizers_are_fitted_in_bits_per_byte(trained: dict, two_tokenizers: Path
                                                    ) -> None:
    root = trained["root"]
    spec = evaluation_only(trained["corpus"], [
        {"checkpoint": str(two_tokenizers / name), "tokens_trained": 1e6}
        for name in ("g-small", "n-mid", "g-big")], name="mixed")
    result = run_cli(root, spec)
    assert result.exit_code == 0, result.output
    rows = read_rows(root / "out" / "mixed" / "results.csv")
    assert len({r["tokenizer"] for r in rows}) == 2
    assert all(r["tokens"] == "1000000" and float(r["flops_6nd"]) > 0 for r in rows)
    fitted = runner.invoke(app, ["fit", str(root / "out" / "mixed"), "--bootstrap", "100"])
    assert fitted.exit_code == 0, fitted.output
    doc = json.loads((root / "out" / "mixed" / "fit.json").read_text())
    assert doc["fits"]["power"]["y"] == "val_bpb"
    said = [d for d in doc["diagnostics"] if d["code"] == "mixed_tokenizers"]
    assert len(said) == 1 and said[0]["severity"] == "info"
    assert "bits per byte" in said[0]["message"]
    # The same rows with --y val_loss: kept as asked, and warned about.
    forced = runner.invoke(app, ["fit", str(root / "out" / "mixed"), "--bootstrap", "100",
                                 "--y", "val_loss"])
    assert forced.exit_code == 0, forced.output
    doc = json.loads((root / "out" / "mixed" / "fit.json").read_text())
    assert doc["fits"]["power"]["y"] == "val_loss"
    assert [d["severity"] for d in doc["diagnostics"]
            if d["code"] == "mixed_tokenizers"] == ["warning"]
    # report draws rows without lr or seed, and samples each checkpoint from its folder
    reported = runner.invoke(app, ["report", str(root / "out" / "mixed"),
                                   "--sample-tokens", "4"])
    assert reported.exit_code == 0, reported.output
    text = (root / "out" / "mixed" / "report" / "report.md").read_text()
    assert "| g-small |" in text.split("## Samples")[1]


def test_one_tokenizer_keeps_each_forms_own_y() -> None:
    from scalecli.fit.per_byte import choose_y

    header = ["tokenizer", "val_loss", "val_bpb"]
    one = [{"tokenizer": "bpe:1024", "val_loss": "4", "val_bpb": "2"}] * 3
    assert choose_y(one, header, None) == (None, [])
    two = [*one[:2], {"tokenizer": "BPE:50257#1f2e3d4c", "val_loss": "3", "val_bpb": "1"}]
    y, said = choose_y(two, header, None)
    assert y == "val_bpb" and [d.severity for d in said] == ["info"]
    assert choose_y(two, header, "val_bpb") == (None, [])  # asked for: nothing to say
    blank = [*two[:2], {"tokenizer": "x", "val_loss": "3", "val_bpb": ""}]
    assert choose_y(blank, header, None)[0] is None  # not every row has bpb: warned


def test_a_checkpoint_that_fails_to_load_is_a_failed_row(trained: dict, tmp_path: Path
                                                         ) -> None:
    broken = tmp_path / "broken"
    tiny_model("gpt2").save_pretrained(broken)
    tokenizer(300).save_pretrained(broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    spec = evaluation_only(trained["corpus"], [{"checkpoint": str(broken)}], name="broken")
    result = run_cli(trained["root"], spec)
    assert result.exit_code == 1, result.output  # a run did not finish ok; the sweep ended
    (row,) = read_rows(trained["root"] / "out" / "broken" / "results.csv")
    assert row["status"] == "failed" and row["error"] and "\n" not in row["error"]


# --- bad input: one line, exit 2, nothing written -----------------------------------------

def bad(tmp_path: Path, models: list, *expect: str, budget: bool = False) -> None:
    spec = evaluation_only("embedded:shakespeare", models, name="bad")
    if budget:
        spec["budget"] = {"tokens": 512}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")],
                           env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in expect:
        assert word in result.output, result.output
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_bad_checkpoints_are_one_line(tmp_path: Path) -> None:
    from transformers import BertConfig, CanineTokenizer

    bad(tmp_path, [{"checkpoint": str(tmp_path / "nowhere")}], "nowhere", "no such folder")
    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=32, vocab_size=100).save_pretrained(tmp_path / "bert")
    bad(tmp_path, [{"checkpoint": str(tmp_path / "bert")}], "not a causal LM")
    # A slow tokenizer with no BOS or EOS: the first token's bytes cannot be found.
    slow = tmp_path / "slow"
    tiny_model("gpt2").config.save_pretrained(slow)
    CanineTokenizer(bos_token=None, eos_token=None).save_pretrained(slow)
    bad(tmp_path, [{"checkpoint": str(slow)}], "no fast", "CanineTokenizer")
    bad(tmp_path, [{"checkpoint": "hf:scalecli-tests/not-cached"}], "not in the local")
    bad(tmp_path, [{"checkpoint": str(slow), "n_layer": 2}], "models[0].n_layer")
    bad(tmp_path, [{"checkpoint": str(slow), "strid": 2}], "did you mean 'stride'")
    bad(tmp_path, ["hf:gpt2"], "{checkpoint: hf:gpt2}")
    bad(tmp_path, [{"checkpoint": str(tmp_path / "bert")}], "budget", budget=True)


def test_checkpoints_parse_beside_trained_sizes() -> None:
    raw = sweep_dict()
    raw["models"].append({"checkpoint": "hf:gpt2", "tokens_trained": "3e9", "stride": 512})
    spec = parse_spec(raw)
    assert [m.name for m in spec.models] == ["a"]
    (c,) = spec.checkpoints
    assert (c.checkpoint, c.tokens_trained, c.stride, c.name) == ("hf:gpt2", 3e9, 512, None)
    only = {k: v for k, v in raw.items() if k not in ("budget", "train")}
    only["models"] = raw["models"][1:]
    assert parse_spec(only).models == ()  # no budget needed


def test_the_dry_run_lists_each_checkpoint(trained: dict, two_tokenizers: Path) -> None:
    spec = evaluation_only(trained["corpus"], [
        {"checkpoint": str(two_tokenizers / "g-small"), "stride": 16},
        {"checkpoint": str(two_tokenizers / "n-mid")}], name="planned")
    path = trained["root"] / "planned.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = runner.invoke(app, ["sweep", str(path), "--dry-run", "--json"],
                           env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["runs"] == [] and [e["model"] for e in plan["evaluations"]] == ["g-small",
                                                                                 "n-mid"]
    small, mid = plan["evaluations"]
    assert (small["context"], small["stride"], mid["stride"]) == (64, 16, 64)
    assert small["fits_memory"] is True and small["params"] > small["params_non_embedding"]
    # overlapping windows cost context / stride times the forward passes
    per_param = small["eval_flops"] / mid["eval_flops"]
    assert per_param > 2
    text = runner.invoke(app, ["sweep", str(path), "--dry-run"], env={"HF_HUB_OFFLINE": "1"})
    assert text.exit_code == 0 and "2 checkpoints" in text.output and "fits" in text.output
