"""How many CPUs this process may really use (affinity and cgroup quota).

`os.cpu_count()` reports the host's cores; on Lambda and in containers the
process is allowed far fewer, and oversubscribed ONNX threads are slower.
"""
from __future__ import annotations

import math
import os
from pathlib import Path


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
