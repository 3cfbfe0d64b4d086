"""Split per-pixel work on a large image into horizontal bands run on every CPU.

NumPy's ufuncs, Pillow's resampling and ISA-L's deflate release the GIL, so the
O(pixels) steps (shrinking the photo to the model's input, upsampling the matte,
decontaminating its edge, building the RGBA cut-out, encoding the PNG) scale
with threads: at 12 MP two bands took ~50 ms off a request, and the model's
input ~14 ms more (docs/performance.md).
Below `MIN_PIXELS` a thread hand-off costs more than it saves, and with one
usable CPU the work runs inline.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, TypeVar

from .cpus import available_cpus

MIN_PIXELS = 2_000_000
T = TypeVar("T")
_threads = 0  # handed in by use_threads(); 0: the CPUs this process may use


def use_threads(threads: int) -> None:
    """Set how many threads the banded steps use (CUTOUT_THREADS; 0: the usable CPUs).

    `model.load` hands in the model's thread count, so the model and the banded
    steps that follow it use the same CPUs; the engine reads no settings itself.
    """
    global _threads
    if threads != _threads:
        _threads = threads
        pool, _ = _pool()
        _pool.cache_clear()
        if pool is not None:
            pool.shutdown(wait=False)


@lru_cache(maxsize=1)
def _pool() -> tuple[ThreadPoolExecutor | None, int]:
    """One pool per process, as wide as `use_threads` said or the CPUs it may use (none for one)."""
    workers = _threads or available_cpus()
    if workers < 2:
        return None, 1
    return ThreadPoolExecutor(workers, thread_name_prefix="cutout-band"), workers


def split(height: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous row ranges (top, bottom) covering 0..height, as equal as possible."""
    parts = max(1, min(parts, height))
    edges = [round(i * height / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


def map_rows(work: Callable[[int, int], T], height: int, width: int) -> list[T]:
    """`work(top, bottom)` for each band of rows, top band first; in parallel when large.

    With one band (a small image, or one CPU) `work(0, height)` runs inline. A
    `work` that writes into a shared output must write only its own rows.
    """
    pool, workers = _pool()
    if pool is None or height * width < MIN_PIXELS:
        return [work(0, height)]
    futures = [pool.submit(work, top, bottom) for top, bottom in split(height, workers)]
    return [future.result() for future in futures]  # re-raises a band's exception here
