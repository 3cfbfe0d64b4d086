"""Accepting a job: idempotency, the record, the upload, the message. Pure of HTTP.

The web dialect authenticates, validates and admits the charge; `Jobs` then
stores what the worker needs and queues the job id. `open_jobs` wires the
store, the result store and the queue (SQS or the local pool) together.
"""
from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..blobs import BlobStore
from ..config import Settings
from ..engine import images
from ..errors import CutoutError, Unavailable
from ..queues import JobMessage, JobQueue, open_queue
from ..stores import Charge, JobExists, JobStore, StoreUnavailable
from . import FAILED, INTERNAL_ERROR, PENDING, RUNNING, Job, JobOptions
from .worker import JobBusy, Worker, result_url, source_key, upload_key

log = logging.getLogger(__name__)


class Jobs:
    """Submit and look up jobs; `worker` is set when this process also runs them (local pool)."""

    def __init__(self, store: JobStore, blobs: BlobStore, queue: JobQueue | None, cfg: Settings,
                 worker: Worker | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.blobs = blobs
        self.queue = queue
        self.cfg = cfg
        self.worker = worker
        self.clock = clock

    def get(self, job_id: str, account: str) -> Job | None:
        """The job if it exists and belongs to `account` (another account's job is None too)."""
        item = self.store.get_job(job_id)
        if item is None:
            return None
        job = Job.from_item(item)
        return job if job.account == account else None

    def reserve(self, account: str, idempotency_key: str = "") -> tuple[str, Job | None]:
        """A new job id, or with an Idempotency-Key: the id it names and that job if it exists.

        Call before charging: a retried request whose first job exists is answered
        with that job and charged nothing.
        """
        job_id = str(uuid.uuid4())
        if not idempotency_key:
            return job_id, None
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        bound = self.store.claim_idempotency(f"{account}#{digest}", job_id,
                                             int(self.clock()) + self.cfg.job_ttl_seconds)
        return bound, self.get(bound, account)

    def upload_url(self, account: str, base_url: str = "") -> tuple[str, str]:
        """A new upload id and the presigned PUT URL it is sent to (CUTOUT_RESULT_URL_TTL)."""
        upload_id = str(uuid.uuid4())
        url = self.blobs.upload_url(upload_key(account, upload_id), self.cfg.result_url_ttl, base_url)
        return upload_id, url

    def accept(self, job_id: str, *, account: str, options: JobOptions,
               source_url: str = "", upload: bytes | None = None, upload_id: str = "",
               charge: Charge | None = None,
               callback_url: str = "", base_url: str = "", header: images.Header | None = None,
               mp_per_minute: int | None = None
               ) -> tuple[Job, bool]:
        """Store the job (and its upload) and queue it; returns (job, created now).

        The upload goes to a key of its own (`source_key`), so when two requests
        with one Idempotency-Key race to the same job id, the loser's bytes never
        replace the winner's: it learns JobExists, deletes its own copy and answers
        with the stored job.
        Raises QueueFull / QueueUnavailable (the job is then marked failed; the
        caller refunds), Unavailable (job id taken by another account, no queue),
        StoreUnavailable or BlobUnavailable.
        """
        now = self.clock()
        source = {"url": source_url}
        if upload_id:
            source = {"key": upload_key(account, upload_id)}
        elif upload is not None:
            key = source_key(job_id, uuid.uuid4().hex)
            self.blobs.put(key, upload, "application/octet-stream", {"job-id": job_id})
            source = {"key": key}
        job = Job(job_id=job_id, account=account, options=options, source=source, created=now,
                  modified=now, expires=int(now) + self.cfg.job_ttl_seconds,
                  charge=asdict(charge) if charge else None, callback_url=callback_url,
                  base_url=base_url, megapixels=header.megapixels if header else None,
                  header=asdict(header) if header else None,
                  mp_per_minute=mp_per_minute)
        try:
            self.store.create_job(job.item())
        except JobExists as exc:  # the same Idempotency-Key raced us: that job stands
            if upload is not None and not upload_id:
                self._drop_upload(source["key"], job_id)
            existing = self.get(job_id, account)
            if existing is None:  # not this account's: the caller refunds and answers 503
                raise Unavailable("The job id is taken; retry the request.",
                                  code="job_conflict") from exc
            return existing, False
        if self.queue is None:
            raise Unavailable("No job queue is configured.", code="queue_unavailable")
        try:
            self.queue.send(JobMessage(job_id, account))
        except CutoutError as exc:
            failed = job.moved(self.clock(), status=FAILED, error={
                "errorCode": INTERNAL_ERROR, "reason": exc.code, "message": exc.message})
            try:
                self.store.swap_job(failed.item(), job.version)
            except StoreUnavailable:  # the send's failure is what the caller must see
                log.error("queued job not marked failed", extra={"job_id": job_id})
            raise
        log.info("job accepted", extra={"job_id": job_id, "account": account,
                                        "mode": options.mode})
        return job, True

    def _drop_upload(self, key: str, job_id: str) -> None:
        """Delete a losing submission's copy of the upload (the bucket's lifecycle rule
        would expire it anyway)."""
        try:
            self.blobs.delete(key)
        except CutoutError:
            log.warning("duplicate job upload not deleted", extra={"job_id": job_id, "key": key})

    def result_url(self, job: Job) -> str:
        """The job's result URL, valid CUTOUT_RESULT_URL_TTL seconds ("" before a result)."""
        return result_url(self.blobs, job, self.cfg.result_url_ttl)

    # --- the local pool ---------------------------------------------------------------

    def run_local(self, message: JobMessage) -> None:
        """The local queue's runner: a busy job's duplicate message is dropped, not retried."""
        assert self.worker is not None
        try:
            self.worker.run(message)
        except JobBusy as busy:
            log.info("job message dropped: job busy", extra={"job_id": message.job_id,
                                                            "reason": str(busy)})

    def resume(self) -> int:
        """Queue the unfinished jobs again when the local pool starts (after a restart).

        A job left `running` was running in a process that stopped when no other
        process serves the data folder (`queues.local.start_turn`), so its claim is
        given back first; with other processes serving it (`cutout serve --workers`),
        only claims whose lease has run out are. A pending job another process holds
        too runs once: the claim is a compare-and-swap.
        """
        if self.queue is None or self.worker is None:
            return 0
        from ..queues.local import start_turn

        count = 0
        with start_turn(Path(self.cfg.data_dir)) as alone:
            for item in self.store.unfinished_jobs():
                if item.status == RUNNING:
                    job = Job.from_item(item)
                    if not alone and job.lease_until > self.clock():
                        continue  # running in a live process
                    released = job.moved(self.clock(), status=PENDING, token="", lease_until=0)
                    if not self.store.swap_job(released.item(), job.version):
                        continue
                try:
                    self.queue.send(JobMessage(item.job_id, item.doc["account"]))
                except CutoutError:
                    break  # the pool is full; the rest stay pending until the next start
                count += 1
        if count:
            log.info("pending jobs resumed", extra={"jobs": count})
        return count


def open_jobs(cfg: Settings, store: JobStore, blobs: BlobStore, worker: Worker) -> Jobs:
    """SQS (CUTOUT_JOB_QUEUE_URL; the jobs function runs them) or the in-process pool
    running `worker` (`make run`)."""
    if cfg.job_queue_url:
        return Jobs(store, blobs, open_queue(cfg), cfg)
    jobs = Jobs(store, blobs, None, cfg, worker=worker)
    jobs.queue = open_queue(cfg, jobs.run_local)
    return jobs
