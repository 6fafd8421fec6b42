"""What every fit rests on: the held-out loss and bits per byte, the held-out split, and the
training loop's arithmetic. Each test fails when its property breaks."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.sweep import train as train_module
from scalecli.sweep.data import EOT, load_text, prepare
from scalecli.sweep.evaluate import evaluate, val_tensors
from scalecli.sweep.hardware import Runtime
from scalecli.sweep.model import build_model, gpt2_config
from scalecli.sweep.parse import parse_spec
from scalecli.sweep.spec import DataSpec, expand
from tests.sweep.test_sweep_e2e import TINY

CPU = torch.device("cpu")


def write_paragraphs(path: Path, docs: list[str]) -> Path:
    path.write_text("\n\n".join(docs), encoding="utf-8")  # no newline after the last
    return path


@pytest.fixture(scope="module")
def byte_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataSpec, list[str]]:
    # bpe:257 is the 256 bytes plus end-of-text and no merges: one token per byte, so the
    # held-out stream, and its bytes, can be counted by hand.
    docs = [f"doc {i:02d} abc" for i in range(20)]  # 10 ASCII bytes each
    path = write_paragraphs(tmp_path_factory.mktemp("bytes") / "corpus.txt", docs)
    return DataSpec(dataset=str(path), tokenizer="bpe:257", context=8, val_frac=0.2), docs


def test_bits_per_byte_count_the_text_not_the_end_of_text_markers(byte_corpus) -> None:
    spec, docs = byte_corpus
    train_docs, val_docs = load_text(spec)
    assert val_docs == docs[-4:] and train_docs == docs[:-4]
    data = prepare(spec, eval_tokens=45)
    # Held out: 4 x (10 bytes + EOT) = 44 tokens; (45 - 1) // 8 = 5 sequences of 8, so the
    # first 41 tokens, of which tokens 1..40 are predicted. EOT sits at 10, 21 and 32:
    # 40 predicted tokens, 37 bytes of text.
    assert data.val.size == 41
    assert [i for i, t in enumerate(data.val.tolist()) if t == data.eos_id] == [10, 21, 32]
    assert data.val_bytes == 37  # counting "<|endoftext|>" as text would give 37 + 3 * 13
    assert len(EOT.encode()) == 13

    # A model with every weight zero predicts the uniform distribution: ln 257 per token.
    config = gpt2_config(n_layer=1, n_embd=16, n_head=2, vocab_size=data.vocab_size, n_ctx=8,
                         eos_token_id=data.eos_id)
    model = build_model(config, seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    result = evaluate(model, *val_tensors(data.val, 8), batch_seqs=2, device=CPU)
    assert result.tokens == 40
    assert result.loss == pytest.approx(math.log(257), abs=1e-6)
    assert result.bpb(data.val_bytes) == pytest.approx(math.log(257) * 40 / (math.log(2) * 37),
                                                        rel=1e-6)


def test_val_loss_is_the_mean_cross_entropy_of_every_predicted_token(byte_corpus) -> None:
    spec, _ = byte_corpus
    data = prepare(spec, eval_tokens=45)
    config = gpt2_config(n_layer=2, n_embd=16, n_head=2, vocab_size=data.vocab_size, n_ctx=8,
                         eos_token_id=data.eos_id)
    model = build_model(config, seed=3)
    inputs, targets = val_tensors(data.val, 8)
    # By hand: -log p(target) token by token, in float64, batch by batch of one sequence.
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in zip(inputs, targets, strict=True):
            logp = torch.log_softmax(model(input_ids=x[None]).logits[0].double(), dim=-1)
            for t in range(8):
                total -= logp[t, y[t]].item()
                count += 1
    result = evaluate(model, inputs, targets, batch_seqs=3, device=CPU)
    assert count == result.tokens == 40
    assert result.loss == pytest.approx(total / count, abs=1e-6)


def test_no_held_out_document_is_in_the_training_stream(tmp_path: Path) -> None:
    docs = [f"Paragraph {i}: " + " ".join(f"w{(i * 7 + j) % 53}" for j in range(30))
            for i in range(40)]
    spec = DataSpec(dataset=str(write_paragraphs(tmp_path / "c.txt", docs)),
                    tokenizer="bpe:300", context=16, val_frac=0.25)
    _, val_docs = load_text(spec)
    data = prepare(spec, eval_tokens=10_000)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(data.tokenizer_json)
    train_text = tok.decode(data.train.tolist(), skip_special_tokens=True)
    held_text = tok.decode(data.val.tolist(), skip_special_tokens=True)
    assert len(val_docs) == 10
    for doc in val_docs:
        assert doc.split(":")[0] + ":" not in train_text  # each paragraph's unique label
        assert doc in held_text
    for doc in docs[:30]:
        assert doc in train_text


def test_embedded_corpus_holds_out_whole_plays_unseen_in_training() -> None:
    train_docs, val_docs = load_text(DataSpec())
    assert len(val_docs) >= 3
    train_text = "\n".join(train_docs)
    for play in val_docs:
        # Windows of 400 characters from the middle of each held-out play: none is in the
        # training text (a short line such as "Exit" may repeat; 400 characters do not).
        middle = len(play) // 2
        for start in (middle - 4000, middle, middle + 4000):
            assert play[start:start + 400] not in train_text


def sweep_file(tmp_path: Path, **changes: object) -> Path:
    spec = {**TINY, "runtime": {"device": "cpu", "dtype": "fp32", "threads": 1,
                                "compile": "off"}, **changes}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_every_run_of_a_sweep_sees_the_same_held_out_tokens(tmp_path, monkeypatch) -> None:
    seen: list[tuple[str, int]] = []
    real = train_module.evaluate

    def recording(model, inputs, targets, **kwargs):
        blob = inputs.numpy().tobytes() + targets.numpy().tobytes()
        seen.append((hashlib.sha256(blob).hexdigest(), int(targets.numel())))
        return real(model, inputs, targets, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", recording)
    path = sweep_file(tmp_path, train={**TINY["train"], "seeds": [0, 1]})
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    # 2 sizes x 2 seeds, each evaluated at 2 points and at the end.
    assert len(seen) == 4 * 3
    data = prepare(DataSpec(**TINY["data"]), TINY["eval"]["tokens"])
    x, y = val_tensors(data.val, TINY["data"]["context"])
    expected = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
    assert set(seen) == {(expected, 4096)}


def test_a_run_whose_loss_blows_up_is_recorded_as_diverged(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, models=[TINY["models"][0]],
                      train={**TINY["train"], "lr": 50.0, "grad_clip": 0.0})
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    import pandas as pd

    rows = pd.read_csv(tmp_path / "o" / "tiny" / "results.csv")
    assert list(rows["status"]) == ["diverged"]
    assert "at step" in rows["error"].iloc[0]
    assert math.isnan(rows["val_loss"].iloc[0])  # a diverged run has no held-out loss
    assert "rerun with --retry-failed" in result.output


@pytest.fixture(scope="module")
def tiny_data():
    return prepare(DataSpec(**TINY["data"]), TINY["eval"]["tokens"])


def tiny_run(**train_changes: object):
    raw = {**TINY, "models": [TINY["models"][0]], "budget": {"tokens": 3 * 512},
           "train": {**TINY["train"], **train_changes}}
    return expand(parse_spec(raw), 300)[0]


def test_gradient_accumulation_gives_the_update_of_one_big_batch(tmp_path, monkeypatch,
                                                                 tiny_data) -> None:
    # Plain SGD makes the update -lr * gradient, so the weights compare the gradients
    # themselves (Adam's first step is about sign(g), which would hide a wrong scale);
    # no clipping, which would also hide one.
    # The standard parametrization, so that `start` below is the run's initial state.
    monkeypatch.setattr(train_module, "_optimizer", lambda model, run, device: torch.optim.SGD(
        [{"params": list(model.parameters()), "lr_scale": 1.0}], lr=run.lr))
    rt = Runtime(CPU, None, 1)
    weights = {}
    for micro in (None, 128):  # 16 sequences at once, or 4 micro-batches of 4
        run = tiny_run(grad_clip=0.0, micro_batch_tokens=micro, lr=0.5,
                       parametrization="standard")
        assert train_module.micro_batch_seqs(run, CPU, 16, 300) == (16 if micro is None else 4)
        train_module.train_run(run, tiny_data, tmp_path / str(micro), rt)
        weights[micro] = load_file(tmp_path / str(micro) / "model.safetensors")
    start = build_model(gpt2_config(n_layer=1, n_embd=16, n_head=2, vocab_size=300, n_ctx=32,
                                    eos_token_id=tiny_data.eos_id), seed=0).state_dict()
    moved = max((weights[None][k] - start[k]).abs().max().item() for k in weights[None])
    assert moved > 1e-3  # the steps did change the weights
    for key, full in weights[None].items():
        torch.testing.assert_close(weights[128][key], full, atol=1e-6, rtol=0)


def test_evaluation_is_fp32_whatever_the_training_precision(tmp_path, monkeypatch,
                                                             tiny_data) -> None:
    from transformers import GPT2LMHeadModel

    # The MFU's bf16 matmul peak is a timing benchmark, slow where bf16 is emulated.
    monkeypatch.setattr(train_module, "matmul_peak", lambda *args: 1e12)
    run = tiny_run()
    result = train_module.train_run(run, tiny_data, tmp_path, Runtime(CPU, torch.bfloat16, 1))
    assert result.dtype == "bf16" and result.status == "ok"
    model = GPT2LMHeadModel.from_pretrained(tmp_path)
    inputs, targets = val_tensors(tiny_data.val, 32)
    fp32 = evaluate(model, inputs, targets, batch_seqs=64, device=CPU)
    assert result.val.loss == pytest.approx(fp32.loss, abs=1e-6)
    # The same weights evaluated under bf16 autocast read differently: the check above
    # would notice an evaluation that followed the training precision. (A few sequences:
    # bf16 matmuls are emulated, and slow, on CPUs without native bf16.)
    few_x, few_y = inputs[:8], targets[:8]
    few = evaluate(model, few_x, few_y, batch_seqs=8, device=CPU)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(input_ids=few_x).logits
    bf16 = F.cross_entropy(logits.float().flatten(0, 1), few_y.flatten()).item()
    assert abs(bf16 - few.loss) > 1e-5
    # And an autocast region around evaluate() does not reach inside it.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = evaluate(model, few_x, few_y, batch_seqs=8, device=CPU)
    assert inside.loss == pytest.approx(few.loss, abs=1e-9)


def test_a_tiny_run_is_deterministic(tmp_path, tiny_data) -> None:
    # The tests above compare runs; they rely on a run repeating itself to the bit.
    run = tiny_run()
    a = train_module.train_run(run, tiny_data, tmp_path / "a", Runtime(CPU, None, 1))
    b = train_module.train_run(dataclasses.replace(run), tiny_data, tmp_path / "b",
                               Runtime(CPU, None, 1))
    assert a.val.loss == b.val.loss
