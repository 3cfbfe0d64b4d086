"""Per-account megapixel windows and monthly credits: admit, refuse, refund.

A request weighs its megapixels rounded up (at least 1) and is admitted into
the current minute's window if it fits the account's megapixels per minute and
its credits fit the month's quota; both checks are atomic writes in the store.
Every outcome knows the X-RateLimit-* headers that describe it.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

from .. import deadline
from ..errors import RETRY_AFTER_SECONDS, AccessError
from .keys import Account, minute_of, month_of
from ..stores import AccountStore, Charge, QuotaFull, StoreUnavailable, WindowFull

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
TTL_GRACE = 120  # seconds a window item outlives its minute, for usage inspection


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

    def admit(
        self, account: Account, megapixels: float, credits: float = 1.0, now: float | None = None
    ) -> Ticket:
        """Charge one request or raise RateLimited (429; HeavierThanThePlan when the image alone
        is over the plan's megapixels a minute), QuotaExceeded (402), LimiterUnavailable (503)."""
        now = time.time() if now is None else now
        minute = minute_of(now)
        reset = (minute + 1) * WINDOW_SECONDS
        retry_after = str(max(1, math.ceil(reset - now)))
        limit = account.mp_per_minute
        weight = weight_of(megapixels)
        charge = Charge(
            account=account.id, window=minute, month=month_of(now), weight=weight,
            megapixels=round(megapixels, 6), credits=credits, expires=reset + TTL_GRACE,
        )
        if weight > limit:  # refused before asking the store: no minute can hold it
            raise HeavierThanThePlan(
                f"This image weighs {weight} megapixels; the plan allows {limit} megapixels a "
                "minute, so no minute can admit it: send a smaller image.",
                headers={"X-RateLimit-Limit": str(limit)})
        try:
            used = self.store.admit(charge, limit, account.monthly_credits)
        except WindowFull as full:
            headers = rate_headers(limit, limit - full.used, reset) | {"Retry-After": retry_after}
            message = (f"Rate limit exceeded: {limit} megapixels a minute. "
                       f"Retry after {retry_after} seconds.")
            raise RateLimited(message, headers=headers) from None
        except QuotaFull as full:
            headers = rate_headers(limit, limit - full.window_used, reset)
            raise QuotaExceeded(
                f"Monthly credits used up: {full.credits:g} of {account.monthly_credits:g} "
                f"this month; this request needs {credits:g}.",
                headers=headers,
            ) from None
        except StoreUnavailable as exc:
            if self.fail_open:
                log.warning("limiter store unavailable; admitting without limit (fail-open)",
                            extra={"account": account.id, "error": str(exc)})
                return Ticket(account, limit, limit, reset, credits, charge=None)
            log.error("limiter store unavailable; refusing with 503",
                      extra={"account": account.id, "error": str(exc)})
            raise unavailable(str(exc)) from exc
        return Ticket(account, limit, limit - used, reset, credits, charge=charge)

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
        """Take a recorded charge back (a job's); False if the store failed (logged). Never cut
        by a request's deadline (deadline.py): a failure is not charged however late it is."""
        try:
            with deadline.lifted():
                self.store.refund(charge)
        except StoreUnavailable as exc:
            log.error("refund failed; the charge stands", extra={"account": charge.account,
                                                                 "error": str(exc)})
            return False
        log.info("refunded", extra={"account": charge.account, "credits": charge.credits,
                                     "weight": charge.weight})
        return True

    def refund(self, ticket: Ticket) -> bool:
        """Take a charge back, once; False if there was nothing to refund or the store failed.
        Never cut by a request's deadline (deadline.py)."""
        with ticket._lock:
            if ticket.charge is None or ticket.refunded:
                return False
            try:
                with deadline.lifted():
                    self.store.refund(ticket.charge)
            except StoreUnavailable as exc:
                log.error("refund failed; the charge stands",
                          extra={"account": ticket.account.id, "error": str(exc)})
                return False
            ticket.refunded = True
            ticket.remaining = min(ticket.limit, ticket.remaining + ticket.charge.weight)
        log.info("refunded", extra={"account": ticket.account.id, "credits": ticket.credits,
                                     "weight": ticket.charge.weight})
        return True

    def status(self, account: Account, now: float | None = None) -> dict[str, str]:
        """The rate-limit headers of an account without charging it (a read)."""
        now = time.time() if now is None else now
        minute = minute_of(now)
        used = self.store.window(account.id, minute).used
        return rate_headers(account.mp_per_minute, account.mp_per_minute - used,
                            (minute + 1) * WINDOW_SECONDS)


def unavailable(detail: str) -> LimiterUnavailable:
    """The 503 of a metering store that is down; `detail` (what failed) goes to the logs."""
    error = LimiterUnavailable(detail, "The rate limiter is unavailable; please retry shortly.")
    error.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return error
