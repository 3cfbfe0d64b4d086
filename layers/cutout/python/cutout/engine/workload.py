"""Pipeline runs in one process: how many at once, and memory handed back when idle.

Peak memory grows with the number of images being processed at the same moment
(README, "Memory"): `Workload.run` lets at most `max_concurrent` pipeline runs
proceed and makes the rest wait their turn, so a burst of N clients costs the
peak of `max_concurrent` requests, not N. More runs at once would not be faster:
each already uses every CPU the process may use (onnxruntime and the banded steps).

The allocator keeps freed buffers for the next request (cpus.tune_allocator),
which is what makes back-to-back requests fast; once no run has been active for
`trim_idle_seconds`, that memory goes back to the OS (`release`: in a server,
each loaded model's onnxruntime arena and then the allocator's free memory,
tiers.idle_release), so an idle server returns to below its warmed-up size.

Back-pressure: waiting is bounded too. `estimated_wait()` is what a run
arriving now would wait for a slot: the runs ahead of it (running and waiting,
beyond the free slots) times the mean of recent runs' durations, shared by
the slots. A synchronous request whose estimate is over `max_queue_seconds`
(CUTOUT_MAX_QUEUE_SECONDS) is refused at once with `Overloaded` (503,
Retry-After: the estimate), before it is charged (`admit`): 32 clients on two
slots had waited up to a minute (p99 62 s) with no hint to back off. Work
already accepted (a job) waits its turn as before.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from typing import Callable, TypeVar

from ..errors import Unavailable
from . import cpus

T = TypeVar("T")
# Weight of the newest run in the mean duration (an exponential moving average: about the
# last ten runs count).
RECENT = 0.2


class Overloaded(Unavailable):
    """A cut would wait longer for a slot than CUTOUT_MAX_QUEUE_SECONDS: refused at once, not
    charged; 503 with Retry-After (the estimated wait, seconds)."""

    def __init__(self, wait: float, bound: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(f"The service is busy: a new image would wait about {seconds} s for its "
                         f"turn, over the {bound:g} s this server queues. Nothing was charged; "
                         f"retry after {seconds} seconds.", headers={"Retry-After": str(seconds)})


class Workload:
    """A bounded number of concurrent pipeline runs, and a trim after each idle spell."""

    def __init__(self, max_concurrent: int, trim_idle_seconds: float,
                 release: Callable[[], object] = cpus.release_memory,
                 max_queue_seconds: float = -1.0) -> None:
        """max_concurrent >= 1 runs at once; trim_idle_seconds < 0 never trims;
        max_queue_seconds < 0 never refuses (`admit`)."""
        self.slots = max(1, max_concurrent)
        self._slots = threading.BoundedSemaphore(self.slots)
        self._lock = threading.Lock()
        self._active = 0
        self._waiting = 0
        self._timer: threading.Timer | None = None
        self.trim_idle_seconds = trim_idle_seconds
        self.max_queue_seconds = max_queue_seconds
        self._release = release
        self.trims = 0  # how many times memory was handed back
        self.mean_seconds = 0.0  # recent runs' mean duration (0 until one has run)

    def estimated_wait(self) -> float:
        """Seconds a run arriving now would wait for a slot (0 while one is free)."""
        with self._lock:
            return self._wait()

    def _wait(self) -> float:
        """`estimated_wait`, with the lock held."""
        ahead = self._active + self._waiting - self.slots + 1
        return max(0, ahead) * self.mean_seconds / self.slots

    def admit(self) -> "Place | None":
        """A place in the queue for a new synchronous run, or Overloaded at once when its
        estimated wait is over `max_queue_seconds` (None when the bound is off: < 0).

        The place counts as waiting from now (so a burst arriving together is judged one
        by one, not all against the same short queue) until `Place.run` takes it to a
        slot or `Place.cancel` gives it up. Raises Overloaded (Unavailable: 503,
        Retry-After).
        """
        if self.max_queue_seconds < 0:
            return None
        with self._lock:
            wait = self._wait()
            if wait > self.max_queue_seconds:
                raise Overloaded(wait, self.max_queue_seconds)
            self._waiting += 1
        return Place(self)

    def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """fn(*args, **kwargs) in this (worker) thread once a slot is free; blocks until then."""
        with self._lock:
            self._waiting += 1
        return self._run(functools.partial(fn, *args, **kwargs))

    def _run(self, fn: Callable[[], T]) -> T:
        """fn() once a slot is free; the caller has counted it as waiting."""
        try:
            self._slots.acquire()
        except BaseException:
            with self._lock:
                self._waiting -= 1
            raise
        with self._lock:
            self._waiting -= 1
            self._active += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        started = time.monotonic()
        try:
            return fn()
        finally:
            took = time.monotonic() - started
            with self._lock:
                self.mean_seconds = (took if self.mean_seconds == 0
                                     else self.mean_seconds + RECENT * (took - self.mean_seconds))
                self._active -= 1
                if self._active == 0 and self.trim_idle_seconds >= 0:
                    self._timer = threading.Timer(self.trim_idle_seconds, self._trim_if_idle)
                    self._timer.daemon = True
                    self._timer.start()
            self._slots.release()

    def _trim_if_idle(self) -> None:
        with self._lock:
            if self._active or self._timer is None or self._timer is not threading.current_thread():
                return
            self._timer = None
            self.trims += 1
        # Outside the lock: a run arriving meanwhile does not wait for it (releasing a
        # model's arena is one model pass; what a run is using is never released).
        self._release()


class Place:
    """A synchronous run's place in a Workload's queue (`Workload.admit`): `run` it once, or
    `cancel` it (a no-op once run)."""

    def __init__(self, workload: Workload) -> None:
        self._workload = workload
        self._held = True

    def run(self, fn: Callable[[], T]) -> T:
        """fn() in a slot, like `Workload.run`; the place is used up."""
        with self._workload._lock:
            if not self._held:
                self._workload._waiting += 1
            self._held = False
        return self._workload._run(fn)

    def cancel(self) -> None:
        """Give the place up (the run was refused or failed before it reached the queue)."""
        with self._workload._lock:
            if self._held:
                self._held = False
                self._workload._waiting -= 1
