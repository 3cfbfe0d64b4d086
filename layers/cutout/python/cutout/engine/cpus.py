"""The machine as this process may really use it: CPUs, and how memory comes back.

`os.cpu_count()` reports the host's cores; on Lambda and in containers the
process is allowed far fewer, and oversubscribed ONNX threads are slower.
`tune_allocator()` keeps the big per-request image buffers reusable.
"""
from __future__ import annotations

import ctypes
import math
import os
import platform
from pathlib import Path

MIB = 1024 * 1024
# Above this size glibc gives each allocation its own mmap(); 256 MB covers the
# largest buffer a 25-megapixel request makes (RGBA, 100 MB).
MMAP_THRESHOLD = 256 * MIB
TRIM_THRESHOLD = 512 * MIB  # free heap kept before memory is handed back to the OS
# malloc arenas (glibc's default: 8 per core). Each thread that frees a buffer keeps it
# in its own arena, and malloc_trim cannot return the top of a thread arena's heap, so
# a burst on many threads left GBs behind (bench/concurrency.py); two bound that.
ARENA_MAX = 2
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # mallopt() parameters, malloc.h


def _cgroup_quota() -> float | None:
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            if quota != "max":
                return int(quota) / int(period)
        v1q = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        v1p = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if v1q.exists() and v1p.exists():
            quota_us = int(v1q.read_text())
            if quota_us > 0:
                return quota_us / int(v1p.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus() -> int:
    """CPUs usable by this process: the smaller of its affinity set and cgroup quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def tune_allocator() -> bool:
    """Let large image buffers be reused between requests instead of re-mapped each time.

    glibc serves every allocation over its mmap threshold (32 MB at most by
    default; a 12 MP RGB array is 36 MB) with a fresh mmap() and unmaps it on
    free, so every request page-faults a few hundred MB of new zeroed memory:
    decoding a 12 MP JPEG took 84 ms instead of 26 ms, and the whole request
    ~30% longer (docs/performance.md). Raising the thresholds keeps those
    buffers in the heap for the next request. The price: peak RSS of a 12 MP
    request ~40 MB higher, and freed memory kept by the process instead of
    returned to the OS (on Lambda it is reserved anyway). A no-op without
    glibc, and when MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES already say otherwise.
    Arenas are limited to ARENA_MAX (unless MALLOC_ARENA_MAX or an arena_max
    tunable is set) so that what the process keeps does not multiply with the
    threads that served a burst; workload.Workload hands it back when idle.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return False
    if "MALLOC_ARENA_MAX" not in os.environ and "arena_max" not in os.environ.get("GLIBC_TUNABLES", ""):
        mallopt(_M_ARENA_MAX, ARENA_MAX)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_memory() -> bool:
    """Hand the allocator's free memory back to the OS now (glibc `malloc_trim(0)`).

    The raised trim threshold (`tune_allocator`) keeps up to 512 MB free in each
    malloc arena for the next request, and every thread that ran the pipeline may
    have its own arena, so after a burst of concurrent requests an idle process kept
    GBs. malloc_trim(0) returns the free pages of every arena (the top of the heap
    and, with madvise, free pages inside it). Returns False without glibc.
    """
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    return bool(trim(0))


# Instructions that multiply uint8 by int8 and add into int32 without saturating.
_X86_INT8_DOT = {"avx512_vnni", "avx_vnni"}


def exact_int8(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    """Whether onnxruntime's uint8 x int8 kernels are exact on this CPU.

    On x86 without VNNI, onnxruntime multiplies with VPMADDUBSW, whose 16-bit
    sums can saturate (onnxruntime's quantization guide warns of accuracy loss).
    The INT8 model's quality was measured with AVX512-VNNI, so there it runs;
    ARM's dot-product kernels accumulate in 32 bits. `cpuinfo`/`machine` are
    for tests; by default /proc/cpuinfo and the running machine are read.
    """
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i686", "x86"):
        return True
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return True  # cannot tell (not Linux): trust the variant, as onnxruntime does
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return bool(_X86_INT8_DOT & set(line.split(":", 1)[1].split()))
    return True
