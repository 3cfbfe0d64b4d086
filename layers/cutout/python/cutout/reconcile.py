"""The reconciler: no charge stands without a result.

Every charge is pending from its admission until its request settles it (the
result was delivered) or refunds it (it was not). A charge can stay pending
when the process died in between, or when the store failed the settle or the
refund (a full disk, an outage, an answer lost too often). `reconcile` looks at
every pending charge and decides:

- a job's charge (`Charge.job`): the job record decides. Succeeded: the charge
  stands (settled). Failed, or the record is gone: refunded. Pending or running:
  left, until its `settle_by` has passed (then refunded: the job will not be
  charged for when it ends);
- any other charge: refunded once its `settle_by` has passed (no synchronous
  request runs that long), left before.

So the guarantee errs one way only: a charge whose request succeeded but whose
settle write failed is refunded (the result was free), never the other way round.
It runs when a server starts, on a timer (CUTOUT_RECONCILE_SECONDS), as the
command `cutout reconcile`, and deployed on a schedule (template.yaml).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .accounts.ratelimit import Limiter
from .jobs import FAILED, SUCCEEDED
from .stores import Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    """What one run did: charges refunded, settled (their job succeeded), left pending."""

    refunded: int = 0
    settled: int = 0
    pending: int = 0


def reconcile(store: Store, now: float | None = None, limit: int = 1000) -> Reconciled:
    """Settle or refund every pending charge whose outcome is known (see the module).

    `now`: epoch seconds (default: the clock). Looks at `limit` charges at most, oldest
    first. Raises StoreUnavailable when the store cannot list them; a charge the store
    fails to settle or refund stays pending for the next run.
    """
    now = time.time() if now is None else now
    limiter = Limiter(store)
    refunded = settled = pending = 0
    for charge in store.unsettled(limit):
        overdue = now >= (charge.settle_by or charge.expires)
        if charge.job:
            item = store.get_job(charge.job)
            if item is not None and item.status == SUCCEEDED:
                limiter.settle(charge)
                settled += 1
                continue
            if item is not None and item.status != FAILED and not overdue:
                pending += 1
                continue
        elif not overdue:
            pending += 1
            continue
        if limiter.refund_charge(charge):
            refunded += 1
    if refunded or settled:
        log.info("charges reconciled", extra={"refunded": refunded, "settled": settled,
                                              "pending": pending})
    return Reconciled(refunded, settled, pending)


class Reconciler:
    """Runs `reconcile` now and then every `every_seconds` in a daemon thread (the local
    server; deployed, a scheduled function runs it). `every_seconds` <= 0: never."""

    def __init__(self, store: Store, every_seconds: float,
                 run: Callable[[Store], Reconciled] = reconcile) -> None:
        self.store = store
        self.every_seconds = every_seconds
        self._run = run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="cutout-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while True:
            try:
                self._run(self.store)
            except StoreUnavailable as exc:
                log.warning("reconciler: store unavailable; trying again later",
                            extra={"error": str(exc)})
            if self._stop.wait(self.every_seconds):
                return
