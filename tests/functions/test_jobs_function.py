"""The deployed shape of jobs: API function + SQS + jobs function, on moto's server and dynalite.

The API handler (Mangum) gets HTTP API events and really sends the job message
to SQS (moto's server over HTTP); the test receives it as Lambda's SQS event
source would and invokes the jobs handler with it. Results land in S3 and come
back by presigned URL. Failure paths: S3 failing mid-job (the message comes
back and the job completes once), duplicate delivery (dropped: one result, one
charge), and a malformed message.
"""
from __future__ import annotations

import importlib.util
import io
import json
import sys
import time
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
from PIL import Image

from cutout.accounts.keys import month_of
from cutout.config import settings
from photos import assert_subject_found

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "events"))
from make_events import BOUNDARY, http_event, multipart  # noqa: E402

API = ROOT / "functions" / "api" / "handler.py"
JOBS = ROOT / "functions" / "jobs" / "handler.py"


class LambdaContext:
    function_name = "cutout-JobsFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cutout-JobsFunction"
    memory_limit_in_mb = 3008
    log_group_name = "/aws/lambda/cutout-jobs"
    log_stream_name = "2026/11/30/[$LATEST]0123456789abcdef"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def deployed(moto_server, dynamo_table, monkeypatch):
    """A queue (1 s visibility, so a failed message returns quickly), a table, both handlers."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex[:8]}",
                                 Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    bucket = f"cutout-jobs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CUTOUT_TABLE", dynamo_table)
    monkeypatch.setenv("CUTOUT_BUCKET", bucket)
    monkeypatch.setenv("CUTOUT_JOB_QUEUE_URL", queue_url)
    monkeypatch.setenv("CUTOUT_ALLOW_ANONYMOUS", "0")
    monkeypatch.setenv("CUTOUT_FETCH_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    settings.cache_clear()
    jobs = load(JOBS, f"jobs_handler_{bucket}")
    api = load(API, f"api_handler_{bucket}")
    key = api.app.state.services.accounts.create_key(
        "mega", owner="deployed", mp_per_minute=100_000, monthly_credits=100_000)[0]
    yield api, jobs, sqs, queue_url, bucket, key
    settings.cache_clear()


def call(api, method: str, path: str, key: str, body: bytes | None = None, ctype: str = "") -> tuple[int, dict]:
    event = http_event(method, path, body=body, content_type=ctype, base64_body=body is not None)
    event["headers"]["authorization"] = f"Bearer {key}"
    answer = api.handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def receive(sqs, queue_url: str, wait: float = 5.0) -> dict:
    """One message as the SQS event source hands it to Lambda."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                  AttributeNames=["All"]).get("Messages", [])
        if got:
            m = got[0]
            return {"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs"}]}
    raise AssertionError("no message on the queue")


def deliver(jobs, sqs, queue_url: str, event: dict) -> list[dict]:
    """Invoke the jobs function; delete the message unless reported failed (as Lambda does)."""
    failures = jobs.handler(event, LambdaContext())["batchItemFailures"]
    record = event["Records"][0]
    if not any(f["itemIdentifier"] == record["messageId"] for f in failures):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    return failures


def credits(api, key: str) -> float:
    services = api.app.state.services
    return services.store.usage(services.accounts.authenticate(key).id, month_of(time.time())).credits


def test_upload_queued_run_by_the_jobs_function_and_served_from_s3(deployed, astronaut_jpeg):
    api, jobs, sqs, queue_url, bucket, key = deployed
    boto3.client("s3").create_bucket(Bucket=bucket)
    body = multipart("image", "astronaut.jpg", astronaut_jpeg, "image/jpeg",
                     options=json.dumps({"output": {"mediaType": "image/png"}}))
    status, accepted = call(api, "POST", "/v2/remove-background", key, body,
                            f"multipart/form-data; boundary={BOUNDARY}")
    assert status == 202, accepted
    job_id = accepted["jobId"]
    assert accepted["statusUrl"].endswith(f"/v2/status/{job_id}")
    status, pending = call(api, "GET", f"/v2/status/{job_id}", key)
    assert status == 200 and pending["status"] == "pending"
    event = receive(sqs, queue_url)
    assert json.loads(event["Records"][0]["body"]) == {"jobId": job_id}
    # grouped by account: SQS's fair queue hands other accounts' jobs out first when
    # this one has more in flight or takes more of the function's time
    account = api.app.state.services.accounts.authenticate(key).id
    assert event["Records"][0]["attributes"]["MessageGroupId"] == account
    assert deliver(jobs, sqs, queue_url, event) == []
    status, done = call(api, "GET", f"/v2/status/{job_id}", key)
    assert done["status"] == "succeeded", done
    url = done["result"]["outputs"][0]["destination"]["url"]
    assert f"/{bucket}/results/jobs/{job_id}/result.png" in url and "X-Amz-Signature" in url
    download = httpx.get(url)
    assert download.status_code == 200
    img = Image.open(io.BytesIO(download.content))
    assert img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(__import__("numpy").asarray(img.getchannel("A")), "astronaut")
    assert credits(api, key) == 1


def test_s3_failing_mid_job_retries_the_message_and_the_job_completes_once(
        deployed, web_server, coffee_jpeg):
    from local_http import Route

    api, jobs, sqs, queue_url, bucket, key = deployed
    web_server.routes["/coffee.jpg"] = Route(200, coffee_jpeg, {"Content-Type": "image/jpeg"})
    payload = json.dumps({"image": {"source": {"url": web_server.url("/coffee.jpg")}},
                          "output": {"mediaType": "image/png"}}).encode()
    status, accepted = call(api, "POST", "/v2/remove-background", key, payload, "application/json")
    assert status == 202
    job_id = accepted["jobId"]
    first = receive(sqs, queue_url)
    # The bucket does not exist yet: storing the result fails, a server failure.
    failures = deliver(jobs, sqs, queue_url, first)
    assert failures == [{"itemIdentifier": first["Records"][0]["messageId"]}]
    assert call(api, "GET", f"/v2/status/{job_id}", key)[1]["status"] == "pending"
    boto3.client("s3").create_bucket(Bucket=bucket)
    again = receive(sqs, queue_url)  # back after the visibility timeout
    assert again["Records"][0]["messageId"] == first["Records"][0]["messageId"]
    assert int(again["Records"][0]["attributes"]["ApproximateReceiveCount"]) == 2
    assert deliver(jobs, sqs, queue_url, again) == []
    done = call(api, "GET", f"/v2/status/{job_id}", key)[1]
    assert done["status"] == "succeeded"
    # Delivered once more (SQS is at-least-once): dropped, nothing cut, charged or refunded.
    assert jobs.handler(again, LambdaContext()) == {"batchItemFailures": []}
    assert call(api, "GET", f"/v2/status/{job_id}", key)[1]["modifiedTime"] == done["modifiedTime"]
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"results/jobs/{job_id}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"results/jobs/{job_id}/result.png"]
    assert credits(api, key) == 1
    item = api.app.state.services.store.get_job(job_id)
    assert item.doc["attempts"] == 2


def test_a_failed_source_ends_the_job_failed_and_refunded_and_bad_messages_are_dropped(
        deployed):
    api, jobs, sqs, queue_url, bucket, key = deployed
    payload = json.dumps({"image": {"source": {"url": "http://localhost:9/private.jpg"}}}).encode()
    status, accepted = call(api, "POST", "/v2/remove-background", key, payload, "application/json")
    assert status == 202 and credits(api, key) == 1
    assert deliver(jobs, sqs, queue_url, receive(sqs, queue_url)) == []
    failed = call(api, "GET", f"/v2/status/{accepted['jobId']}", key)[1]
    assert failed["status"] == "failed"
    assert failed["errorDetails"][0]["errorCode"] == "400401"
    assert credits(api, key) == 0
    event = json.loads((ROOT / "events" / "sqs-job.json").read_text())
    assert jobs.handler(event, LambdaContext()) == {"batchItemFailures": []}  # unknown job
    event["Records"][0]["body"] = "not json"
    assert jobs.handler(event, LambdaContext()) == {"batchItemFailures": []}


def test_a_presigned_s3_upload_feeds_a_job(deployed, coffee_jpeg):
    api, jobs, sqs, queue_url, bucket, key = deployed
    boto3.client("s3").create_bucket(Bucket=bucket)
    status, upload = call(api, "POST", "/v2/uploads", key)
    assert status == 201 and "X-Amz-Signature" in upload["uploadUrl"]
    assert httpx.put(upload["uploadUrl"], content=coffee_jpeg).status_code == 200  # no credentials
    payload = json.dumps({"image": {"source": {"uploadId": upload["uploadId"]}},
                          "output": {"mediaType": "image/png"}}).encode()
    status, accepted = call(api, "POST", "/v2/remove-background", key, payload, "application/json")
    assert status == 202
    assert deliver(jobs, sqs, queue_url, receive(sqs, queue_url)) == []
    done = call(api, "GET", f"/v2/status/{accepted['jobId']}", key)[1]
    assert done["status"] == "succeeded"
    img = Image.open(io.BytesIO(httpx.get(done["result"]["outputs"][0]["destination"]["url"]).content))
    assert img.size == (600, 400)
    # the upload is deleted once its job has ended; only the result stays
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="results/jobs/")
    assert [o["Key"] for o in listed["Contents"]] == [f"results/jobs/{accepted['jobId']}/result.png"]


def test_a_redelivered_url_job_charges_its_real_size_once(deployed, web_server, big_jpeg,
                                                          same_minute):
    from cutout.accounts.keys import minute_of
    from local_http import Route

    api, jobs, sqs, queue_url, bucket, key = deployed
    store = api.app.state.services.store
    account = api.app.state.services.accounts.authenticate(key).id
    web_server.routes["/big.jpg"] = Route(200, big_jpeg, {"Content-Type": "image/jpeg"})
    payload = json.dumps({"image": {"source": {"url": web_server.url("/big.jpg")}},
                          "output": {"mediaType": "image/png"}}).encode()
    start = time.time()
    status, accepted = call(api, "POST", "/v2/remove-background", key, payload, "application/json")
    assert status == 202

    def window() -> int:
        return sum(store.window(account, m).used
                   for m in range(minute_of(start), minute_of(time.time()) + 1))

    assert window() == 1  # the size is unknown at accept
    first = receive(sqs, queue_url)
    # No bucket yet: the header is read and the rest charged, then storing the result fails.
    assert deliver(jobs, sqs, queue_url, first) == [
        {"itemIdentifier": first["Records"][0]["messageId"]}]
    assert window() == 3
    assert store.get_job(accepted["jobId"]).doc["extra_charge"]["weight"] == 2
    boto3.client("s3").create_bucket(Bucket=bucket)
    again = receive(sqs, queue_url)
    assert again["Records"][0]["messageId"] == first["Records"][0]["messageId"]
    assert deliver(jobs, sqs, queue_url, again) == []
    assert call(api, "GET", f"/v2/status/{accepted['jobId']}", key)[1]["status"] == "succeeded"
    assert window() == 3  # charged its 3 megapixels once, not again on the redelivery
    assert credits(api, key) == 1
