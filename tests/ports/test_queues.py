"""The queue port: the local pool's fair order, redelivery and dead letters; SQS's groups.

The local pool runs real runners on its own threads; SQS is moto's server over HTTP.
"""
from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest

from cutout.queues import JobMessage
from cutout.queues.local import LocalJobQueue
from cutout.queues.sqs import SqsJobQueue


class Recorder:
    """A runner that records what it ran, in order; `hold` keeps a job id running until released."""

    def __init__(self, seconds: dict[str, float] | None = None) -> None:
        self.seconds = seconds or {}
        self.ran: list[str] = []
        self.held: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}
        self.done = threading.Event()
        self.expected = 0

    def hold(self, job_id: str) -> threading.Event:
        self.started[job_id] = threading.Event()
        self.held[job_id] = threading.Event()
        return self.held[job_id]

    def __call__(self, message: JobMessage) -> None:
        if message.job_id in self.held:
            self.started[message.job_id].set()
            assert self.held[message.job_id].wait(30)
        time.sleep(self.seconds.get(message.account, 0.0))
        self.ran.append(message.job_id)
        if len(self.ran) == self.expected:
            self.done.set()


def test_one_thread_takes_turns_across_accounts_not_arrival_order():
    runner = Recorder({"a": 0.05, "b": 0.01, "c": 0.01})
    pool = LocalJobQueue(runner, workers=1, capacity=16)
    release = runner.hold("a1")
    runner.expected = 7
    try:
        pool.send(JobMessage("a1", "a"))
        assert runner.started["a1"].wait(10)  # the only thread is busy with a's first job
        for job_id in ("a2", "a3", "a4", "b1", "c1", "b2"):
            pool.send(JobMessage(job_id, job_id[0]))
        time.sleep(0.2)
        release.set()
        assert runner.done.wait(30)
    finally:
        pool.close()
    # a has had the thread: b and c go first, then b's second (b has had 10 ms, a more).
    assert runner.ran == ["a1", "b1", "c1", "b2", "a2", "a3", "a4"]


def test_a_slow_job_running_on_one_thread_lets_another_account_take_the_next():
    runner = Recorder()
    pool = LocalJobQueue(runner, workers=2, capacity=16)
    slow, short = runner.hold("a1"), runner.hold("a2")
    runner.expected = 5
    try:
        pool.send(JobMessage("a1", "a"))
        pool.send(JobMessage("a2", "a"))
        assert runner.started["a1"].wait(10) and runner.started["a2"].wait(10)
        for job_id in ("a3", "a4", "b1"):
            pool.send(JobMessage(job_id, job_id[0]))
        short.set()  # a thread frees while a1 still trickles
        deadline = time.monotonic() + 10
        while len(runner.ran) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        slow.set()
        assert runner.done.wait(30)
    finally:
        pool.close()
    assert runner.ran[:2] == ["a2", "b1"]


def test_one_account_keeps_first_in_first_out():
    runner = Recorder({"x": 0.01})
    pool = LocalJobQueue(runner, workers=1, capacity=8)
    runner.expected = 4
    try:
        for job_id in ("x1", "x2", "x3", "x4"):
            pool.send(JobMessage(job_id, "x"))
        assert runner.done.wait(10)
    finally:
        pool.close()
    assert runner.ran == ["x1", "x2", "x3", "x4"] and pool.depth() == 0


def test_a_failing_message_is_delivered_again_then_dead_lettered():
    calls: list[float] = []

    def failing(message: JobMessage) -> None:
        calls.append(time.monotonic())
        raise RuntimeError("receiver down")

    pool = LocalJobQueue(failing, workers=1, redelivery_delay=0.05, max_receives=3)
    try:
        pool.send(JobMessage("j", "a"))
        deadline = time.monotonic() + 10
        while not pool.dead_letters and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
    finally:
        pool.close()
    assert len(calls) == 3 and list(pool.dead_letters) == [JobMessage("j", "a")]
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.1  # backoff doubles
    assert pool.depth() == 0


def test_a_message_that_succeeds_on_a_retry_is_not_dead_lettered():
    outcomes = [RuntimeError("503"), None]
    ran: list[str] = []

    def flaky(message: JobMessage) -> None:
        ran.append(message.job_id)
        failure = outcomes.pop(0)
        if failure:
            raise failure

    pool = LocalJobQueue(flaky, workers=1, redelivery_delay=0.01, max_receives=3)
    try:
        pool.send(JobMessage("j", "a"))
        deadline = time.monotonic() + 10
        while len(ran) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
    finally:
        pool.close()
    assert ran == ["j", "j"] and not pool.dead_letters


@pytest.fixture
def sqs(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    client = boto3.client("sqs")
    url = client.create_queue(QueueName=f"fair-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return client, url


@pytest.mark.parametrize("account, group", [
    ("0f3a9c21d4e5b6a7", "0f3a9c21d4e5b6a7"),
    ("rapidapi:jo", "rapidapi:jo"),
    ("rapidapi:Jo Ann Müller", "sha256:"),  # SQS takes printable ASCII only: its digest
    ("", None),  # no account: a tenant of its own
])
def test_sqs_messages_are_grouped_by_account_for_a_fair_queue(sqs, account, group):
    client, url = sqs
    SqsJobQueue(url).send(JobMessage("job-1", account))
    (got,) = client.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"],
                                    WaitTimeSeconds=1)["Messages"]
    assert got["Body"] == '{"jobId": "job-1"}'
    sent = got["Attributes"].get("MessageGroupId")
    if group is None:
        assert sent is None
    else:
        assert sent.startswith(group) and len(sent) <= 128
        assert sent == JobMessage("job-1", account).group_id()
