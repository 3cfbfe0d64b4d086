"""Runs one job message: claim, cut, store the result, finish (once), then the webhook.

The same code runs in the local pool (queues/local.py) and in the SQS-fed jobs
function (functions/jobs/handler.py). A message may arrive twice or after a
crash, so every step is guarded by the record's state:

- a finished job's message is dropped (nothing is cut, charged or refunded);
- a job running under a live lease raises JobBusy: the message comes back later;
- a claim is a compare-and-swap, so two deliveries cannot both run it;
- the caller's input failing (download refused, not an image, too large) ends the
  job `failed` with Adobe's errorCode 400401 and refunds the charge;
- a server failure (storage down, a crash) puts the job back to `pending` and
  raises, so the queue delivers it again; after CUTOUT_JOB_MAX_ATTEMPTS runs the
  job is `failed` (500600) and refunded;
- a URL or presigned-upload job (charged 1 megapixel at accept) is charged the
  rest of its real weight once its header is read (jobs/topup.py), recorded in
  the job so a redelivery never charges it twice; a full window fails the job
  (429001) and refunds it; a failed job refunds both charges;
- a job with a callback is finished first (marked `webhook_pending`), then its
  webhook is queued on the webhook queue (jobs/webhook.py), which delivers and
  retries it off this path; if that queue cannot take it, this run raises, and the
  next delivery of the message queues the webhook of the finished job.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import uuid
from typing import Any, Callable

from .. import fetch, telemetry
from ..engine import images
from ..blobs import BlobNotFound, BlobStore, read as read_blob
from ..config import Settings
from ..errors import CutoutError, FetchError, FetchRefused, InputError, Unavailable
from ..metering import Meter
from ..queues import JobMessage, JobQueue
from ..stores import Charge, JobStore, StoreUnavailable
from . import (
    FAILED,
    FINISHED,
    INPUT_ERROR,
    INTERNAL_ERROR,
    OUTPUT_ERROR,
    PENDING,
    RATE_LIMIT_ERROR,
    RUNNING,
    SUCCEEDED,
    Job,
    Outcome,
    render,
    topup,
)

log = logging.getLogger(__name__)


# Uploads and results of jobs; under results/ so the bucket's lifecycle rule expires them.
JOBS_PREFIX = "results/jobs/"


class JobBusy(Exception):
    """Another run holds the job's lease; deliver the message again later."""


class OutputRefused(InputError):
    """The caller's output URL refused the result (the SSRF guard, or a 4xx): the job fails."""

    code = "output_refused"


class OutputUnavailable(Unavailable):
    """The caller's output URL gave no answer or a 5xx: the job is tried again."""

    code = "output_unavailable"


# Failures of the output rather than the input (Adobe's errorCode 422404): a format that
# cannot hold the result (a PSD or WebP too wide), or the caller's output URL refusing it.
OUTPUT_CODES = ("psd_unsupported", "invalid_format", OutputRefused.code)


def result_key(job_id: str, extension: str) -> str:
    return f"{JOBS_PREFIX}{job_id}/result.{extension}"


def source_key(job_id: str, attempt: str) -> str:
    """Where one submission's uploaded bytes go: unique per submission (`attempt`, a
    random id), so a second submission of the same job id (an Idempotency-Key race)
    never replaces the bytes the stored job points to."""
    return f"{JOBS_PREFIX}{job_id}/source-{attempt}"


def result_url(blobs: BlobStore, job: Job, expires_in: int) -> str:
    """A URL that GETs the job's result for `expires_in` seconds; "" before it has one.

    The one place both the status route (through `Jobs.result_url`) and the webhook
    get it from. Raises InvalidObjectKey."""
    if not job.result or "key" not in job.result:  # none yet, or written to the caller's URL
        return ""
    return blobs.url(job.result["key"], expires_in, job.base_url)


def upload_key(account: str, upload_id: str) -> str:
    """Where a presigned upload lands: under its account, so no other account can name it."""
    owner = hashlib.sha256(account.encode()).hexdigest()[:16]
    return f"{JOBS_PREFIX}uploads/{owner}/{upload_id}"


class Worker:
    """Everything a run needs: the job store, the blob store, and the process's metering door.

    The model, the limits (CUTOUT_MAX_MEGAPIXELS, CUTOUT_MAX_BYTES), the workload
    bound and the limiter live in `meter` (the one the API's requests use): the cut
    goes through it unmetered, as the job was charged at accept, and top-ups and
    refunds go through it too. `webhooks` is the webhook queue a finished job's callback
    is handed to (queues.open_webhook_queue); None: callbacks are not delivered.
    """

    def __init__(self, store: JobStore, blobs: BlobStore, meter: Meter, cfg: Settings,
                 clock: Callable[[], float] = time.time, webhooks: JobQueue | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.meter = meter
        self.cfg = cfg
        self.clock = clock
        self.webhooks = webhooks

    def load(self, job_id: str) -> Job | None:
        item = self.store.get_job(job_id)
        return Job.from_item(item) if item else None

    def run(self, message: JobMessage) -> Outcome:
        """Process one delivery; raises JobBusy or a server error to have it delivered again."""
        job = self.load(message.job_id)
        if job is None:
            log.warning("job message for an unknown job dropped", extra={"job_id": message.job_id})
            return Outcome(message.job_id, "dropped", "unknown job")
        if job.status in FINISHED:
            if job.webhook_pending:  # its webhook could not be queued when it ended
                self._queue_webhook(job)
                return Outcome(job.job_id, "webhook queued", f"already {job.status}")
            log.info("duplicate job message dropped", extra={"job_id": job.job_id,
                                                             "status": job.status})
            return Outcome(job.job_id, "dropped", f"already {job.status}")
        now = self.clock()
        if job.status == RUNNING and job.lease_until > now:
            raise JobBusy(f"job {job.job_id} is running elsewhere until {job.lease_until}")
        if job.attempts >= self.cfg.job_max_attempts:
            return self._finish(job, FAILED, error={
                "errorCode": INTERNAL_ERROR, "reason": "internal_error",
                "message": f"The job failed {job.attempts} times on the server; it was not charged."})
        claimed = job.moved(now, status=RUNNING, token=uuid.uuid4().hex, attempts=job.attempts + 1,
                            lease_until=int(now) + self.cfg.job_lease_seconds)
        if not self.store.swap_job(claimed.item(), job.version):
            raise JobBusy(f"job {job.job_id} was claimed by another run")
        log.info("job started", extra={"job_id": job.job_id, "attempt": claimed.attempts})
        try:
            data, header = self._read(claimed)
            claimed = self._charge_rest(claimed, header.megapixels)
            self._admit_rest(claimed)
            product = render.make(data, claimed.options, meter=self.meter, header=header)
            megapixels = header.megapixels
            result = self._deliver(claimed, product)
        except CutoutError as exc:
            if exc.retryable:  # storage unavailable and the like: the server's failure
                self._release(claimed)
                raise
            # an output its format cannot hold (a PSD or WebP too wide), or the caller's
            # output URL refusing it: 422404
            code = OUTPUT_ERROR if exc.code in OUTPUT_CODES else INPUT_ERROR
            if isinstance(exc, topup.RateLimitedAtProcessing):
                code = RATE_LIMIT_ERROR
            return self._finish(claimed, FAILED, error={
                "errorCode": code, "reason": exc.code, "message": exc.message})
        except BaseException:
            self._release(claimed)
            raise
        return self._finish(claimed, SUCCEEDED, megapixels=megapixels, result=result)

    def _deliver(self, job: Job, product: render.Product) -> dict[str, str]:
        """Put the product where the job says: the blob store, or the caller's presigned URL
        (`job.destination`, a PUT under the SSRF guard within CUTOUT_FETCH_TIMEOUT).

        Raises OutputRefused (not retried: the URL is refused, or answers a 4xx),
        OutputUnavailable (retried: no answer, or a 5xx) or BlobUnavailable."""
        if job.destination is None:
            key = result_key(job.job_id, product.extension)
            self.blobs.put(key, product.data, product.media_type, {"job-id": job.job_id})
            return {"key": key, "media_type": product.media_type}
        url = job.destination["url"]
        # An Azure SAS URL takes a PUT only as a block blob (Azure's Put Blob).
        extra = {"x-ms-blob-type": "BlockBlob"} if job.destination.get("storage") == "azure" else {}
        try:
            status = fetch.put(url, product.data, product.media_type, headers=extra,
                               timeout=self.cfg.fetch_timeout,
                               allow_hosts=self.cfg.fetch_allow_hosts)
        except FetchRefused as exc:
            raise OutputRefused(f"The output URL was refused: {exc.message}") from None
        except FetchError as exc:
            raise OutputUnavailable(f"The output URL did not take the result: {exc.message}") from None
        if status >= 500:
            raise OutputUnavailable(f"The output URL answered HTTP {status}; the job will be "
                                    "retried.")
        if not 200 <= status < 300:
            raise OutputRefused(f"The output URL answered HTTP {status} to the PUT of the result "
                                "(an expired or wrongly signed presigned URL?).")
        return {"url": url, "media_type": product.media_type}

    def _charge_rest(self, job: Job, megapixels: float) -> Job:
        """Record in the job what it still owes for its real size (a top-up charge), before
        it is admitted; returns the job as stored. Raises JobBusy if another run took the
        job meanwhile, StoreUnavailable."""
        rest = topup.rest_of(job, megapixels, self.clock())
        if rest is None or job.extra_charge is not None:
            return job
        recorded = topup.recorded(job, rest, self.clock())
        if not self.store.swap_job(recorded.item(), job.version):
            raise JobBusy(f"job {job.job_id} was claimed by another run")
        return recorded

    def _admit_rest(self, job: Job) -> None:
        """Admit the job's recorded top-up (applied once per job, however often this runs).

        Raises topup.RateLimitedAtProcessing (nothing more charged) or StoreUnavailable (the
        next delivery admits the recorded charge again)."""
        if job.extra_charge is None:
            return
        rest = Charge(**job.extra_charge)
        topup.admit_rest(self.meter, job, rest, self.clock())
        log.info("job charged its real size", extra={"job_id": job.job_id, "weight": rest.weight})

    def _read(self, job: Job) -> tuple[bytes, images.Header]:
        """The source's bytes and checked header (ImageTooLarge, fetch and image errors); an
        upload's header was read and checked at accept, and is not read again."""
        limits = self.meter.limits
        if "key" in job.source:
            # A presigned PUT is not size-bounded: look before reading it into memory.
            try:
                data = read_blob(self.blobs, job.source["key"], limits.max_bytes).data
            except BlobNotFound:  # never PUT, or the id is another account's: say so, not the key
                raise InputError("Nothing was uploaded under this uploadId for this API key: PUT the "
                                 "image to the job's presigned uploadUrl before submitting the job.",
                                 code="upload_not_found") from None
        else:
            data = fetch.fetch(job.source["url"], max_bytes=limits.max_bytes,
                               timeout=self.cfg.fetch_timeout,
                               max_redirects=self.cfg.fetch_max_redirects,
                               allow_hosts=self.cfg.fetch_allow_hosts).data
        if job.header is not None:
            return data, images.Header(**job.header)
        return data, images.read_header(data, limits)

    def _release(self, job: Job) -> None:
        """Give the claim back so the next delivery may run the job at once."""
        try:
            self.store.swap_job(job.moved(self.clock(), status=PENDING, token="",
                                          lease_until=0).item(), job.version)
        except StoreUnavailable:
            log.error("job claim not released; it frees itself when the lease ends",
                      extra={"job_id": job.job_id})
        log.warning("job run failed on the server; it will be retried",
                    extra={"job_id": job.job_id, "attempt": job.attempts})

    def _finish(self, job: Job, status: str, **changes: Any) -> Outcome:
        done = job.moved(self.clock(), status=status, lease_until=0,
                         webhook_pending=bool(job.callback_url) and self.webhooks is not None,
                         **changes)
        if not self.store.swap_job(done.item(), job.version):
            log.warning("job finished elsewhere; this run's outcome dropped",
                        extra={"job_id": job.job_id})
            return Outcome(job.job_id, "dropped", "finished by another run")
        for charge in done.charges():  # the job decides its charges: kept, or given back
            if status == FAILED:
                self.meter.refund(charge)
            else:
                self.meter.settle(charge)
        if "key" in done.source:  # the upload has served its purpose
            try:
                self.blobs.delete(done.source["key"])
            except CutoutError:
                log.warning("job upload not deleted", extra={"job_id": job.job_id})
        telemetry.job_finished(status, self.clock() - done.created)
        log.info("job finished", extra={"job_id": job.job_id, "status": status,
                                        "code": (done.error or {}).get("reason")})
        if done.webhook_pending:
            self._queue_webhook(done)
        elif done.callback_url:
            log.error("webhook not queued: no webhook queue", extra={"job_id": job.job_id})
        return Outcome(job.job_id, status, (done.error or {}).get("reason", ""))

    def _queue_webhook(self, job: Job) -> None:
        """Hand the finished job's webhook to the webhook queue, which delivers and retries
        it (jobs/webhook.py): a hanging receiver never holds this worker. Then the job is
        no longer `webhook_pending`.

        Raises the queue's Unavailable (QueueFull, QueueUnavailable) when it cannot take
        it: the job's status stands, and the job's message, delivered again, queues it then
        (at least once: a receiver may see a webhook twice, the same signed body)."""
        if self.webhooks is None:  # a worker configured without one: nothing to hand it to
            log.error("webhook not queued: no webhook queue", extra={"job_id": job.job_id})
            return
        try:
            self.webhooks.send(JobMessage(job.job_id, job.account))
        except CutoutError as exc:  # QueueFull, QueueUnavailable
            log.error("webhook not queued; the job's message will queue it again",
                      extra={"job_id": job.job_id, "code": exc.code})
            raise
        try:
            # its status document unchanged (modifiedTime is when it ended)
            handed = dataclasses.replace(job, version=job.version + 1, webhook_pending=False)
            self.store.swap_job(handed.item(), job.version)
        except StoreUnavailable:
            log.warning("webhook queued but not marked; a repeated job message may queue it again",
                        extra={"job_id": job.job_id})
