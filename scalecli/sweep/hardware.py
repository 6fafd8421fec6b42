"""What the machine can do: device, threads, bf16 support and the measured matmul peak.

The peak is measured, not looked up in a table, so MFU means the same thing on any CPU
or GPU: the fraction of what this machine's own dense matmul reaches in this dtype.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import torch

from scalecli.errors import ScaleError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain fp32
    threads: int

    @property
    def dtype_name(self) -> str:
        return "bf16" if self.autocast_dtype == torch.bfloat16 else "fp32"


def physical_cores() -> int:
    """Physical cores available to this process: hyperthreads slow matmul-bound training."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    try:
        pairs = set()
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            physical = core = None
            for line in handle:
                if line.startswith("physical id"):
                    physical = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                    pairs.add((physical, core))
        if pairs:
            return max(1, min(available, len(pairs)))
    except OSError:
        pass
    return max(1, available)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 matmul instructions (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ScaleError("runtime.device is cuda but no CUDA GPU is visible; use --device cpu")
    return torch.device(name)


def resolve_runtime(device: str, dtype: str, threads: int | None) -> Runtime:
    """The device, autocast dtype and thread count that every run of a sweep uses.

    `dtype: auto` is bf16 autocast on CUDA GPUs with bf16 and on CPUs with native bf16
    matmuls, else fp32. A fixed rule, not a timing, so the same sweep always picks the
    same dtype, and one dtype for the whole ladder, so that no size sits on the other
    side of a precision change from its neighbours. On a 2-core AVX512-BF16 EPYC, bf16
    trained every default size faster than fp32 (1.27x at width 24 to 2.43x at 128,
    `python bench/train_throughput.py --bf16-check`), and the default sweep in fp32 and
    in bf16 reached the same held-out losses to within 0.017 nats, the size of rounding
    noise between two fp32 runs.
    """
    dev = resolve_device(device)
    if dtype == "fp32":
        autocast = None
    elif dtype == "bf16":
        if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ScaleError("runtime.dtype is bf16 but this GPU has no bf16; use dtype: fp32")
        autocast = torch.bfloat16
    elif dev.type == "cuda":
        autocast = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    else:
        autocast = torch.bfloat16 if cpu_has_native_bf16() else None
    return Runtime(dev, autocast, threads or physical_cores())


def apply_runtime(rt: Runtime) -> None:
    """Put the process in training shape: one torch thread per physical core, no other pool.

    The tokenizer's Rust thread pool has done its work by now (data is tokenised before
    the first run). Turning it off here keeps it from competing with torch's threads and
    from warning (or deadlocking) when torch.compile forks its compile workers.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if torch.get_num_threads() != rt.threads:
        torch.set_num_threads(rt.threads)
    if rt.device.type == "cpu":
        _keep_freed_memory()


@functools.cache
def _keep_freed_memory() -> None:
    """Let glibc reuse freed memory instead of returning it to the OS after every step.

    PyTorch's CPU allocator is plain malloc: a tensor over glibc's mmap threshold (at most
    32 MiB) is mmap'd and unmapped on free, so each step page-faults its large activations
    (logits, attention) back in, and the heap top is trimmed likewise. Serving everything
    from the heap and trimming only above 1 GiB of free top: L6 d384 bf16 step 1000 ms ->
    700 ms in a bare loop, and 6,517 -> 7,051 tok/s in bench/train_throughput.py (2-core
    EPYC). Numerics are unchanged; freed memory is kept for reuse instead of returned.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def should_compile(setting: str, rt: Runtime, flops: float) -> bool:
    """`compile: auto`: compile only a run long enough to repay the compile time.

    Measured on CPU (`bench/train_throughput.py --quick --compile-check s3`): 21.5 s to
    compile for 39.4 -> 38.2 ms/step, a 3% gain that repays itself only after ~12 min.
    On CUDA the gain is larger (fused kernels, fewer launches) and compile takes ~1 min.
    The run's length is estimated with `assumed_rate`.
    """
    if setting != "auto":
        return setting == "on"
    return flops / assumed_rate(rt) > (3600 if rt.device.type == "cpu" else 300)


def assumed_rate(rt: Runtime) -> float:
    """Training FLOP/s to plan with when none is measured: 40% of the matmul peak.

    Typical of mid-sized models; the tiny default sizes reach 7-35% on a 2-core CPU and a
    6-layer width-384 model about 65% (bench/train_throughput.py).
    """
    return 0.4 * matmul_peak(rt.device.type, rt.dtype_name, rt.threads)


@functools.cache
def matmul_peak(device_type: str, dtype_name: str, threads: int) -> float:
    """Dense matmul FLOP/s measured on this machine, in the given dtype (best of a few)."""
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    device = torch.device(device_type)
    n = 4096 if device_type == "cuda" else 1024
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        best = 0.0
        for _ in range(5):
            reps = 20 if device_type == "cuda" else 4
            _sync(device)
            start = time.perf_counter()
            for _ in range(reps):
                a @ b
            _sync(device)
            best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
        return best
    finally:
        torch.set_num_threads(previous)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
