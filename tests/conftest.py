"""Shared test setup: offline, and one scalecli cache per test session.

The cache holds the trained tokenizer and the tokenised corpus, keyed by content, so
the tests that run real sweeps on the embedded corpus tokenise it once, not per test.
"""

from __future__ import annotations

import os

import pytest

from scalecli.threads import thread_defaults

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The CLI's thread settings (scalecli/threads.py: one BLAS thread; on a busy machine, torch's
# threads quick to sleep): the tests import numpy and torch before the CLI does.
os.environ.update(thread_defaults(os.environ))


@pytest.fixture(scope="session", autouse=True)
def _scalecli_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    if "SCALECLI_CACHE" not in os.environ:
        os.environ["SCALECLI_CACHE"] = str(tmp_path_factory.mktemp("scalecli-cache"))


@pytest.fixture(scope="module")
def ray_here():
    """One real Ray on this machine (2 CPUs, a small object store) for a test module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage reports
    ray = pytest.importorskip("ray")  # installed by the test extra; optional for users
    ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()
