"""One source of defaults: the code's dataclass defaults, `sweeps/default.yaml` and the docs'
annotated sweep file (docs/reference/sweep-example.md) say the same thing, and a change to one
without the others fails here.

A sweep file that leaves a setting out gets the code's default, so a default.yaml that
disagreed with the code would make "the default sweep" and "a sweep with the defaults" two
different recipes (it did: lr, lr_rule, lr_ref_width, batch_tokens, eval_points and
eval.tokens once differed).
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from scalecli.sweep.parse import SECTIONS, parse_spec, read_yaml

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("data", "train", "eval", "runtime")  # the sections that have defaults


def readme_example() -> dict:
    text = (ROOT / "docs" / "reference" / "sweep-example.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)  # the first block: every setting
    assert block, "docs/reference/sweep-example.md has no yaml block"
    return yaml.safe_load(block.group(1))


def defaults_with(raw: dict) -> dict:
    """The sweep's settings sections, parsed, for a file with raw's name, models and budget."""
    return {key: getattr(parse_spec(raw), key) for key in SETTINGS}


def bare(raw: dict) -> dict:
    return {key: raw[key] for key in ("name", "models", "budget")}


def test_default_yaml_is_the_code_defaults() -> None:
    raw = read_yaml(ROOT / "sweeps" / "default.yaml")
    assert defaults_with(raw) == defaults_with(bare(raw))


def test_readme_example_is_the_code_defaults() -> None:
    raw = readme_example()
    assert defaults_with(raw) == defaults_with(bare(raw))


@pytest.mark.parametrize("section", SETTINGS)
def test_readme_example_documents_every_setting(section: str) -> None:
    example = readme_example()[section]
    missing = [f.name for f in fields(SECTIONS[section]) if f.name not in example]
    assert not missing, f"the annotated sweep file leaves out {section}: {missing}"


def test_the_check_fails_on_drift() -> None:
    raw = read_yaml(ROOT / "sweeps" / "default.yaml")
    drifted = {**raw, "train": {**raw["train"], "batch_tokens": 4096}}
    assert defaults_with(drifted) != defaults_with(bare(drifted))
