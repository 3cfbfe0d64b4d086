"""A job's top-up (the rest of its real weight) is charged once, whatever crashes around it (item 9).

A presigned-upload job is admitted at accept weighing 1 megapixel; the worker
records the rest in the job, then admits it. A worker that crashes after the
record (before or after the admission) leaves the next delivery to admit the
recorded charge again: the store applies it once. Real SQLite store and blob
folder, the real model.
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace

import pytest

from cutout.accounts.keys import Account, minute_of, month_of
from cutout.accounts.ratelimit import Limiter
from cutout.blobs.local import LocalBlobStore
from cutout.engine import images
from cutout.jobs import SUCCEEDED, Job, JobOptions
from cutout.jobs.worker import Worker, upload_key
from cutout.metering import Meter
from cutout.queues import JobMessage
from cutout.stores.sqlite import SqliteStore


@pytest.fixture
def worker(base_settings, segmenter, tmp_path) -> Worker:
    cfg = replace(base_settings, table="", data_dir=str(tmp_path))
    store = SqliteStore(tmp_path / "cutout.sqlite3")
    meter = Meter(segmenter, images.Limits(cfg.max_megapixels, cfg.max_bytes), Limiter(store))
    return Worker(store, LocalBlobStore(tmp_path / "blobs", b"secret"), meter, cfg)


def presigned_job(worker: Worker, data: bytes) -> Job:
    """A job as the API leaves it for a presigned upload: charged 1 megapixel, size unknown."""
    account = Account("acct", "key", "pro", 100, 100.0)
    ticket = worker.meter.admit(account, 1.0, 1.0, job="job-1")
    assert ticket is not None and ticket.charge is not None
    worker.blobs.put(upload_key(account.id, "up-1"), data, "image/jpeg")
    now = time.time()
    job = Job(job_id="job-1", account=account.id, options=JobOptions(format="png"),
              source={"key": upload_key(account.id, "up-1")}, created=now, modified=now,
              expires=int(now) + 3600, charge=asdict(ticket.charge), mp_per_minute=100)
    worker.store.create_job(job.item())
    return job


def weight_charged(worker: Worker) -> int:
    minute = minute_of(time.time())
    return sum(worker.store.window("acct", m).used for m in (minute - 1, minute))


@pytest.mark.parametrize("crashed_after_admission", [False, True])
def test_a_recorded_top_up_is_charged_once_when_the_job_is_delivered_again(
        worker, big_jpeg, crashed_after_admission) -> None:
    job = presigned_job(worker, big_jpeg)  # 2.56 MP: weighs 3; 1 charged at accept
    recorded = worker._charge_rest(job, 2.56)  # the first run recorded the rest...
    if crashed_after_admission:
        worker._admit_rest(recorded)  # ...and admitted it, then died
    assert weight_charged(worker) == (3 if crashed_after_admission else 1)

    outcome = worker.run(JobMessage("job-1"))  # the message comes back
    assert outcome.action == SUCCEEDED
    assert weight_charged(worker) == 3  # 1 at accept + 2 for its real size, once
    usage = worker.store.usage("acct", month_of(time.time()))
    assert (usage.calls, usage.credits) == (1, 1.0)
    assert worker.store.unsettled() == []  # both charges stand: the job succeeded
