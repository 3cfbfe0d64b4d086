"""A request's deadline for its calls to AWS: S3, DynamoDB, SQS and Secrets Manager.

API Gateway answers 504 after 30 s whatever the function is still doing, and
a 504 tells a client nothing (no Retry-After, no dialect's body, no refund it
can see). Each AWS client's own timeouts and retries are per call: with S3
paused, one read took 3 attempts x 10 s, and a stored-image route, a download
or a job submit answered its 503 after 40-44 s, past the gateway. So the web
gives every request one deadline when it arrives (`within`:
CUTOUT_BACKEND_DEADLINE_SECONDS, 25 s, under the gateway's 30 s), and every
AWS client the adapters make is `bound` to it: before each attempt (the first
and every retry) the time left is read, and

- an attempt never reads for longer than the time left, less the client's
  connect timeout (botocore's per-request `read_timeout`; a botocore without
  it, as older Lambda runtimes ship, starts an attempt only when a whole one,
  connect plus read timeout, fits);
- no attempt starts once less than the connect timeout is left: the call
  fails with `DeadlineExceeded`, a BotoCoreError, which each adapter already
  turns into its Unavailable (BlobUnavailable, StoreUnavailable,
  QueueUnavailable): the dialect's 503 with Retry-After, refunded.

So a request's calls to AWS end by the deadline whatever stalls, and however
many calls it makes, rather than each call bringing its own 10-30 s. This is
a deadline, not fixed smaller timeouts, because a request's calls add up (a
slow cut, then S3) and only the request knows how much time it has used.

Refunds are exempt (`lifted`): a failure must not be charged because the
failure itself used up the time. Outside a request (the job worker, the S3
trigger, the command line) there is no deadline and the clients' own
timeouts and retries apply. botocore is imported only by `bound`.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

_deadline: ContextVar[float | None] = ContextVar("cutout_backend_deadline", default=None)
_exceeded: type[Exception] | None = None


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """AWS calls made inside the block (and in threads it hands work to) end within `seconds`
    from now; `seconds <= 0`: no deadline."""
    token = _deadline.set(time.monotonic() + seconds if seconds > 0 else None)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def lifted() -> Iterator[None]:
    """No deadline inside the block (a refund: it must be tried however late it is)."""
    token = _deadline.set(None)
    try:
        yield
    finally:
        _deadline.reset(token)


def left() -> float | None:
    """Seconds left before the current deadline (may be negative), or None without one."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


def exceeded() -> type[Exception]:
    """`DeadlineExceeded`: a botocore BotoCoreError, made on first use (botocore is imported
    only by the adapters that use it)."""
    global _exceeded
    if _exceeded is None:
        from botocore.exceptions import BotoCoreError

        class DeadlineExceeded(BotoCoreError):  # type: ignore[misc]  # botocore has no stubs
            fmt = "The request's deadline for calls to AWS has passed ({detail})."

        _exceeded = DeadlineExceeded
    return _exceeded


def bound(client: Any) -> Any:
    """`client` (a boto3 client) with every attempt of every call bounded by the current
    deadline, as the module says; returns it. Its connect and read timeouts are its
    config's (seconds)."""
    from botocore.httpsession import URLLib3Session

    config = client.meta.config
    connect, read = float(config.connect_timeout), float(config.read_timeout)
    per_request = hasattr(URLLib3Session, "_get_request_timeout")  # botocore >= 1.40-ish
    failure: Any = exceeded()

    def before_send(request: Any, **_: Any) -> None:
        remaining = left()
        if remaining is None:
            return None
        room = remaining - connect
        if room <= 0 or (not per_request and room < read):
            raise failure(detail=f"{max(0.0, remaining):.1f} s left, an attempt needs "
                                 f"{connect:g} s to connect")
        if per_request and room < read:
            request.context["read_timeout"] = room
        return None

    client.meta.events.register("before-send", before_send)
    return client
