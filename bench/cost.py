"""Lambda cost per image from measured times.

Prices: AWS Lambda, x86, us-east-1, first tier (up to 6 billion GB-s a month),
as published on aws.amazon.com/lambda/pricing (checked 2024-11; unchanged since
the move to 1 ms billing in December 2020). Free tier ignored.

CPU on Lambda is proportional to memory: 1,769 MB is one vCPU, 3,008 MB about
1.7, 5,307 MB three. Only two cores exist here, so the time at each size is
modelled from times measured with 1 and 2 CPUs:
  1769 MB: the 1-CPU time; 3008 MB: 1-CPU time + 0.7 x (2-CPU time - 1-CPU time);
  5307 MB: the 2-CPU time (a third vCPU is not measured; an optimistic cost for it would
  be lower, a realistic one for a 2-thread-bound workload the same).
"""
from __future__ import annotations

PRICE_GB_SECOND = 0.0000166667
PRICE_REQUEST = 0.20 / 1_000_000
PRICE_DATE = "2024-11"
MEMORY_SIZES_MB = (1769, 3008, 5307)


def modelled_seconds(memory_mb: int, one_cpu: float, two_cpu: float) -> float:
    if memory_mb <= 1769:
        return one_cpu * 1769 / memory_mb  # a fraction of a vCPU: proportionally slower
    if memory_mb <= 3008:
        vcpus = 1 + (memory_mb - 1769) / (3008 - 1769) * 0.7
        return one_cpu + (vcpus - 1) * (two_cpu - one_cpu)
    return two_cpu


def per_thousand(memory_mb: int, seconds: float) -> tuple[float, float]:
    """(GB-seconds, dollars) for 1,000 images taking `seconds` each at `memory_mb`."""
    gb_seconds = memory_mb / 1024 * seconds * 1000
    return gb_seconds, gb_seconds * PRICE_GB_SECOND + 1000 * PRICE_REQUEST


def cheapest(one_cpu: float, two_cpu: float, min_memory_mb: int) -> tuple[int, float]:
    """The memory size (>= what the request needs) with the lowest cost per 1,000 images.

    Below 1,769 MB time grows as memory shrinks, so GB-seconds stay flat; above
    it, cost grows unless the extra CPU speeds the request up in proportion.
    Ties go to the faster (larger) size.
    """
    best = None
    sizes = sorted({*range(max(128, min_memory_mb), 10241, 64), *MEMORY_SIZES_MB} - set(range(0, min_memory_mb)))
    for memory in sizes:
        dollars = per_thousand(memory, modelled_seconds(memory, one_cpu, two_cpu))[1]
        if best is None or dollars <= best[1] * (1 + 1e-6):
            best = (memory, dollars)
    return best
