"""The in-process queue of `make run`: bounded, fair across accounts, a few worker threads.

The threads run the same code as the deployed functions (the job worker, the
webhook delivery). Order is fair across accounts (each message's `account`): a
free thread takes the oldest message of the waiting account that has had the
least of the pool's time, counted as the seconds its finished runs took plus
those its running ones have taken so far; ties go to the account served least
recently. An account that starts waiting starts level with the least-served
account already active (start-time fair queueing: Goyal, Vin and Cheng, "Start-
time Fair Queueing", SIGCOMM 1996), so an idle spell is neither held against it
nor banked. A key whose jobs are slow (a trickling source, a hanging webhook
receiver) or many (hundreds queued) so takes its share of the threads, and other
accounts' messages go next; one account's messages keep their order. Deployed,
Amazon SQS fair queues do the same by the message group id (queues/sqs.py).

A runner that raises gets the message again after `redelivery_delay` seconds,
doubled each time up to a minute (SQS would after its visibility timeout); with
`max_receives`, a message that failed that many times is given up to
`dead_letters` and the log instead (SQS's redrive policy and dead-letter queue).
A full queue refuses at once (QueueFull: 503 with Retry-After), so memory stays
bounded: a message is an id and an account; the image waits in the blob store.

Several processes may serve one data folder (`cutout serve --workers N`): each runs
the jobs it accepted, and `start_turn` tells a starting pool whether it is the
only one, i.e. whether jobs left `running` belong to a process that stopped.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from . import JobMessage, QueueFull, Runner

log = logging.getLogger(__name__)

REDELIVERY_DELAY = 1.0  # seconds before a failed message is run again (doubled each time)
MAX_REDELIVERY_DELAY = 60.0  # seconds
DEAD_LETTERS_KEPT = 1000  # the newest given-up messages kept in `dead_letters`


@dataclass
class _Envelope:
    message: JobMessage
    order: int  # arrival order (first in, first out within an account)
    receives: int = 0


@dataclass
class _Account:
    """One active account's place in the fair order (active: waiting or running)."""

    served: float  # pool seconds of its finished runs, plus the level it started at
    last: int = -1  # when it was last given a thread (dispatch order); -1: never
    waiting: deque[_Envelope] = field(default_factory=deque)
    running: list[float] = field(default_factory=list)  # monotonic start of each run

    def share(self, now: float) -> float:
        return self.served + sum(now - start for start in self.running)


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
                 redelivery_delay: float = REDELIVERY_DELAY, max_receives: int | None = None,
                 kind: str = "job") -> None:
        """`kind` names the messages (job, webhook) in errors and thread names."""
        self.runner = runner
        self.kind = kind
        self.capacity = capacity
        self.redelivery_delay = redelivery_delay
        self.max_receives = max_receives
        self.dead_letters: deque[JobMessage] = deque(maxlen=DEAD_LETTERS_KEPT)
        self._accounts: dict[str, _Account] = {}
        self._ready = 0  # messages waiting in `_accounts`
        self._delayed: list[tuple[float, int, _Envelope]] = []  # (due, order, envelope) heap
        self._orders = itertools.count()
        self._dispatches = itertools.count()
        self._closing = False
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"cutout-{kind}-{n}", daemon=True)
                         for n in range(max(1, workers))]
        self._started = False

    def start(self) -> None:
        with self._cond:
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()

    def send(self, message: JobMessage) -> None:
        """Queue a message; QueueFull when `capacity` are already waiting."""
        self.start()
        with self._cond:
            if self._ready + len(self._delayed) >= self.capacity:
                raise QueueFull(f"The {self.kind} queue is full ({self.capacity} {self.kind}s "
                                f"waiting); retry in a few seconds.")
            self._enqueue(_Envelope(message, next(self._orders)), time.monotonic())
            self._cond.notify()

    def depth(self) -> int:
        """Messages waiting, including those waiting to be delivered again."""
        with self._cond:
            return self._ready + len(self._delayed)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads after the messages already waiting (used by tests and shutdown)."""
        if not self._started:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # --- the fair order (callers hold self._cond) ------------------------------------

    def _enqueue(self, envelope: _Envelope, now: float) -> None:
        key = envelope.message.account
        account = self._accounts.get(key)
        if account is None:  # starts level with the least-served active account
            level = min((a.share(now) for a in self._accounts.values()), default=0.0)
            account = self._accounts[key] = _Account(served=level)
        account.waiting.append(envelope)
        self._ready += 1

    def _next(self, now: float) -> tuple[str, _Envelope]:
        key = min((k for k, a in self._accounts.items() if a.waiting),
                  key=lambda k: (self._accounts[k].share(now), self._accounts[k].last,
                                 self._accounts[k].waiting[0].order))
        account = self._accounts[key]
        account.last = next(self._dispatches)
        account.running.append(now)
        self._ready -= 1
        return key, account.waiting.popleft()

    def _done(self, key: str, started: float, now: float) -> None:
        account = self._accounts[key]
        account.running.remove(started)
        account.served += now - started
        if not account.waiting and not account.running:
            del self._accounts[key]  # idle: it starts level again next time

    def _promote(self, now: float) -> float | None:
        """Move due redeliveries back to their accounts; seconds until the next one is due."""
        while self._delayed and self._delayed[0][0] <= now:
            self._enqueue(heapq.heappop(self._delayed)[2], now)
        return self._delayed[0][0] - now if self._delayed else None

    # --- the threads -----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    wait = self._promote(now)
                    if self._ready:
                        key, envelope = self._next(now)
                        break
                    if self._closing:
                        return
                    self._cond.wait(wait)
            envelope.receives += 1
            try:
                self.runner(envelope.message)
                failed = False
            except Exception:
                failed = True
                log.warning("queued run failed", exc_info=True,
                            extra={"job_id": envelope.message.job_id, "receives": envelope.receives})
            with self._cond:
                finished = time.monotonic()
                self._done(key, now, finished)
                if failed:
                    self._retry(envelope, finished)
                self._cond.notify()

    def _retry(self, envelope: _Envelope, now: float) -> None:
        if self.max_receives is not None and envelope.receives >= self.max_receives:
            self.dead_letters.append(envelope.message)
            log.error("message given up after every delivery failed (dead-lettered)",
                      extra={"job_id": envelope.message.job_id, "receives": envelope.receives})
            return
        delay = min(self.redelivery_delay * 2 ** (envelope.receives - 1), MAX_REDELIVERY_DELAY)
        heapq.heappush(self._delayed, (now + delay, envelope.order, envelope))
