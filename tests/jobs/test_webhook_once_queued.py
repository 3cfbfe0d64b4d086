"""A webhook queue that is down when a job ends loses nothing (issue 23: nothing lost).

The job ends `succeeded` (its charge settled, its status final) and is marked as having
a webhook still to queue; the worker's run raises, so the job's message comes back, and
that delivery queues the webhook of the finished job, once. SQS is moto's server behind
the fault proxy of fixtures_aws, which refuses the webhook queue's SendMessage as a
throttled endpoint does, past botocore's retries.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import replace

import boto3
import pytest

from cutout.blobs.local import LocalBlobStore
from cutout.engine import images
from cutout.jobs import SUCCEEDED, Job, JobOptions
from cutout.jobs.submit import Jobs
from cutout.jobs.worker import Worker
from cutout.metering import Meter
from cutout.queues import JobMessage, QueueUnavailable
from cutout.queues.local import LocalJobQueue
from cutout.queues.sqs import SqsJobQueue
from cutout.stores.sqlite import SqliteStore
from fixtures_aws import ThrottlingProxy
from local_http import Route


@pytest.fixture
def hooks_queue(moto_server, monkeypatch):
    """A webhook queue in moto, reached through a proxy that can refuse its sends."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    name = f"hooks-{uuid.uuid4().hex[:8]}"
    queue_url = boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    proxy = ThrottlingProxy(int(moto_server.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.endpoint)
    yield queue_url, name, proxy
    proxy.close()


def queued(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    found = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def test_a_webhook_the_queue_refused_is_queued_by_the_jobs_next_delivery(
        hooks_queue, base_settings, segmenter, tmp_path, web_server, coffee_jpeg) -> None:
    queue_url, name, proxy = hooks_queue
    web_server.routes["/in/coffee.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    cfg = replace(base_settings, table="", data_dir=str(tmp_path), fetch_allow_hosts=("127.0.0.1",))
    store = SqliteStore(tmp_path / "cutout.sqlite3")
    blobs = LocalBlobStore(tmp_path / "blobs", b"secret")
    jobs_queue = LocalJobQueue(lambda message: None)  # the job's own queue: not under test
    jobs = Jobs(store, blobs, jobs_queue, cfg)
    jobs.accept("job-hooked", account="acct", options=JobOptions(format="png"),
                source_url=web_server.url("/in/coffee.jpg"), callback_url="https://hooks.example/x")
    worker = Worker(store, blobs, Meter(segmenter, images.Limits()), cfg,
                    webhooks=SqsJobQueue(queue_url, timeout=1.0))

    proxy.throttle(50, "SendMessage", matching=name)  # past botocore's retries
    with pytest.raises(QueueUnavailable):
        worker.run(JobMessage("job-hooked", "acct"))
    ended = Job.from_item(store.get_job("job-hooked"))
    assert ended.status == SUCCEEDED and ended.webhook_pending and ended.result
    document = ended.status_document()
    proxy.throttle(0, "SendMessage")
    assert queued(queue_url) == []

    again = worker.run(JobMessage("job-hooked", "acct"))  # the message, delivered again
    assert (again.action, again.detail) == ("webhook queued", "already succeeded")
    assert [m["jobId"] for m in queued(queue_url)] == ["job-hooked"]
    handed = Job.from_item(store.get_job("job-hooked"))
    assert not handed.webhook_pending and handed.status_document() == document

    third = worker.run(JobMessage("job-hooked", "acct"))  # a duplicate: nothing more
    assert third.action == "dropped" and queued(queue_url) == []
    jobs_queue.close()
