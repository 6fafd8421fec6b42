"""Shared test setup: offline, and one scalecli cache per test session.

The cache holds the trained tokenizer and the tokenised corpus, keyed by content, so
the tests that run real sweeps on the embedded corpus tokenise it once, not per test.
"""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _scalecli_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    if "SCALECLI_CACHE" not in os.environ:
        os.environ["SCALECLI_CACHE"] = str(tmp_path_factory.mktemp("scalecli-cache"))
