"""The one metering door: header -> preflight -> admit -> cut -> refund on failure.

Every paid cut-out goes through `Meter.cut`, synchronously, whoever asks: the
web dialects (from `web/processing.py`, in a worker thread), the S3 uploads
trigger (`jobs/s3_uploads.py`) and a job worker. The order is what makes the
billing fair:

1. the header is read (format and size, no pixels) and the image limits are
   enforced: a file that is not an image, or too large, is refused before
   anything is charged;
2. the options that need the image's size are checked (`pipeline.preflight`);
3. the account is charged (`Limiter.admit`): megapixels against the minute's
   window, credits against the month;
4. the pixels are cut, and the result delivered when the caller hands in a
   `deliver` step (e.g. writing it to S3);
5. any failure after the charge (a bad pixel stream, a crash, a failed
   delivery) takes the charge back (`Limiter.refund`, at most once) and
   re-raises; the caller settles the charge once its result is delivered
   (`settle`). A charge neither settled nor refunded (the process died, the
   store failed the refund) stays pending, and the reconciler refunds it once
   it is overdue (`accounts/reconcile.py`): no charge stands without a result.

Asynchronous jobs are charged at accept and cut later, so the door also has
their three steps: `admit` (at accept), `top_up` (the rest of a weight learnt
once the worker read the header) and `refund` (a job that failed). The pixel
work of every cut in a process (synchronous or a job) runs inside the one
`Workload` bound, and every cut is encoded with the deployment's PNG level.

The door speaks no HTTP and reads no global settings: the model, the limits,
the limiter and the workload are handed in by the composition root
(`cutout/services.py`) or by the entry point that built them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, TypeVar

from . import telemetry
from .accounts.keys import Account
from .accounts.ratelimit import Limiter, Ticket
from .engine import images, pipeline
from .engine.model import Segmenter
from .engine.tiers import TIERS, LazySegmenter
from .engine.workload import Workload
from .errors import InvalidOption
from .stores import Charge

T = TypeVar("T")


@dataclass(frozen=True)
class Metered:
    """A metered cut-out: the product, the file's header, and the charge (None: unmetered)."""

    result: pipeline.Result
    header: images.Header
    ticket: Ticket | None


@dataclass(frozen=True)
class Meter:
    """The model, the image limits, the limiter and the workload bound one process meters with.

    `limiter` None means no metering at all (library use, `make run` without
    accounts); then `account` is ignored by `cut`. `quality` is the model of the
    large tiers (`quality`, `quality-tta`), loaded on its first use (None: the tier is not installed).
    `workload` runs the pixel work of every cut and operation, after the charge, so
    at most its bound run at once in this process (None: unbounded). `png_level` is
    the deployment's PNG compression level (CUTOUT_PNG_COMPRESS_LEVEL, ISA-L 0-3),
    applied to every cut that passes the door.
    """

    segmenter: Segmenter
    limits: images.Limits
    limiter: Limiter | None = None
    quality: LazySegmenter | None = None
    workload: Workload | None = None
    png_level: int = 1

    def cut(
        self,
        data: bytes,
        options: pipeline.Options,
        *,
        account: Account | None,
        credits: float = 1.0,
        admitted: Callable[[Ticket], None] | None = None,
        deliver: Callable[[pipeline.Result], None] | None = None,
        header: images.Header | None = None,
        bounded_wait: bool = False,
    ) -> Metered:
        """Cut out `data` (encoded image bytes) as `options` asks, charging `account`.

        Arguments:
            data: the encoded image, at most `limits.max_bytes` bytes.
            options: what to make (mode, format, background, ...).
            account: whom to charge; None (or no limiter) cuts without charging.
            credits: monthly credits this request costs (1.0 for a normal cut-out;
                the megapixel weight against the minute's window comes from the header).
            admitted: called with the ticket right after the charge, before any
                pixels (the web uses it so that its middleware sees the charge).
            deliver: called with the result inside the refund guard: if it raises,
                the charge is taken back.
            header: what `images.read_header(data, self.limits)` returned, when the
                caller read it already (to price the request); None: read here.
            bounded_wait: a synchronous request: refused with Overloaded, before the
                charge, when its estimated wait for a `workload` slot is over the
                workload's bound (`Workload.admit`). Accepted work (a job) waits.

        The pixel work waits for a slot of `workload` after the header, the checks and
        the charge, so a refusal never waits for one. `options.png_level` is replaced
        by the deployment's `png_level`.

        Returns a `Metered` (result, header, ticket).

        Raises:
            InputError (InvalidImage, ImageTooLarge, InvalidOption, ...): bad input,
                found before the charge (header, preflight) or while decoding the
                pixels (then refunded); never worth retrying.
            AccessError (RateLimited, QuotaExceeded): the account may not spend this now;
                nothing was charged.
            Unavailable (LimiterUnavailable; Overloaded when `bounded_wait`): the store
                that meters is down, or the queue is too long; retry; nothing charged.
            Anything `deliver` or the model raises, after refunding.
        """
        if header is None:
            header = images.read_header(data, self.limits)
        options = replace(options, png_level=self.png_level)
        pipeline.preflight(options, header)
        large = TIERS[options.model].large
        if large and self.quality is None:
            raise InvalidOption(f"The {options.model} model is not installed on this deployment.",
                                code="invalid_model")
        charged: list[Ticket] = []

        def admit(ticket: Ticket) -> None:
            charged.append(ticket)
            if admitted is not None:
                admitted(ticket)

        def work() -> pipeline.Result:
            # a large-model tier without `quality` was refused above
            segmenter = self.quality.get() if large and self.quality is not None else self.segmenter
            started = telemetry.clock()
            result = pipeline.cut(data, options, segmenter=segmenter, limits=self.limits,
                                  header=header)
            telemetry.cut(started, options.model)
            if deliver is not None:
                deliver(result)
            return result

        result = self.run(header, work, account=account, credits=credits, admitted=admit,
                          bounded_wait=bounded_wait)
        return Metered(result, header, charged[0] if charged else None)

    def run(
        self,
        header: images.Header,
        work: Callable[[], T],
        *,
        account: Account | None,
        credits: float = 1.0,
        admitted: Callable[[Ticket], None] | None = None,
        bounded_wait: bool = False,
    ) -> T:
        """The same door for pixel work that is not a cut-out (the stored-images operations).

        `header` is the checked header of the image the work reads (its megapixels
        weigh against the window); `credits` what the work costs. With
        `bounded_wait` (a synchronous request), a wait for a `workload` slot
        estimated over its bound is refused first (Overloaded). Charges
        `account`, then runs `work()` in a slot of `workload` (after the charge: a
        refused request does not wait); if it raises, the charge is taken back and
        the error re-raised. Raises AccessError or Unavailable (nothing charged), or
        whatever `work` raises (refunded).
        """
        place = self.workload.admit() if bounded_wait and self.workload is not None else None
        try:
            ticket = self.admit(account, header.megapixels, credits)
            if ticket is not None and admitted is not None:
                admitted(ticket)
            try:
                if place is not None:
                    return place.run(work)
                return work() if self.workload is None else self.workload.run(work)
            except BaseException:
                if ticket is not None and self.limiter is not None:
                    self.limiter.refund(ticket)
                raise
        finally:
            if place is not None:
                place.cancel()  # refused by the limiter: the place is given up

    # --- asynchronous jobs: charged at accept, topped up and refunded by the worker ---

    def admit(self, account: Account | None, megapixels: float, credits: float = 1.0,
              job: str = "") -> Ticket | None:
        """Charge `account` for `megapixels` (rounded up against the minute's window) and
        `credits` (against the month) now; None when nothing meters (no limiter or account).
        `job`: the job it pays for, whose record decides the charge (settled when the job
        succeeds, refunded when it fails; see `accounts/reconcile.py`).

        Raises RateLimited (HeavierThanThePlan), QuotaExceeded or LimiterUnavailable;
        nothing is charged then.
        """
        if self.limiter is None or account is None:
            return None
        return self.limiter.admit(account, megapixels, credits, job=job)

    def settle(self, charge: Charge | None) -> None:
        """The work a charge paid for succeeded: the charge stands (no longer pending)."""
        if self.limiter is not None and charge is not None:
            self.limiter.settle(charge)

    def top_up(self, charge: Charge, limit: int) -> None:
        """Add `charge` (a job's rest of its weight, no credits) to its account's window of
        `limit` megapixels a minute, with no quota check. Without a limiter, nothing.

        Raises RateLimited (the window has no room; nothing charged) or
        StoreUnavailable (nothing charged).
        """
        if self.limiter is not None:
            self.limiter.top_up(charge, limit)

    def refund(self, charge: Charge) -> bool:
        """Take a pending charge back (a job that failed), at most once; False when nothing
        was refunded (settled or refunded before, or the store failed: then the reconciler
        refunds it)."""
        return self.limiter.refund_charge(charge) if self.limiter is not None else False
