"""The optional webhook: one signed POST of the status document when a job ends.

Signature (documented in the README): header `X-Cutout-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>.<body>" with CUTOUT_WEBHOOK_SECRET>`, the scheme
Stripe documents for its webhooks, so the receiver can check both origin and
freshness. The target goes through cutout/fetch.py's SSRF guard (never a private
address); a 2xx ends it, anything else is retried with exponential backoff and
then given up: the job's own status does not depend on it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any, Callable

from .. import fetch, telemetry
from ..errors import FetchError, FetchRefused

log = logging.getLogger(__name__)

HEADER = "X-Cutout-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp` (epoch seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def deliver(
    url: str,
    document: dict[str, Any],
    *,
    secret: str,
    attempts: int = 4,
    backoff: float = 1.0,
    timeout: float = 10.0,
    allow_hosts: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST the document until a 2xx or `attempts` tries (waits backoff, 2x backoff, ...).

    `backoff` and `timeout` are in seconds. Returns True when delivered; never raises
    for the target's failures. A URL the guard refuses (fetch.FetchRefused: a private
    address, a bad scheme) is not retried; an unreachable or failing target is.
    """
    body = json.dumps(document, separators=(",", ":")).encode()
    for attempt in range(1, attempts + 1):
        headers = {"Content-Type": "application/json",
                   HEADER: signature(secret, int(time.time()), body)}
        try:
            status = fetch.post(url, body, headers, timeout=timeout, allow_hosts=allow_hosts)
            if 200 <= status < 300:
                log.info("webhook delivered", extra={"job_id": document.get("jobId"),
                                                     "attempt": attempt})
                telemetry.webhook("delivered")
                return True
            reason = f"HTTP {status}"
        except FetchError as exc:
            if isinstance(exc, FetchRefused):
                log.warning("webhook refused", extra={"job_id": document.get("jobId"),
                                                      "reason": exc.message})
                telemetry.webhook("refused")
                return False
            reason = exc.message
        log.warning("webhook attempt failed", extra={"job_id": document.get("jobId"),
                                                     "attempt": attempt, "reason": reason})
        if attempt < attempts:
            sleep(backoff * 2 ** (attempt - 1))
    log.error("webhook given up", extra={"job_id": document.get("jobId"), "attempts": attempts})
    telemetry.webhook("failed")
    return False
