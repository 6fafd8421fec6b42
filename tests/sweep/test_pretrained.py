"""Evaluating trained checkpoints without training: rolling windows, bits per byte, references.

Tiny GPT-2, GPT-NeoX and Llama models and two byte-level BPEs of different vocabularies
are built and saved with save_pretrained at test time; a tiny sweep is trained to check
that its saved runs give back their own val_loss. Everything offline, on CPU, in fp32.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from scalecli.errors import ScaleError
from scalecli.results import read_rows
from scalecli.sweep import pretrained
from scalecli.sweep.data import EOT, train_bpe
from scalecli.sweep.model import count_params as gpt2_count_params
from scalecli.sweep.pretrained import (
    TooLarge,
    count_params,
    counts_from_config,
    evaluate_on_sweep,
    evaluate_sweep_run,
    heldout_docs,
    load,
    resolve,
    sweep_heldout,
)
from scalecli.sweep.rolling import encode_text, evaluate_text, plan_windows, score_ids
from tests.sweep.test_resume import WORDS, sweep_in_process, write_corpus
from tests.sweep.test_wsd import sweep_dict

os.environ["HF_HUB_OFFLINE"] = "1"
TEXT = ("The quick brown fox jumps over the lazy dog, while my cat sat on our old mat. "
        "Naïve café owners serve crème brûlée; 漢字 and emoji 🙂 cost more bytes. ") * 3


def _config(arch: str, vocab: int, n_ctx: int):
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

    if arch == "gpt2":
        return GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=vocab, n_positions=n_ctx,
                          bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0,
                          attn_pdrop=0.0)
    if arch == "neox":
        return GPTNeoXConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                             intermediate_size=64, vocab_size=vocab, max_position_embeddings=n_ctx,
                             bos_token_id=0, eos_token_id=0, hidden_dropout=0.0,
                             attention_dropout=0.0)
    return LlamaConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                       num_key_value_heads=2, intermediate_size=32, vocab_size=vocab,
                       max_position_embeddings=n_ctx, bos_token_id=0, eos_token_id=0)


def tiny_model(arch: str, vocab: int = 300, n_ctx: int = 64, seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(_config(arch, vocab, n_ctx)).eval()


def tokenizer(vocab: int, special: bool = True):
    """A byte-level BPE (GPT-2's scheme) trained here, <|endoftext|> as id 0 and BOS/EOS."""
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(vocab)
    docs = [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(40)] + [TEXT]
    backend = train_bpe(docs, vocab)
    if not special:
        return PreTrainedTokenizerFast(tokenizer_object=backend)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=EOT, eos_token=EOT)


@pytest.fixture(scope="module")
def toks() -> dict:
    return {300: tokenizer(300), 700: tokenizer(700)}


def per_window_loop(model, ids: list[int], context: int) -> tuple[float, int]:
    """The plain loop: non-overlapping windows, one at a time, inputs ids[s:s+c]."""
    total, count = 0.0, 0
    for s in range(0, len(ids) - 1, context):
        x = torch.tensor([ids[s : min(s + context, len(ids) - 1)]])
        y = torch.tensor([ids[s + 1 : s + 1 + x.shape[1]]])
        with torch.no_grad():
            logits = model(input_ids=x).logits
        total += F.cross_entropy(logits[0], y[0], reduction="sum").item()
        count += y.numel()
    return total, count


@pytest.mark.parametrize("arch", ["gpt2", "neox", "llama"])
def test_rolling_matches_a_plain_per_window_loop(arch: str) -> None:
    model = tiny_model(arch)
    ids = torch.randint(0, 300, (1 + 5 * 16 + 7,), generator=torch.Generator().manual_seed(1))
    expected, n = per_window_loop(model, ids.tolist(), 16)
    assert n == ids.numel() - 1  # every token but the first, the last window short
    for batch in (1, 3, None):  # batching must not change the sum
        nll, count = score_ids(model, ids, context=16, batch_windows=batch)
        assert count == n
        assert nll == pytest.approx(expected, rel=1e-6)


def hf_guide_loop(model, ids: torch.Tensor, max_length: int, stride: int) -> tuple[float, int]:
    """Hugging Face's "Perplexity of fixed-length models", as written there, with the
    count of scored tokens made exact."""
    seq_len = ids.numel()
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        input_ids = ids[None, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = model(input_ids, labels=target_ids).loss
        # The model shifts labels left, so label 0 is never a target. (The guide subtracts
        # one per window, which undercounts every later window, whose label 0 is masked.)
        valid = (target_ids[:, 1:] != -100).sum().item()
        nll_sum += loss.item() * valid
        n_tokens += valid
        prev_end = end
        if end == seq_len:
            break
    return nll_sum, n_tokens


@pytest.mark.parametrize(("context", "stride"), [(16, 4), (16, 5), (24, 16), (16, 16)])
def test_stride_below_the_context_agrees_with_the_hf_guide(context: int, stride: int) -> None:
    model = tiny_model("gpt2", n_ctx=64)
    ids = torch.randint(0, 300, (101,), generator=torch.Generator().manual_seed(2))
    # A window of `context` inputs predicts `context` tokens: the guide's max_length is c+1.
    expected, n = hf_guide_loop(model, ids, context + 1, stride)
    nll, count = score_ids(model, ids, context=context, stride=stride)
    assert count == n == 100
    assert nll == pytest.approx(expected, rel=1e-6)
    # More context for the later windows than without overlap: a different number.
    if stride < context:
        assert nll != pytest.approx(score_ids(model, ids, context=context)[0], rel=1e-6)


def test_windows_predict_every_token_once() -> None:
    for n, c, s in [(2, 8, 8), (100, 16, 16), (100, 16, 3), (17, 16, 1), (1000, 64, 48)]:
        scored: list[int] = []
        for w in plan_windows(n, c, s):
            assert w.length <= c and 1 <= w.scored <= w.length
            end = w.start + w.length
            scored.extend(range(end - w.scored + 1, end + 1))  # target positions
        assert scored == list(range(1, n))


def known_cost_model(arch: str, tok, nats_per_byte: float):
    """A model whose next-token distribution ignores the input: p(t) = exp(-k bytes(t)).

    The final LayerNorm's weight is zeroed and its bias is e_0, so the last hidden state is
    e_0 for every input and the logits are column 0 of the output head. Byte-level BPE
    tokens are strings of one character per byte. The end-of-text token takes the remaining
    mass; it is never scored here (one text, no end-of-text after it).
    """
    vocab = tok.backend_tokenizer.get_vocab()
    model = tiny_model(arch, vocab=len(vocab))
    logits = torch.empty(len(vocab), dtype=torch.float64)
    for token, index in vocab.items():
        logits[index] = -nats_per_byte * len(token)
    eot = tok.convert_tokens_to_ids(EOT)
    logits[eot] = -math.inf
    logits[eot] = math.log1p(-torch.exp(logits).sum().item())
    final_norm = model.base_model.get_submodule({"gpt2": "ln_f", "neox": "final_layer_norm"}[arch])
    with torch.no_grad():
        final_norm.weight.zero_()
        final_norm.bias.zero_()
        final_norm.bias[0] = 1.0
        model.get_output_embeddings().weight[:, 0] = logits.float()
    return model


@pytest.mark.parametrize("arch", ["gpt2", "neox"])
def test_bits_per_byte_do_not_depend_on_the_tokenizer(arch: str, toks: dict,
                                                      tmp_path: Path) -> None:
    k = 6.0  # nats per byte, so exactly 6 / ln 2 bits per byte
    results = {}
    for vocab, tok in toks.items():
        folder = tmp_path / f"{arch}-{vocab}"
        known_cost_model(arch, tok, k).save_pretrained(folder)
        tok.save_pretrained(folder)
        loaded = load(resolve(str(folder)))  # through save_pretrained and from_pretrained
        results[vocab] = evaluate_text(loaded.model, loaded.tokenizer, TEXT, context=16,
                                       eos_after_last=False)
    a, b = results[300], results[700]
    assert a.bytes == b.bytes == len(TEXT.encode("utf-8"))
    assert a.tokens > 1.3 * b.tokens  # the larger vocabulary: fewer, longer tokens
    assert a.val_loss < 0.8 * b.val_loss  # so per-token losses are not comparable
    assert a.val_bpb == pytest.approx(k / math.log(2), rel=1e-5)
    assert b.val_bpb == pytest.approx(k / math.log(2), rel=1e-5)


def test_without_bos_or_eos_the_first_token_and_its_bytes_are_left_out(toks: dict) -> None:
    k = 6.0
    bare = tokenizer(300, special=False)
    assert bare.bos_token_id is None and bare.eos_token_id is None
    model = known_cost_model("gpt2", toks[300], k)
    result = evaluate_text(model, bare, TEXT, context=16)
    stream = encode_text(bare, TEXT)
    first = bare.convert_ids_to_tokens(stream.ids[0])
    assert result.tokens == len(stream.ids) - 1
    assert result.bytes == len(TEXT.encode("utf-8")) - len(first)
    assert "unscored" in result.first_token
    assert result.val_bpb == pytest.approx(k / math.log(2), rel=1e-5)


def test_documents_end_with_eos_and_are_prefixed_once(toks: dict) -> None:
    tok = toks[300]
    stream = encode_text(tok, ["ab cd", "ef"])
    ids = [*tok("ab cd", add_special_tokens=False)["input_ids"], 0,
           *tok("ef", add_special_tokens=False)["input_ids"], 0]
    assert stream.ids == [0, *ids]  # prefix <|endoftext|>, then doc EOS doc EOS
    assert stream.bytes == 7  # end-of-text markers count 0 bytes


def test_counts_tied_untied_and_from_the_config_alone() -> None:
    gpt2 = tiny_model("gpt2", vocab=300, n_ctx=64)
    counts = count_params(gpt2)
    assert counts == gpt2_count_params(gpt2)  # the sweep's own GPT-2 counts, every field
    assert counts == counts_from_config(gpt2.config)  # no weights needed (meta device)
    neox = tiny_model("neox", vocab=300, n_ctx=64)
    c = count_params(neox)
    total = sum(p.numel() for p in neox.parameters())
    assert c.params == total
    # Untied: both the input embedding and the output head are embedding parameters
    # (Pythia's convention), and the head is a matmul.
    assert c.params_non_embedding == total - 2 * 300 * 16
    two_d = sum(p.numel() for p in neox.parameters() if p.dim() == 2)
    assert c.params_matmul == two_d - 300 * 16


# --- a sweep's own runs ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sweep")
    spec = sweep_dict(str(write_corpus(root)), schedule="cosine")
    spec["budget"]["tokens"] = [3072]
    spec["models"].append({"name": "b", "n_layer": 1, "n_embd": 32, "n_head": 2})
    (root / "tiny.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = sweep_in_process(root / "tiny.yaml", root / "out", root / "cache")
    assert result.exit_code == 0, result.output
    out = root / "out" / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCALECLI_CACHE", str(root / "cache"))  # the sweep's tokenised data
        data = sweep_heldout(out)
    return {"out": out, "rows": read_rows(out / "results.csv"), "data": data}


def test_a_sweeps_saved_runs_give_back_their_val_loss(sweep: dict) -> None:
    assert len(sweep["rows"]) == 2
    for row in sweep["rows"]:
        result, loaded = evaluate_sweep_run(sweep["out"], row["run_id"], sweep["data"])
        assert abs(result.val_loss - float(row["val_loss"])) < 1e-4
        assert abs(result.val_bpb - float(row["val_bpb"])) < 1e-4
        assert result.tokens == sweep["data"].val.size - 1
        counts = loaded.counts
        assert (counts.params, counts.params_non_embedding, counts.params_matmul) == (
            int(row["params"]), int(row["params_non_embedding"]), int(row["params_matmul"]))


def test_the_held_out_text_tokenizes_back_to_the_sweeps_stream(sweep: dict) -> None:
    data = sweep["data"]
    row = sweep["rows"][0]
    loaded = load(resolve(f"runs/{row['run_id']}", sweep["out"]))
    docs, whole = heldout_docs(data)
    stream = encode_text(loaded.tokenizer, docs, eos_after_last=whole)
    assert stream.ids[1:] == data.val.tolist()  # after the <|endoftext|> prefix
    # The whole text scored (its first token too): the sweep's bytes plus the first token's.
    first = len(loaded.tokenizer.decode([int(data.val[0])]).encode("utf-8"))
    assert stream.bytes == data.val_bytes + first


def test_any_checkpoint_on_a_sweeps_held_out_text(sweep: dict, toks: dict,
                                                  tmp_path: Path) -> None:
    data, row = sweep["data"], sweep["rows"][0]
    own, _ = evaluate_on_sweep(f"runs/{row['run_id']}", sweep["out"], data)
    assert own.val_loss == pytest.approx(float(row["val_loss"]), abs=1e-4)  # the sweep's path
    # The same run with overlapping windows goes through the text: every token, the first
    # one after the <|endoftext|> prefix (a barely trained model gains little from the
    # extra context), so nearly the sweep's bits per byte.
    strided, _ = evaluate_on_sweep(f"runs/{row['run_id']}", sweep["out"], data, stride=8)
    assert strided.tokens == data.val.size and strided.stride == 8
    assert strided.bytes > data.val_bytes
    assert strided.val_bpb == pytest.approx(own.val_bpb, rel=0.02)
    assert strided.nll != pytest.approx(own.nll, rel=1e-6)
    # A model with another tokenizer and context, on the same text: 6 nats per byte.
    folder = tmp_path / "known"
    known_cost_model("neox", toks[700], 6.0).save_pretrained(folder)
    toks[700].save_pretrained(folder)
    other, _ = evaluate_on_sweep(str(folder), sweep["out"], data)
    assert other.context == 64 and other.tokens != strided.tokens
    assert other.bytes == strided.bytes  # the same text, scored whole
    # Every document's <|endoftext|> costs a little (it takes the mass left over).
    assert 6.0 / math.log(2) < other.val_bpb < 1.05 * 6.0 / math.log(2)


# --- bad input: one line each -------------------------------------------------------------

def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


def test_bad_references_say_what_is_wrong(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ScaleError) as error:
        resolve(str(tmp_path / "missing"))
    assert "no such folder" in one_line(error)
    with pytest.raises(ScaleError) as error:
        resolve("EleutherAI/pythia-70m")
    assert "hf:EleutherAI/pythia-70m" in one_line(error)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScaleError) as error:
        resolve(str(tmp_path / "empty"))
    assert "no config.json" in one_line(error)
    with pytest.raises(ScaleError) as error:
        resolve("hf:")
    assert "hf:ORG/NAME" in one_line(error)
    failed = tmp_path / "runs" / "x-failed"  # a run folder without weights
    failed.mkdir(parents=True)
    (failed / "run.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ScaleError) as error:
        resolve("runs/x-failed", tmp_path)
    assert "no saved model" in one_line(error)

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ScaleError) as error:
        load(resolve("hf:scalecli-tests/not-cached"))
    assert "not in the local Hugging Face cache" in one_line(error)
    assert "HF_HUB_OFFLINE" in str(error.value)


def test_an_encoder_is_not_a_causal_lm(tmp_path: Path) -> None:
    from transformers import BertConfig

    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=32, vocab_size=100).save_pretrained(tmp_path)
    with pytest.raises(ScaleError) as error:
        load(resolve(str(tmp_path)))
    assert "not a causal LM" in one_line(error)


def test_a_model_too_large_for_the_device_is_a_one_line_reason(tmp_path: Path,
                                                                 monkeypatch) -> None:
    _config("neox", 300, 64).save_pretrained(tmp_path)  # a config, no weights at all
    monkeypatch.setattr(pretrained, "free_bytes", lambda device: 100_000)
    with pytest.raises(TooLarge) as error:  # raised before any weight is read
        load(resolve(str(tmp_path)))
    assert "too large for cpu" in one_line(error) and "GiB free" in str(error.value)


def test_other_bad_inputs(toks: dict, tmp_path: Path) -> None:
    model = tiny_model("gpt2", n_ctx=16)
    with pytest.raises(ScaleError) as error:
        score_ids(model, list(range(40)), context=8, stride=9)
    assert "stride" in one_line(error)
    with pytest.raises(ScaleError) as error:
        evaluate_text(model, toks[300], TEXT, context=32)
    assert "longer than the model's 16" in one_line(error)

    class SlowTokenizer:  # a tokenizer with no fast version and no BOS/EOS
        is_fast = False
        bos_token_id = eos_token_id = None

    with pytest.raises(ScaleError) as error:
        encode_text(SlowTokenizer(), TEXT)
    assert "no fast version" in one_line(error)
    small = tiny_model("gpt2", vocab=100)
    small.save_pretrained(tmp_path)
    toks[300].save_pretrained(tmp_path)
    with pytest.raises(ScaleError) as error:
        load(resolve(str(tmp_path)))
    assert "another model" in one_line(error)
