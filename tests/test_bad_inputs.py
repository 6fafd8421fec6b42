"""The catalogue of bad inputs: every user mistake gets one clear line, never a traceback.

One table, one test. For each case, `sweep`, `fit` or `report` must exit non-zero through
SystemExit (no other exception), print no traceback, name the offending field or file on
stderr, and leave every file in the working folder (the out folder with an earlier
sweep's results included) exactly as it was: same names, same mtimes, same bytes.
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from scalecli.cli import app

os.environ["HF_HUB_OFFLINE"] = "1"
runner = CliRunner()

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while",
         "my", "cat", "sat", "on", "our", "old", "mat")
DROP = object()  # in a spec change: remove the key

BASE: dict[str, Any] = {
    "name": "tiny",
    "data": {"dataset": "{w}/corpus.txt", "tokenizer": "bpe:280", "context": 32},
    "models": [{"name": "a", "n_layer": 1, "n_embd": 16, "n_head": 2}],
    "budget": {"tokens": 512},
    "train": {"batch_tokens": 256},
    "eval": {"tokens": 2000},
    "runtime": {"device": "cpu", "threads": 1, "compile": "off"},
}

RESULTS = ("run_id,model,params_non_embedding,tokens,val_loss,val_ppl,status\n"
           "a,d32,25000,1000000,4.65,104.6,ok\nb,d64,100000,1000000,4.30,73.7,ok\n"
           "c,d96,300000,1000000,4.05,57.4,ok\n")


def spec(changes: dict[str, Any] | None = None) -> str:
    """The base sweep as YAML, with dotted-path changes ("train.lr": 1, "data.x": DROP)."""
    doc = copy.deepcopy(BASE)
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is DROP:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class Case:
    id: str
    args: list[str]  # "{w}" is the working folder
    expect: tuple[str, ...]  # substrings of stderr: the field or file at fault
    files: dict[str, str | bytes] = field(default_factory=dict)


def sweep(case_id: str, yaml_text: str, *expect: str, extra: tuple[str, ...] = (),
          files: dict[str, str | bytes] | None = None) -> Case:
    return Case(case_id, ["sweep", "{w}/s.yaml", "--out", "{w}/out", *extra], expect,
                {"s.yaml": yaml_text, **(files or {})})


def fit(case_id: str, csv_text: str | bytes | None, *expect: str,
        extra: tuple[str, ...] = ()) -> Case:
    files = {} if csv_text is None else {"in/results.csv": csv_text}
    return Case(case_id, ["fit", "{w}/in/results.csv", "--bootstrap", "20", *extra], expect, files)


def report(case_id: str, target: str, *expect: str, files: dict[str, str | bytes] | None = None
           ) -> Case:
    return Case(case_id, ["report", target], expect, files or {})


CASES = [
    # --- the sweep file: syntax, keys, types
    sweep("yaml-malformed", "name: tiny\nmodels: [a, b\n", "s.yaml", "malformed YAML"),
    sweep("yaml-not-mapping", "- a\n- b\n", "YAML mapping"),
    sweep("yaml-empty", "", "s.yaml", "empty"),
    Case("sweep-file-missing", ["sweep", "{w}/nope.yaml", "--out", "{w}/out"], ("nope.yaml",)),
    sweep("unknown-top-key", spec({"modles": []}), "modles", "did you mean 'models'"),
    sweep("unknown-train-key", spec({"train.lrr": 0.01}), "train", "lrr", "did you mean 'lr'"),
    sweep("unknown-model-key", spec({"models.0.n_embed": 16}), "models[0]",
          "did you mean 'n_embd'"),
    sweep("unknown-size", spec({"models": ["d9999"]}), "models[0]", "d9999"),
    sweep("wrong-type-number", spec({"train.batch_tokens": "lots"}), "train.batch_tokens"),
    sweep("wrong-type-bool", spec({"train.gradient_checkpointing": 3}),
          "train.gradient_checkpointing"),
    sweep("wrong-type-section", spec({"train": [1, 2]}), "train"),
    sweep("models-empty", spec({"models": []}), "models"),
    sweep("models-duplicate", spec({"models": [BASE["models"][0]] * 2}), "models", "'a'"),
    # --- impossible sizes and budgets
    sweep("n_layer-zero", spec({"models.0.n_layer": 0}), "models[0].n_layer"),
    sweep("n_embd-negative", spec({"models.0.n_embd": -16}), "models[0].n_embd"),
    sweep("n_embd-not-divisible", spec({"models.0.n_head": 3}), "n_embd=16", "n_head=3"),
    sweep("budget-zero", spec({"budget.tokens": 0}), "budget.tokens[0]"),
    sweep("budget-negative", spec({"budget.tokens": [512, -1]}), "budget.tokens[1]"),
    sweep("budget-both", spec({"budget.tokens_per_param": 20}), "budget", "tokens_per_param"),
    sweep("context-zero", spec({"data.context": 0}), "data.context"),
    sweep("batch-not-multiple", spec({"train.batch_tokens": 100}), "train.batch_tokens"),
    sweep("lr-negative", spec({"train.lr": -0.001}), "train.lr[0]"),
    sweep("eval-tokens-zero", spec({"eval.tokens": 0}), "eval.tokens"),
    sweep("bpe-too-small", spec({"data.tokenizer": "bpe:10"}), "data.tokenizer", "bpe:10"),
    sweep("unknown-device", spec({"runtime.device": "tpu"}), "runtime.device", "tpu"),
    sweep("unknown-executor", spec({"runtime.executor": "spark"}), "runtime.executor", "spark"),
    # the flag is a checked choice: the command line names it and the choices
    sweep("unknown-executor-flag", spec(), "--executor", "'spark' is not one of 'local', 'ray'",
          extra=("--executor", "spark")),
    sweep("cpus-per-run-zero", spec({"runtime.cpus_per_run": 0}), "runtime.cpus_per_run"),
    sweep("gpus-per-run-negative", spec({"runtime.gpus_per_run": -1}), "runtime.gpus_per_run"),
    sweep("override-tokens", spec(), "--tokens", extra=("--tokens", "abc")),
    sweep("override-seeds", spec(), "train.seeds", extra=("--seeds", "-1")),
    # --- the data
    sweep("context-longer-than-held-out", spec({"data.dataset": "{w}/short.txt",
                                                 "data.context": 256,
                                                 "train.batch_tokens": 256}),
          "data.context=256", "held-out",
          files={"short.txt": "\n\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(10))}),
    sweep("dataset-empty", spec({"data.dataset": "{w}/empty.txt"}), "empty.txt",
          files={"empty.txt": ""}),
    sweep("dataset-missing-file", spec({"data.dataset": "{w}/missing.txt"}), "data.dataset",
          "missing.txt"),
    sweep("dataset-glob-no-match", spec({"data.dataset": "{w}/texts/*.jsonl"}), "data.dataset",
          "*.jsonl"),
    sweep("dataset-wrong-suffix", spec({"data.dataset": "{w}/table.csv"}), "data.dataset",
          ".csv", files={"table.csv": "a,b\n1,2\n"}),
    sweep("jsonl-no-text-column", spec({"data.dataset": "{w}/docs.jsonl"}), "docs.jsonl",
          "'text'", "data.text_column",
          files={"docs.jsonl": "".join(f'{{"body": "doc {i}"}}\n' for i in range(5))}),
    sweep("tokenizer-unknown", spec({"data.tokenizer": "no-such-org/no-such-tokenizer"}),
          "data.tokenizer", "no-such-org/no-such-tokenizer"),
    sweep("hub-dataset-offline", spec({"data.dataset": "no-such-org/no-such-dataset"}),
          "no-such-org/no-such-dataset", "could not reach the Hugging Face hub", "local"),
    # --- checkpoints: resolved before anything is written
    sweep("checkpoint-missing", "name: e\nmodels: [{checkpoint: '{w}/nope'}]\n",
          "checkpoint", "nope", "no such folder"),
    sweep("checkpoint-not-causal", "name: e\nmodels: [{checkpoint: '{w}/bert'}]\n",
          "bert", "not a causal LM",
          files={"bert/config.json": '{"model_type": "bert", "hidden_size": 16, '
                 '"num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 100}'}),
    # --- the out folder
    sweep("out-is-a-file", spec(), "afile", "not a folder", extra=("--out", "{w}/afile")),
    sweep("out-sweep-folder-is-a-file", spec({"name": "clash"}), "clash", "not a folder",
          files={"out/clash": "not a folder\n"}),
    # --- fit: the CSV
    fit("fit-missing-path", None, "results.csv", "does not exist"),
    Case("fit-folder-without-csv", ["fit", "{w}/out/empty"], ("out/empty", "results.csv"),
         {"out/empty/readme.txt": "nothing here\n"}),
    fit("fit-empty-csv", "", "results.csv", "empty"),
    fit("fit-binary", b"\x00\x01\x02PK\x03\x04", "results.csv", "binary"),
    fit("fit-missing-columns", "run_id,model,status\na,d32,ok\nb,d64,ok\n",
        "params_non_embedding"),
    fit("fit-ragged-row", "run_id,params_non_embedding,val_ppl\na,1,2\nb,3\n", "row 3"),
    fit("fit-nan", RESULTS.replace("73.7", "nan"), "val_ppl", "NaN"),
    fit("fit-non-numeric", RESULTS.replace("100000", "big"), "params_non_embedding",
        "not numeric"),
    fit("fit-negative-on-log-axis", RESULTS.replace("4.30,73.7", "4.30,-73.7"), "val_ppl", "> 0"),
    fit("fit-too-few-points", RESULTS.splitlines(keepends=True)[0] + RESULTS.splitlines(
        keepends=True)[1], "needs at least"),
    fit("fit-all-filtered", RESULTS.replace(",ok", ",failed"), "status=ok"),
    fit("fit-unknown-form", RESULTS, "--form", extra=("--form", "cubic")),
    fit("fit-bad-predict", RESULTS, "--predict", extra=("--predict", "lots")),
    fit("fit-bad-where", RESULTS, "--where", "colour", extra=("--where", "colour=red")),
    fit("fit-unknown-x", RESULTS, "width", extra=("--x", "width")),
    # --- report
    report("report-missing-folder", "{w}/nowhere", "nowhere"),
    report("report-no-results", "{w}/out/empty", "out/empty", "results.csv",
           files={"out/empty/readme.txt": "nothing here\n"}),
    report("report-missing-columns", "{w}/in", "results.csv", "lacks the column",
           files={"in/results.csv": "run_id,colour\na,red\n"}),
    report("report-no-rows", "{w}/in", "results.csv", "no runs",
           files={"in/results.csv": RESULTS.splitlines(keepends=True)[0]}),
    report("report-binary-csv", "{w}/in", "results.csv",
           files={"in/results.csv": b"\xff\xfe\x00garbage\x00\x01"}),
]


def snapshot(root: Path) -> dict[str, Any]:
    """Every path under root, with mtime and content hash for files."""
    state: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            state[rel + "/"] = None
        else:
            stat = path.stat()
            state[rel] = (stat.st_mtime_ns, stat.st_size,
                          hashlib.sha256(path.read_bytes()).hexdigest())
    return state


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_catalogue_has_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.args[0] for c in CASES} == {"sweep", "fit", "report"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, cache: Path) -> None:
    w = tmp_path
    rng = __import__("random").Random(0)
    files: dict[str, str | bytes] = {
        "corpus.txt": "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(40))
                                  for _ in range(60)) + "\n",
        "afile": "a plain file\n",
        # An earlier sweep's output, which no failing command may touch.
        "out/tiny/results.csv": RESULTS,
        "out/tiny/sweep.yaml": spec(),
        "out/tiny/runs/a/model.safetensors": b"weights",
        **case.files,
    }
    for rel, content in files.items():
        path = w / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{w}", str(w)), encoding="utf-8")
    (w / "texts").mkdir(exist_ok=True)
    before = snapshot(w)

    args = [a.replace("{w}", str(w)) for a in case.args]
    env = {"SCALECLI_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "SCALECLI_TEST_PAUSE": None}
    result = runner.invoke(app, args, env=env)

    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())  # undo any line wrapping
    for text in case.expect:
        assert text.replace("{w}", str(w)) in message, f"{text!r} not in: {result.stderr}"
    assert snapshot(w) == before
