"""Webhooks deployed: the jobs function queues them on SQS, the webhooks function delivers them.

The API handler accepts a job with a callback, the jobs handler runs it (as
Lambda's SQS event source would invoke it) and queues the webhook; the
webhooks handler makes one attempt per delivery. A receiver that fails is
retried by the queue (visibility timeout) and, after the redrive policy's
maxReceiveCount, the message is in the dead-letter queue. SQS is moto's
server, the store dynalite, receivers real HTTP servers on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import boto3
import pytest

from cutout.config import settings
from functions.test_jobs_function import JOBS, LambdaContext, call, deliver, load, receive
from local_http import HeldHooks, Hooks

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "functions" / "api" / "handler.py"
WEBHOOKS = ROOT / "functions" / "webhooks" / "handler.py"
SECRET = "whsec-deployed"


@pytest.fixture
def deployed(moto_server, dynamo_table, monkeypatch):
    """The job queue, the webhook queue with its dead-letter queue (two receives, 1 s
    visibility), a table, a bucket, and the three handlers."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    sqs = boto3.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    jobs_url = sqs.create_queue(QueueName=f"jobs-{suffix}", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName=f"webhooks-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    hooks_url = sqs.create_queue(QueueName=f"webhooks-{suffix}", Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    bucket = f"cutout-hooks-{suffix}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    for name, value in {"CUTOUT_TABLE": dynamo_table, "CUTOUT_BUCKET": bucket,
                        "CUTOUT_JOB_QUEUE_URL": jobs_url, "CUTOUT_WEBHOOK_QUEUE_URL": hooks_url,
                        "CUTOUT_WEBHOOK_SECRET": SECRET, "CUTOUT_ALLOW_ANONYMOUS": "0",
                        "CUTOUT_FETCH_ALLOW_HOSTS": "127.0.0.1", "CUTOUT_FETCH_TIMEOUT": "3",
                        "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    handlers = (load(API, f"api_handler_{suffix}"), load(JOBS, f"jobs_handler_{suffix}"),
                load(WEBHOOKS, f"webhooks_handler_{suffix}"))
    key = handlers[0].app.state.services.accounts.create_key(
        "mega", owner="hooked", mp_per_minute=100_000, monthly_credits=100_000)[0]
    yield handlers, sqs, jobs_url, hooks_url, dlq_url, key
    settings.cache_clear()


def run_job(api, jobs, sqs, jobs_url: str, key: str, hook_url: str, photo: bytes) -> str:
    """Post a job with a callback and run it through the jobs function; its id."""
    from make_events import BOUNDARY, multipart

    body = multipart("image", "cup.jpg", photo, "image/jpeg",
                     options=json.dumps({"callback": {"url": hook_url}}))
    status, accepted = call(api, "POST", "/v2/remove-background", key, body,
                            f"multipart/form-data; boundary={BOUNDARY}")
    assert status == 202, accepted
    assert deliver(jobs, sqs, jobs_url, receive(sqs, jobs_url)) == []
    return accepted["jobId"]


def test_the_job_ends_first_and_a_failing_receiver_gets_it_on_a_retry(deployed, coffee_jpeg):
    (api, jobs, hooks_fn), sqs, jobs_url, hooks_url, dlq_url, key = deployed
    hooks = Hooks([503, 200])
    try:
        job_id = run_job(api, jobs, sqs, jobs_url, key, hooks.url, coffee_jpeg)
        assert hooks.calls == []  # the jobs function only queued it
        assert call(api, "GET", f"/v2/status/{job_id}", key)[1]["status"] == "succeeded"
        first = receive(sqs, hooks_url)
        assert json.loads(first["Records"][0]["body"]) == {"jobId": job_id}
        account = api.app.state.services.accounts.authenticate(key).id
        assert first["Records"][0]["attributes"]["MessageGroupId"] == account  # a fair queue too
        assert deliver(hooks_fn, sqs, hooks_url, first) == [
            {"itemIdentifier": first["Records"][0]["messageId"]}]  # 503: delivered again later
        again = receive(sqs, hooks_url)  # after the visibility timeout
        assert again["Records"][0]["messageId"] == first["Records"][0]["messageId"]
        assert deliver(hooks_fn, sqs, hooks_url, again) == []  # 200: deleted
    finally:
        hooks.close()
    assert len(hooks.calls) == 2
    headers, body = hooks.calls[-1]
    sent = json.loads(body)
    assert sent["jobId"] == job_id and sent["status"] == "succeeded"
    assert "X-Amz-Signature" in sent["result"]["outputs"][0]["destination"]["url"]
    fields = dict(part.split("=", 1) for part in headers["X-Cutout-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert sqs.receive_message(QueueUrl=hooks_url, WaitTimeSeconds=2).get("Messages", []) == []


def test_a_receiver_that_never_answers_ends_in_the_dead_letter_queue(deployed, coffee_jpeg):
    (api, jobs, hooks_fn), sqs, jobs_url, hooks_url, dlq_url, key = deployed
    silent = HeldHooks()  # holds every POST past CUTOUT_FETCH_TIMEOUT (3 s)
    try:
        job_id = run_job(api, jobs, sqs, jobs_url, key, silent.url, coffee_jpeg)
        for attempt in (1, 2):  # maxReceiveCount 2
            event = receive(sqs, hooks_url)
            assert int(event["Records"][0]["attributes"]["ApproximateReceiveCount"]) == attempt
            assert deliver(hooks_fn, sqs, hooks_url, event) == [
                {"itemIdentifier": event["Records"][0]["messageId"]}]
        # Visible again after its second failure, it is moved to the dead-letter queue
        # instead of being received a third time.
        assert sqs.receive_message(QueueUrl=hooks_url, WaitTimeSeconds=3).get("Messages", []) == []
        dead = receive(sqs, dlq_url)
        assert len(silent.calls) == 2 and silent.answered == 0
    finally:
        silent.close()
    assert json.loads(dead["Records"][0]["body"]) == {"jobId": job_id}
    assert call(api, "GET", f"/v2/status/{job_id}", key)[1]["status"] == "succeeded"
