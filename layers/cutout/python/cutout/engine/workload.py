"""Pipeline runs in one process: how many at once, and memory handed back when idle.

Peak memory grows with the number of images being processed at the same moment
(README, "Memory"): `Workload.run` lets at most `max_concurrent` pipeline runs
proceed and makes the rest wait their turn, so a burst of N clients costs the
peak of `max_concurrent` requests, not N. More runs at once would not be faster:
each already uses every CPU the process may use (onnxruntime and the banded steps).

The allocator keeps freed buffers for the next request (cpus.tune_allocator),
which is what makes back-to-back requests fast; once no run has been active for
`trim_idle_seconds`, that memory goes back to the OS (cpus.release_memory), so an
idle server returns to about its warmed-up size.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

from . import cpus

T = TypeVar("T")


class Workload:
    """A bounded number of concurrent pipeline runs, and a trim after each idle spell."""

    def __init__(self, max_concurrent: int, trim_idle_seconds: float,
                 release: Callable[[], object] = cpus.release_memory) -> None:
        """max_concurrent >= 1 runs at once; trim_idle_seconds < 0 never trims."""
        self._slots = threading.BoundedSemaphore(max(1, max_concurrent))
        self._lock = threading.Lock()
        self._active = 0
        self._timer: threading.Timer | None = None
        self.trim_idle_seconds = trim_idle_seconds
        self._release = release
        self.trims = 0  # how many times memory was handed back

    def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """fn(*args, **kwargs) in this (worker) thread once a slot is free; blocks until then."""
        with self._slots:
            with self._lock:
                self._active += 1
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._active -= 1
                    if self._active == 0 and self.trim_idle_seconds >= 0:
                        self._timer = threading.Timer(self.trim_idle_seconds, self._trim_if_idle)
                        self._timer.daemon = True
                        self._timer.start()

    def _trim_if_idle(self) -> None:
        with self._lock:
            if self._active or self._timer is None or self._timer is not threading.current_thread():
                return
            self._timer = None
            self._release()
            self.trims += 1
