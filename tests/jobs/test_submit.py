"""Accepting jobs (jobs/submit.py) over the real local adapters: SQLite records, a blob folder."""
from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image

from cutout.blobs.local import LocalBlobStore
from cutout.jobs import JobOptions
from cutout.jobs.submit import Jobs
from cutout.jobs.worker import JOBS_PREFIX, Worker
from cutout.queues import JobMessage
from cutout.engine import images
from cutout.metering import Meter
from cutout.queues.local import LocalJobQueue
from cutout.stores.sqlite import SqliteStore


@pytest.fixture
def jobs(base_settings, tmp_path):
    """Jobs whose queue's runner does nothing: the test runs the worker itself."""
    cfg = replace(base_settings, table="", data_dir=str(tmp_path))
    queue = LocalJobQueue(lambda message: None, workers=1)
    store = SqliteStore(tmp_path / "cutout.sqlite3")
    yield Jobs(store, LocalBlobStore(tmp_path / "blobs", b"secret"), queue, cfg)
    queue.close()


def test_a_same_key_race_keeps_the_first_submissions_bytes(jobs, segmenter, astronaut_jpeg,
                                                           coffee_jpeg):
    """Two requests with one Idempotency-Key both reserve before either job exists; the
    second's upload must not replace the first's, whichever order the writes land in."""
    first_id, none_yet = jobs.reserve("acct", "same-key")
    second_id, still_none = jobs.reserve("acct", "same-key")
    assert first_id == second_id and none_yet is None and still_none is None
    first, created = jobs.accept(first_id, account="acct", options=JobOptions(format="png"),
                                 upload=astronaut_jpeg)
    assert created
    second, created_again = jobs.accept(second_id, account="acct", options=JobOptions(format="png"),
                                        upload=coffee_jpeg)
    assert not created_again and second.source == first.source
    stored = jobs.get(first_id, "acct")
    assert jobs.blobs.get(stored.source["key"]).data == astronaut_jpeg
    # the loser's copy is gone: one upload under the job
    assert jobs.blobs.list(f"{JOBS_PREFIX}{first_id}/") == [stored.source["key"]]
    # and the job cuts out the first photo, not the second
    limits = images.Limits(jobs.cfg.max_megapixels, jobs.cfg.max_bytes)
    worker = Worker(jobs.store, jobs.blobs, Meter(segmenter, limits), jobs.cfg)
    outcome = worker.run(JobMessage(first_id))
    assert outcome.action == "succeeded", outcome
    done = jobs.get(first_id, "acct")
    result = Image.open(io.BytesIO(jobs.blobs.get(done.result["key"]).data))
    assert result.size == Image.open(io.BytesIO(astronaut_jpeg)).size
    assert result.size != Image.open(io.BytesIO(coffee_jpeg)).size
    assert jobs.blobs.list(f"{JOBS_PREFIX}{first_id}/source") == []  # the upload served its purpose
