"""`scalecli init`: a commented sweep file to start from.

The text is the packaged default sweep (sweeps/default.yaml, whose comments say what each
value is and why), named after the new file so that its results get their own folder,
under a header that says how to point it at your data and run it.
"""

from __future__ import annotations

import re
from pathlib import Path

from scalecli.errors import ScaleError
from scalecli.results import atomic_write_text
from scalecli.sweep.parse import default_sweep_path

HEADER = """\
# A sweep file made by `scalecli init`: the default sweep, to edit.
# data.dataset takes embedded:shakespeare, a Hugging Face dataset id (user/name), a file,
# a glob (texts/*.txt) or a folder of .txt, .jsonl or .parquet files (.txt: one document
# per paragraph). Then:
#   scalecli sweep {file} --dry-run    # the runs, their FLOPs and estimated time
#   scalecli sweep {file}              # train; results in out/{name}/results.csv
#   scalecli fit && scalecli report    # the last sweep's fit.json and report
# Any value can be changed for one command: --set train.lr=3e-3 --set models=[s1,s2].

"""


def starter_text(name: str, file: str) -> str:
    """The default sweep's text, named `name`, under the header."""
    text = default_sweep_path().read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^name: .*$", f"name: {name}", text, count=1)
    if not count:  # the packaged file always has a name; this guards an edit of it
        raise ScaleError("the packaged sweeps/default.yaml has no name; reinstall scalecli")
    return HEADER.format(file=file, name=name) + text


def write_starter(path: Path, force: bool = False) -> Path:
    """Write the starter sweep to `path`; an existing file only with `force`."""
    if path.is_dir():
        raise ScaleError(f"{path} is a folder; give a file name like sweep.yaml")
    if path.exists() and not force:
        raise ScaleError(f"{path} already exists; pass --force to overwrite it")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "sweep"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, starter_text(name, str(path)))
    except OSError as error:
        raise ScaleError(f"cannot write {path}: {error.strerror or error}") from None
    return path
