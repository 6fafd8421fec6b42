"""A local folder of files is local data, cut into documents like a glob of its files; a
folder laid out as a dataset repository still goes to load_dataset; the sweep says which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.errors import ScaleError
from scalecli.sweep.data import load_text
from scalecli.sweep.sources import is_local, reading, repository_sign
from scalecli.sweep.spec import DataSpec

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "my",
         "cat", "sat", "on", "our", "old", "mat"]


def write_folder(folder: Path, files: int = 3, paragraphs: int = 6) -> list[str]:
    """Files of several paragraphs each, every paragraph several lines long."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for f in range(files):
        paras = [f"P{f}-{i} " + "\n".join(" ".join(WORDS[(i + j + k) % len(WORDS)]
                                                   for k in range(9)) for j in range(3))
                 for i in range(paragraphs)]
        (folder / f"part{f}.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
        docs += paras
    return docs


def test_a_folder_of_txt_is_read_by_paragraph_like_its_glob(tmp_path: Path) -> None:
    docs = write_folder(tmp_path / "texts")
    (tmp_path / "texts" / "notes.md").write_text("not text data\n")  # other files: ignored
    spec = DataSpec(dataset=str(tmp_path / "texts"), val_frac=0.2)
    assert is_local(spec.dataset)
    train, val = load_text(spec)
    glob = load_text(DataSpec(dataset=str(tmp_path / "texts" / "**" / "*.txt"), val_frac=0.2))
    assert (train, val) == glob
    assert [d.strip() for d in train + val] == docs
    # Held-out documents are whole paragraphs (each of three lines), not single lines.
    assert all(d.startswith("P2-") and d.strip().count("\n") == 2 for d in val)


def test_a_jsonl_folder_gives_what_its_files_give(tmp_path: Path) -> None:
    folder = tmp_path / "j"
    folder.mkdir()
    docs = [f"document {i} " + " ".join(WORDS) for i in range(10)]
    (folder / "a.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    assert load_text(DataSpec(dataset=str(folder))) == \
        load_text(DataSpec(dataset=str(folder / "a.jsonl")))


@pytest.mark.parametrize(("layout", "sign"), [
    ({"README.md": "---\nconfigs:\n- config_name: default\n---\n# Card\n"}, "dataset card"),
    ({"data/train.parquet": None}, "data/ folder"),
    ({"loader.py": "# a loading script\n"}, "loading script"),
])
def test_a_dataset_repository_folder_still_goes_to_load_dataset(
        tmp_path: Path, layout: dict[str, str | None], sign: str) -> None:
    repo = tmp_path / "repo"
    write_folder(repo)
    for name, text in layout.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            import pandas as pd

            pd.DataFrame({"text": ["a b c"] * 4}).to_parquet(repo / name)
        else:
            (repo / name).write_text(text)
    assert sign in (repository_sign(str(repo)) or "")
    assert not is_local(str(repo))
    said = reading(DataSpec(dataset=str(repo)))
    assert "load_dataset" in said and sign in said


def test_a_plain_readme_does_not_make_a_repository(tmp_path: Path) -> None:
    write_folder(tmp_path / "t")
    (tmp_path / "t" / "README.md").write_text("# My corpus\nScraped in 2024.\n")
    assert repository_sign(str(tmp_path / "t")) is None
    said = reading(DataSpec(dataset=str(tmp_path / "t")))
    assert "local folder, 3 .txt file(s)" in said and "paragraph" in said


@pytest.mark.parametrize(("files", "needle"), [
    ({}, "has no .txt, .jsonl or .parquet files"),
    ({"a.txt": "x\n", "b.jsonl": '{"text": "y"}\n'}, "mix of file types"),
])
def test_folder_errors_are_one_clear_line(tmp_path: Path, files: dict[str, str],
                                          needle: str) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(ScaleError, match=needle):
        load_text(DataSpec(dataset=str(folder)))


def test_sweep_data_folder_then_bare_fit_and_report(tmp_path: Path, monkeypatch) -> None:
    """The first hour: sweep a folder of text with --data and --set, then `fit` and `report`
    with no argument find that sweep and say so."""
    monkeypatch.chdir(tmp_path)
    write_folder(Path("corpus"), files=4, paragraphs=10)
    runner = CliRunner()
    tiny = ["models=[{name: a, n_layer: 1, n_embd: 16, n_head: 2},"
            "{name: b, n_layer: 1, n_embd: 24, n_head: 2},"
            "{name: c, n_layer: 1, n_embd: 32, n_head: 2}]",
            "train.lr=3e-3", "train.noise_seeds=[]", "budget.tokens=2048",
            "train.batch_tokens=256", "train.eval_points=1", "data.tokenizer=bpe:280",
            "data.context=16", "eval.tokens=400", "runtime.device=cpu", "runtime.compile=off"]
    args = ["sweep", "--data", "corpus"] + [a for s in tiny for a in ("--set", s)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "local folder, 4 .txt file(s), one document per paragraph" in \
        " ".join(result.stdout.split())
    data = json.loads(Path("out/default-corpus/data.json").read_text())
    assert "paragraph" in data["reading"]
    fitted = runner.invoke(app, ["fit", "--bootstrap", "50"])
    assert fitted.exit_code == 0, fitted.output
    assert "using out/default-corpus" in fitted.stderr
    reported = runner.invoke(app, ["report"])
    assert reported.exit_code == 0, reported.output
    assert "using out/default-corpus" in reported.stderr
    assert Path("out/default-corpus/report/report.html").exists()
