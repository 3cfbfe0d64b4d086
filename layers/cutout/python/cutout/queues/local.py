"""The in-process job queue of `make run`: a bounded FIFO and a few worker threads.

The threads run the same worker code as the deployed jobs function. A runner that
raises is delivered again after a short delay (as SQS would after its visibility
timeout); the worker itself gives up after its attempt limit. A full queue refuses
at once (QueueFull: 503 with Retry-After), so memory stays bounded: a message is a
job id, the image waits in the result store, not here.

Several processes may serve one data folder (`cutout serve --workers N`): each runs
the jobs it accepted, and `start_turn` tells a starting pool whether it is the
only one, i.e. whether jobs left `running` belong to a process that stopped.
"""
from __future__ import annotations

import logging
import queue
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from . import JobMessage, QueueFull, Runner

log = logging.getLogger(__name__)

REDELIVERY_DELAY = 1.0  # seconds before a failed message is run again
_serving: dict[Path, IO[str]] = {}  # data folder -> this process's shared lock on it (kept open)
_serving_lock = threading.Lock()


@contextmanager
def start_turn(folder: Path) -> Iterator[bool]:
    """One pool start at a time over `folder`; yields whether this process is its only server.

    Every process that started a pool on the folder keeps a shared lock on
    `<folder>/pool.lock` for its life (the OS drops it when the process ends, however
    it ends). A start takes `<folder>/pool-start.lock` exclusively, then tries to
    make its own lock exclusive without waiting: that succeeds only when no other
    live process holds one. It then holds the shared lock like the others. Only
    starts try the exclusive lock, and they take turns, so none slips in between.
    fcntl.flock: local filesystems on Linux and macOS; elsewhere (no fcntl) every
    start counts as the only one, as before.
    """
    try:
        import fcntl
    except ImportError:  # Windows: one server per folder
        yield True
        return
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with _serving_lock, open(folder / "pool-start.lock", "a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        held = _serving.get(folder) or open(folder / "pool.lock", "a")
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        fcntl.flock(held, fcntl.LOCK_SH)  # (a failed conversion may have dropped it)
        _serving[folder] = held
        yield alone


class LocalJobQueue:
    def __init__(self, runner: Runner, workers: int = 1, capacity: int = 256,
                 redelivery_delay: float = REDELIVERY_DELAY) -> None:
        self.runner = runner
        self.capacity = capacity
        self.redelivery_delay = redelivery_delay
        self._queue: queue.Queue[JobMessage | None] = queue.Queue(maxsize=capacity)
        self._threads = [threading.Thread(target=self._work, name=f"cutout-job-{n}", daemon=True)
                         for n in range(max(1, workers))]
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()

    def send(self, message: JobMessage) -> None:
        """Queue a job id; QueueFull when `capacity` are already waiting."""
        self.start()
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            raise QueueFull(f"The job queue is full ({self.capacity} jobs waiting); "
                            f"retry in a few seconds.") from None

    def depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads after the jobs already queued (used by tests and shutdown)."""
        if not self._started:
            return
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _redeliver(self, message: JobMessage) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:  # the job stays pending in the store; a restart picks it up
            log.error("job not redelivered: queue full", extra={"job_id": message.job_id})

    def _work(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            try:
                self.runner(message)
            except Exception:
                log.warning("job run failed; delivering it again", exc_info=True,
                            extra={"job_id": message.job_id})
                timer = threading.Timer(self.redelivery_delay, self._redeliver, (message,))
                timer.daemon = True
                timer.start()
