"""The runtime rule: which dtype and how many threads a sweep trains with."""

from __future__ import annotations

import pytest
import torch

from scalecli.errors import ScaleError
from scalecli.sweep import hardware


@pytest.mark.parametrize("native,expected", [(True, torch.bfloat16), (False, None)])
def test_auto_dtype_on_cpu_is_bf16_exactly_when_the_cpu_has_bf16_matmuls(
        monkeypatch: pytest.MonkeyPatch, native: bool, expected: torch.dtype | None) -> None:
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    rt = hardware.resolve_runtime("cpu", "auto", threads=3)
    assert rt.autocast_dtype == expected and rt.threads == 3
    assert rt.dtype_name == ("bf16" if native else "fp32")


def test_explicit_dtypes_override_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert hardware.resolve_runtime("cpu", "bf16", None).autocast_dtype == torch.bfloat16
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert hardware.resolve_runtime("cpu", "fp32", None).autocast_dtype is None


def test_default_threads_are_the_physical_cores() -> None:
    assert hardware.resolve_runtime("cpu", "fp32", None).threads == hardware.physical_cores() >= 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_clear_error() -> None:
    with pytest.raises(ScaleError, match="no CUDA GPU"):
        hardware.resolve_runtime("cuda", "auto", None)
