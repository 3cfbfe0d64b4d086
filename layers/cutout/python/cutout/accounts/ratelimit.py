"""Per-account megapixel windows and monthly credits: admit, refuse, refund.

A request weighs its megapixels rounded up (at least 1) and is admitted into
the current minute's window if it fits the account's megapixels per minute and
its credits fit the month's quota; both checks are atomic writes in the store.
Every outcome knows the X-RateLimit-* headers that describe it.

A busy account's counters are split into shards (`shards_for`): one store
partition takes about a thousand writes a second (DynamoDB), two per request,
so one account on one partition would be throttled near 500 requests a second.
With S shards each holds 1/S of the minute's megapixels and of the month's
credits, a request is admitted into a shard chosen at random (then up to
`SHARD_TRIES` - 1 others, skipping those this process saw full this minute),
and each shard's check is exact, so the account never passes its limit or its
quota. The price is the other bound: a request may be refused while other shards
have room, at most S x (weight - 1) megapixels short of the limit when every
shard is tried, more when more than SHARD_TRIES would be (a busy account's last
percents). An account of MP_PER_SHARD megapixels a minute or less has one
shard: exact both ways, as before. docs/scale-and-cost.md has the simulation.
"""
from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field, replace

from .. import deadline, telemetry
from ..errors import RETRY_AFTER_SECONDS, AccessError
from .keys import Account, minute_of, month_of
from ..stores import AccountStore, Charge, QuotaFull, StoreUnavailable, WindowFull

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Seconds a window item outlives its minute: it holds its pending charges (DynamoDB) until
# they are settled, or refunded by the reconciler, so it is kept for a day.
TTL_GRACE = 24 * 3600
# Seconds after its admission a synchronous request's charge is overdue: no request runs
# this long (API Gateway stops at 30 s, `cutout serve` at CUTOUT_REQUEST_TIMEOUT_SECONDS plus
# the work), so a charge still pending then belongs to a request that did not succeed.
SETTLE_WITHIN_SECONDS = 300


class RateLimited(AccessError):
    """The minute's megapixel window is full; the same request fits once it resets."""

    code = "rate_limit_exceeded"
    retryable = True


class HeavierThanThePlan(RateLimited):
    """The image alone weighs more than the plan's megapixels a minute: no minute will
    admit it, so it is not retryable and carries no Retry-After (a client that waits and
    retries would loop forever). Answered as the dialect answers rate limits (429)."""

    retryable = False


class QuotaExceeded(AccessError):
    """The month's credits are used up."""

    code = "insufficient_credits"


class LimiterUnavailable(StoreUnavailable):
    """The store that meters is down (and the limiter fails closed): retry shortly (503)."""


# Megapixels a minute one counter shard holds: at one megapixel a request, about 167 requests
# a second, two writes each on its partition (DynamoDB allows 1,000 a second).
MP_PER_SHARD = 10_000
# Credits a month a shard holds at least: a quota split finer would refuse requests whose
# credits no shard's part can hold (a key of many megapixels a minute and few credits).
CREDITS_PER_SHARD = 1_000
SHARD_TRIES = 4  # shards one request tries before it is refused


def shards_for(mp_per_minute: int, monthly_credits: float | None = None) -> int:
    """How many counter shards an account of `mp_per_minute` megapixels a minute (and
    `monthly_credits`, None: no quota) has: one per MP_PER_SHARD, no more than one per
    CREDITS_PER_SHARD of its quota, at least one."""
    shards = -(-mp_per_minute // MP_PER_SHARD)
    if monthly_credits is not None:
        shards = min(shards, int(monthly_credits // CREDITS_PER_SHARD))
    return max(1, shards)


ORPHANS_READ_EVERY = 60.0  # seconds a process trusts its read of usage in shards no longer used


def share(total: int, shards: int, shard: int) -> int:
    """Shard `shard`'s whole part of `total` split over `shards` (the parts sum to `total`)."""
    return total // shards + (1 if shard < total % shards else 0)


def weight_of(megapixels: float) -> int:
    """What a request counts against the window: megapixels rounded up, at least 1."""
    return max(1, math.ceil(round(megapixels, 9)))


def rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(reset),
    }


def _credits(value: float) -> str:
    return f"{value:g}"


@dataclass
class Ticket:
    """An admitted request: what was charged, and the headers that report it."""

    account: Account
    limit: int
    remaining: int
    reset: int
    credits: float
    charge: Charge | None  # None: admitted without metering (fail-open)
    refunded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def charged(self) -> float:
        return 0.0 if self.charge is None or self.refunded else self.credits

    def headers(self) -> dict[str, str]:
        out = rate_headers(self.limit, self.remaining, self.reset)
        out["X-Credits-Charged"] = _credits(self.charged)
        return out


class Limiter:
    """Admission against a store; `fail_open` admits unmetered when the store is down."""

    def __init__(self, store: AccountStore, fail_open: bool = False) -> None:
        self.store = store
        self.fail_open = fail_open
        self._full: set[tuple[str, int, int]] = set()  # (account, minute, shard) seen full here
        self._high: dict[tuple[str, str], int] = {}  # (account, month) -> its most shards
        self._orphaned: dict[tuple[str, str, int], tuple[float, float]] = {}  # -> (credits, read at)
        self._lock = threading.Lock()

    def admit(
        self, account: Account, megapixels: float, credits: float = 1.0, now: float | None = None,
        job: str = "", settle_within: float = SETTLE_WITHIN_SECONDS,
    ) -> Ticket:
        """Charge one request or raise RateLimited (429; HeavierThanThePlan when the image alone
        is over the plan's megapixels a minute), QuotaExceeded (402), LimiterUnavailable (503).

        The charge is pending until `settle` (the request succeeded) or `refund`; one
        still pending `settle_within` seconds from now is refunded by the reconciler,
        unless `job` names the job it paid for (its record decides)."""
        now = time.time() if now is None else now
        minute = minute_of(now)
        reset = (minute + 1) * WINDOW_SECONDS
        retry_after = str(max(1, math.ceil(reset - now)))
        limit = account.mp_per_minute
        weight = weight_of(megapixels)
        charge = Charge(
            account=account.id, window=minute, month=month_of(now), weight=weight,
            megapixels=round(megapixels, 6), credits=credits, expires=reset + TTL_GRACE,
            settle_by=int(now + settle_within), job=job, shards=account.shards,
        )
        shards = account.shards
        if weight > limit or weight > share(limit, shards, shards - 1):
            raise HeavierThanThePlan(  # refused before asking the store: no minute can hold it
                f"This image weighs {weight} megapixels; the plan allows {limit} megapixels a "
                "minute, so no minute can admit it: send a smaller image.",
                headers={"X-RateLimit-Limit": str(limit)})
        quota = account.monthly_credits
        refusals: list[WindowFull | QuotaFull] = []
        try:
            orphaned = 0.0 if quota is None else self._orphaned_credits(account, charge.month)
        except StoreUnavailable as exc:
            return self._store_down(account, exc, reset, credits)
        if quota is not None and orphaned + credits > quota + 1e-9:
            raise QuotaExceeded(f"Monthly credits used up: {orphaned:g} of {quota:g} this month; "
                                f"this request needs {credits:g}.",
                                headers=rate_headers(limit, limit, reset))
        for shard in self._shards_to_try(account, minute):
            try:
                used = self.store.admit(replace(charge, shard=shard), share(limit, shards, shard),
                                        None if quota is None else (quota - orphaned) / shards)
            except (WindowFull, QuotaFull) as refused:
                refusals.append(refused)
                if isinstance(refused, WindowFull) and shards > 1:
                    with self._lock:
                        self._full.add((account.id, minute, shard))
                continue
            except StoreUnavailable as exc:
                return self._store_down(account, exc, reset, credits)
            telemetry.charged(credits, megapixels)
            # A shard's own use stands for the others' (exact with one shard).
            return Ticket(account, limit, limit - used * shards, reset, credits,
                          charge=replace(charge, shard=shard))
        if refusals and all(isinstance(r, QuotaFull) for r in refusals):
            full = refusals[-1]
            assert isinstance(full, QuotaFull)
            headers = rate_headers(limit, limit - full.window_used * shards, reset)
            raise QuotaExceeded(
                f"Monthly credits used up: {full.credits * shards + orphaned:g} of {quota:g} "
                f"this month; this request needs {credits:g}.", headers=headers)
        used = max((r.used for r in refusals if isinstance(r, WindowFull)), default=limit)
        headers = rate_headers(limit, limit - used * shards, reset) | {"Retry-After": retry_after}
        raise RateLimited(f"Rate limit exceeded: {limit} megapixels a minute. "
                          f"Retry after {retry_after} seconds.", headers=headers)

    def _store_down(self, account: Account, exc: StoreUnavailable, reset: int,
                    credits: float) -> Ticket:
        """The store failed during admission: an unmetered ticket (fail-open), else
        LimiterUnavailable (503)."""
        if self.fail_open:
            log.warning("limiter store unavailable; admitting without limit (fail-open)",
                        extra={"account": account.id, "error": str(exc)})
            limit = account.mp_per_minute
            return Ticket(account, limit, limit, reset, credits, charge=None)
        log.error("limiter store unavailable; refusing with 503",
                  extra={"account": account.id, "error": str(exc)})
        raise unavailable(str(exc)) from exc

    def _orphaned_credits(self, account: Account, month: str) -> float:
        """Credits the month holds in shards beyond the account's present count: charged
        under a plan with more shards, before it changed. They still count against the
        quota (the present shards share what is left). Each process records the count once
        a month (`record_shards`) and reads such credits again every ORPHANS_READ_EVERY
        seconds: no request writes there any more, only refunds of their own charges."""
        shards = account.shards
        with self._lock:
            high = self._high.get((account.id, month))
        if high is None or high < shards:
            high = self.store.record_shards(account.id, month, shards)
            with self._lock:
                self._high = {k: v for k, v in self._high.items() if k[1] == month}
                self._high[(account.id, month)] = high
        if high <= shards:
            return 0.0
        key, now = (account.id, month, shards), time.monotonic()
        with self._lock:
            known = self._orphaned.get(key)
        if known is not None and now - known[1] < ORPHANS_READ_EVERY:
            return known[0]
        credits = (self.store.usage(account.id, month, high).credits
                   - self.store.usage(account.id, month, shards).credits)
        with self._lock:
            self._orphaned[key] = (credits, now)
        return credits

    def _shards_to_try(self, account: Account, minute: int) -> list[int]:
        """The shards one admission tries, in random order: those this process has not seen
        full this minute first, at most SHARD_TRIES."""
        shards = account.shards
        if shards == 1:
            return [0]
        with self._lock:
            self._full = {entry for entry in self._full if entry[1] >= minute}  # forget old minutes
            full = {s for (who, when, s) in self._full if who == account.id and when == minute}
        order = random.sample(range(shards), shards)
        order.sort(key=lambda shard: shard in full)
        return order[:SHARD_TRIES]

    def top_up(self, charge: Charge, limit: int) -> None:
        """Add `charge` to its window if it fits `limit` megapixels a minute (no quota check).

        Raises RateLimited (the window is full; nothing written; its `Retry-After` is
        the window's end) or StoreUnavailable.
        """
        try:
            self.store.admit(charge, limit, None)
        except WindowFull as full:
            reset = (charge.window + 1) * WINDOW_SECONDS
            retry_after = str(max(1, math.ceil(reset - time.time())))
            raise RateLimited(f"Rate limit exceeded: {limit} megapixels a minute, {full.used} used.",
                              headers=rate_headers(limit, limit - full.used, reset)
                              | {"Retry-After": retry_after}) from None

    def refund_charge(self, charge: Charge) -> bool:
        """Take a pending charge back (a job's, or an overdue one), at most once. Never cut by
        a request's deadline (deadline.py): a failure is not charged however late it is.

        True when this call refunded it; False when it was settled or refunded before,
        or when the store failed (logged: it stays pending, and the reconciler refunds it)."""
        try:
            with deadline.lifted():
                refunded = self.store.refund(charge)
        except StoreUnavailable as exc:
            log.error("refund failed; the charge stays pending for the reconciler",
                      extra={"account": charge.account, "charge": charge.id, "error": str(exc)})
            telemetry.refund_failed(charge.credits)
            return False
        if refunded:
            telemetry.refunded(charge.credits)
            log.info("refunded", extra={"account": charge.account, "charge": charge.id,
                                        "credits": charge.credits, "weight": charge.weight})
        return refunded

    def refund(self, ticket: Ticket) -> bool:
        """Take a ticket's charge back, once; False if there was nothing to refund or the store
        failed (then the reconciler refunds it once it is overdue). Never cut by a request's
        deadline (through `refund_charge`)."""
        with ticket._lock:
            if ticket.charge is None or ticket.refunded:
                return False
            if not self.refund_charge(ticket.charge):
                return False
            ticket.refunded = True
            ticket.remaining = min(ticket.limit, ticket.remaining + ticket.charge.weight)
        return True

    def settle(self, charge: Charge) -> None:
        """The charge's request succeeded: it stands. A store that fails is logged, and the
        charge, still pending, is refunded by the reconciler once overdue (the result is free).
        Like a refund, never cut by a request's deadline (deadline.py)."""
        try:
            with deadline.lifted():
                self.store.settle(charge)
        except StoreUnavailable as exc:
            log.error("settling failed; the reconciler will refund the charge",
                      extra={"account": charge.account, "charge": charge.id, "error": str(exc)})

    def status(self, account: Account, now: float | None = None) -> dict[str, str]:
        """The rate-limit headers of an account without charging it (a read)."""
        now = time.time() if now is None else now
        minute = minute_of(now)
        used = self.store.window(account.id, minute, account.shards).used
        return rate_headers(account.mp_per_minute, account.mp_per_minute - used,
                            (minute + 1) * WINDOW_SECONDS)


def unavailable(detail: str) -> LimiterUnavailable:
    """The 503 of a metering store that is down; `detail` (what failed) goes to the logs."""
    error = LimiterUnavailable(detail, "The rate limiter is unavailable; please retry shortly.")
    error.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return error
