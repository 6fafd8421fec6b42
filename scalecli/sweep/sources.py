"""Where a sweep's text comes from: which local files, or which loader, and in words.

A dataset is the embedded corpus, local files (a file, a glob, or a plain folder of
files), a dataset repository (a hub id, or a local folder laid out as one), read by
`datasets.load_dataset`. A plain folder and the glob FOLDER/**/*.txt give the same files,
so the same documents and the same data fingerprint.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from scalecli.errors import ScaleError
from scalecli.sweep.spec import DataSpec

LOCAL_BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def folder_files(folder: str) -> list[str]:
    """A plain folder's .txt/.jsonl/.parquet files at any depth, in path order, as the
    glob FOLDER/**/*.SUFFIX lists them; hidden files and folders are skipped."""
    root = Path(folder)
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in LOCAL_BUILDERS
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    if not files:
        raise ScaleError(f"data.dataset: folder {folder} has no .txt, .jsonl or .parquet files")
    return sorted(str(p) for p in files)


def local_files(pattern: str) -> list[str]:
    """The files of a local dataset (a file, a glob or a plain folder), all of one kind."""
    if os.path.isdir(os.path.expanduser(pattern)):
        files = folder_files(os.path.expanduser(pattern))
    else:
        files = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise ScaleError(f"data.dataset: no file matches '{pattern}'; check the path or glob")
    if all(os.path.getsize(f) == 0 for f in files):
        raise ScaleError(f"data.dataset: '{pattern}' is empty (0 bytes); point it at text")
    suffixes = {Path(f).suffix.lower() for f in files}
    unknown = suffixes - set(LOCAL_BUILDERS)
    if unknown:
        raise ScaleError(f"data.dataset: cannot read {sorted(unknown)[0]} files; "
                         "use .txt, .jsonl or .parquet")
    if len({LOCAL_BUILDERS[s] for s in suffixes}) > 1:
        kinds = ", ".join(sorted(suffixes))
        raise ScaleError(f"data.dataset: mix of file types ({kinds}) in '{pattern}'; point it "
                         "at one kind of file, e.g. a glob like DIR/**/*.txt")
    return files


def repository_sign(folder: str) -> str | None:
    """Why a local folder is a dataset repository for `load_dataset`, or None when it is a
    plain folder of files (read like a glob of them).

    The signs are those of a dataset repository's layout on the hub: a dataset card (a
    README.md that opens with YAML metadata, where a repository declares its configs and
    splits), a data/ folder (where the hub keeps its files, split by file name), or a
    loading script.
    """
    root = Path(os.path.expanduser(folder))
    scripts = sorted(root.glob("*.py"))
    if scripts:
        return f"it has a loading script, {scripts[0].name}"
    readme = root / "README.md"
    try:
        if readme.is_file() and readme.read_text(encoding="utf-8").lstrip().startswith("---"):
            return "its README.md is a dataset card"
    except (OSError, UnicodeDecodeError):
        pass
    if (root / "data").is_dir():
        return "it has a data/ folder"
    return None


def is_local(dataset: str) -> bool:
    """Local files, globs and plain folders of files. A folder laid out as a dataset
    repository (see `repository_sign`) goes to `load_dataset` like a hub id."""
    path = os.path.expanduser(dataset)
    if os.path.isdir(path):
        return repository_sign(path) is None
    return any(c in dataset for c in "*?[") or Path(dataset).suffix.lower() in LOCAL_BUILDERS \
        or os.path.exists(path)


DOCUMENTS = {"text": "one document per paragraph (text between blank lines)",
             "json": "one document per JSON record", "parquet": "one document per row"}


def reading(spec: DataSpec) -> str:
    """How `load_text` reads `spec.dataset`, in words: which files, or which loader, and
    what a document is. A sweep prints it, since a folder can be read two ways."""
    if spec.dataset.startswith("embedded:"):
        return f"{spec.dataset}: the embedded corpus, whole plays held out"
    held = (f"split '{spec.val_split}' held out" if spec.val_split
            else f"the last {spec.val_frac:.0%} of documents held out")
    if is_local(spec.dataset):
        files = local_files(spec.dataset)
        builder = LOCAL_BUILDERS[Path(files[0]).suffix.lower()]
        kind = "folder" if os.path.isdir(os.path.expanduser(spec.dataset)) else "files"
        column = "" if builder == "text" else f" (column '{spec.text_column}')"
        return (f"{spec.dataset}: local {kind}, {len(files)} {Path(files[0]).suffix.lower()} "
                f"file(s), {DOCUMENTS[builder]}{column}, the last {spec.val_frac:.0%} of "
                "documents held out")
    sign = repository_sign(spec.dataset) if os.path.isdir(
        os.path.expanduser(spec.dataset)) else None
    if sign:
        return (f"{spec.dataset}: a dataset repository, read by datasets.load_dataset because "
                f"{sign} (split '{spec.split}', {held}); for its files as plain local "
                "documents, point data.dataset at a glob such as DIR/**/*.txt")
    return f"{spec.dataset}: a Hugging Face hub dataset (split '{spec.split}', {held})"
