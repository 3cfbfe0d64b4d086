"""The optional webhook: a signed POST of the status document once a job has ended.

Off the job's path: the worker finishes the job record first and then only
queues a delivery (`JobMessage`: job id and account) on the webhook queue
(queues.open_webhook_queue: SQS consumed by functions/webhooks, or the local
pool), so a receiver that hangs or fails never holds a job worker. `Webhooks.run`
makes one attempt per delivery; the queue owns the retries (SQS: the visibility
timeout, then the redrive policy's maxReceiveCount and the dead-letter queue;
the local pool: CUTOUT_WEBHOOK_ATTEMPTS tries, backing off from
CUTOUT_WEBHOOK_BACKOFF) and is fair across accounts, so one key's dead receivers
never delay another account's webhooks. Delivery is at least once: a receiver
may see a job's document twice (the jobId tells them apart).

Signature (documented in the README): header `X-Cutout-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>.<body>" with CUTOUT_WEBHOOK_SECRET>`, the scheme
Stripe documents for its webhooks, so the receiver can check both origin and
freshness. The target goes through cutout/fetch.py's SSRF guard (never a private
address); a target the guard refuses is not tried again.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from .. import fetch
from ..blobs import BlobStore
from ..config import Settings
from ..errors import FetchError, FetchRefused
from ..queues import JobMessage
from ..stores import JobStore
from . import FINISHED, Job
from .worker import result_url

log = logging.getLogger(__name__)

HEADER = "X-Cutout-Signature"


class WebhookFailed(Exception):
    """The receiver did not take the document (no answer, or not a 2xx): deliver it again later."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp` (epoch seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(url: str, document: dict[str, Any], *, secret: str, timeout: float = 10.0,
         allow_hosts: tuple[str, ...] = ()) -> bool:
    """One signed POST of `document` (signed now); `timeout` in seconds.

    True when the receiver answered 2xx; False when the SSRF guard refused the URL
    (fetch.FetchRefused: a private address, a bad scheme), which no retry changes.
    Raises WebhookFailed for an unreachable, hanging or failing receiver.
    """
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", HEADER: signature(secret, int(time.time()), body)}
    try:
        status = fetch.post(url, body, headers, timeout=timeout, allow_hosts=allow_hosts)
    except FetchRefused as exc:
        log.warning("webhook refused", extra={"job_id": document.get("jobId"), "reason": exc.message})
        return False
    except FetchError as exc:
        raise WebhookFailed(exc.message) from exc
    if not 200 <= status < 300:
        raise WebhookFailed(f"HTTP {status}")
    return True


class Webhooks:
    """Delivers finished jobs' webhooks: the webhook queue's runner, over the job and blob stores."""

    def __init__(self, store: JobStore, blobs: BlobStore, cfg: Settings) -> None:
        self.store = store
        self.blobs = blobs
        self.cfg = cfg

    def run(self, message: JobMessage) -> str:
        """One attempt for one delivery: `delivered`, `refused` or `dropped` (no such job,
        not finished, no callback). Raises WebhookFailed (the receiver's failure) or
        StoreUnavailable, for the queue to deliver it again."""
        item = self.store.get_job(message.job_id)
        job = Job.from_item(item) if item else None
        if job is None or job.status not in FINISHED or not job.callback_url:
            log.warning("webhook delivery dropped", extra={"job_id": message.job_id})
            return "dropped"
        document = job.status_document(result_url(self.blobs, job, self.cfg.result_url_ttl))
        try:
            delivered = post(job.callback_url, document, secret=self.cfg.webhook_secret,
                             timeout=self.cfg.fetch_timeout, allow_hosts=self.cfg.fetch_allow_hosts)
        except WebhookFailed as exc:
            log.warning("webhook attempt failed", extra={"job_id": job.job_id, "reason": str(exc)})
            raise
        if delivered:
            log.info("webhook delivered", extra={"job_id": job.job_id, "status": job.status})
        return "delivered" if delivered else "refused"
