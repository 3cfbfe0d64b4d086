"""A job is queued once (item 10): a send whose answer is lost is not sent again.

moto's SQS server sits behind the fault proxy of fixtures_aws, which forwards the
SendMessage and holds its answer back past the client's read timeout: the message
is queued, the client hears nothing. The job is failed and refunded, one message
is in the queue, and the worker that receives it drops it.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import replace

import boto3
import pytest

from cutout.blobs.local import LocalBlobStore
from cutout.jobs import FAILED, JobOptions
from cutout.jobs.submit import Jobs
from cutout.queues import JobMessage, QueueUnavailable
from cutout.queues.sqs import SqsJobQueue
from cutout.stores.sqlite import SqliteStore
from fixtures_aws import ThrottlingProxy


@pytest.fixture
def slow_sqs(moto_server, monkeypatch):
    """A queue in moto, and an SQS endpoint (the proxy) that can hold answers back."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    queue_url = boto3.client("sqs").create_queue(QueueName=f"once-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    proxy = ThrottlingProxy(int(moto_server.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.endpoint)
    yield queue_url, proxy
    proxy.close()


def messages(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    found = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def test_a_send_whose_answer_is_lost_is_not_sent_again(slow_sqs, base_settings, tmp_path) -> None:
    queue_url, proxy = slow_sqs
    queue = SqsJobQueue(queue_url, timeout=0.5)  # reads time out after 1 s
    proxy.delay(3.0, 1, "SendMessage")
    with pytest.raises(QueueUnavailable):
        queue.send(JobMessage("job-1"))
    assert proxy.throttled == ["SendMessage"]  # sent once, not resent
    assert messages(queue_url) == [{"jobId": "job-1"}]


def test_a_job_whose_message_is_lost_is_failed_and_its_message_dropped(
        slow_sqs, base_settings, segmenter, tmp_path) -> None:
    from cutout.engine import images
    from cutout.jobs.worker import Worker
    from cutout.metering import Meter

    queue_url, proxy = slow_sqs
    cfg = replace(base_settings, table="", data_dir=str(tmp_path))
    store = SqliteStore(tmp_path / "cutout.sqlite3")
    blobs = LocalBlobStore(tmp_path / "blobs", b"secret")
    jobs = Jobs(store, blobs, SqsJobQueue(queue_url, timeout=0.5), cfg)
    proxy.delay(3.0, 1, "SendMessage")
    with pytest.raises(QueueUnavailable):
        jobs.accept("job-2", account="acct", options=JobOptions(format="png"),
                    source_url="http://example.invalid/a.jpg")
    assert jobs.get("job-2", "acct").status == FAILED
    (message,) = messages(queue_url)
    worker = Worker(store, blobs, Meter(segmenter, images.Limits()), cfg)
    outcome = worker.run(JobMessage(message["jobId"]))
    assert (outcome.action, outcome.detail) == ("dropped", "already failed")
