"""With S3 or SQS stalled, every request ends within its deadline, 503 with Retry-After,
charged nothing (issue 23, item 8).

Each AWS client's timeouts and retries were per call: with S3 paused, stored-image
routes, downloads and job submits answered 503 after 40-44 s (3 attempts x 10 s),
past API Gateway's 30 s, so a deployed client got the gateway's bare 504; the
stored-images 503s had no Retry-After. Through a live server, moto's S3 and SQS
behind StallingProxy (tests/fixtures_aws.py): each route answers its dialect's 503
with Retry-After by CUTOUT_BACKEND_DEADLINE_SECONDS (cutout/deadline.py), and
the charge is taken back.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import replace

import boto3
import httpx
import pytest

from conftest import new_key
from local_http import AppServer

DEADLINE = 4.0
SLACK = 1.5  # the event loop, the refund, a retry's backoff


def usage(app, key: str) -> float:
    from cutout.accounts.keys import month_of

    account = app.state.services.accounts.authenticate(key)
    return app.state.services.store.usage(account.id, month_of(time.time())).credits


@pytest.fixture
def live(base_settings, segmenter, tmp_path, stalling_moto):
    """An app storing blobs in moto's S3 and queueing jobs in moto's SQS, both stallable."""
    from cutout.web import create_app

    bucket = f"stalls-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=stalling_moto.endpoint).create_bucket(Bucket=bucket)
    queue = boto3.client("sqs", endpoint_url=stalling_moto.endpoint).create_queue(
        QueueName=f"stalls-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def start(**changes):
        cfg = replace(base_settings, **{
            "table": "", "bucket": bucket, "job_queue_url": queue, "allow_anonymous": False,
            "data_dir": str(tmp_path / uuid.uuid4().hex[:6]), "key_cache_seconds": 0,
            "backend_deadline_seconds": DEADLINE, **changes})
        app = create_app(cfg, segmenter)
        server = AppServer(app)
        started.append(server)
        return app, httpx.Client(base_url=server.url, timeout=120)

    started: list[AppServer] = []
    yield start
    for server in started:
        server.close()


def timed(call):
    began = time.monotonic()
    answer = call()
    return answer, time.monotonic() - began


def assert_unavailable(answer: httpx.Response, elapsed: float, deadline: float = DEADLINE) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert elapsed < deadline + SLACK, f"answered after {elapsed:.1f} s"


def test_stored_images_answer_503_with_retry_after_within_the_deadline(live, stalling_moto,
                                                                       coffee_jpeg):
    app, http = live()
    key = new_key(app)
    keyed = {"x-api-key": key}
    stored = http.post("/v1/images/upload", headers=keyed, data={"name": "kept"},
                       files={"image": ("c.jpg", coffee_jpeg, "image/jpeg")})
    assert stored.status_code == 201, stored.text
    image = stored.json()["id"]
    before = usage(app, key)
    with stalling_moto.s3.paused():
        upload, took = timed(lambda: http.post(
            "/v1/images/upload", headers=keyed, data={"name": "new"},
            files={"image": ("c.jpg", coffee_jpeg, "image/jpeg")}))
        assert_unavailable(upload, took)
        assert upload.json()["status"] == 503 and upload.json()["code"] == "storage_unavailable"
        download, took = timed(lambda: http.get(f"/v1/images/{image}/download", headers=keyed))
        assert_unavailable(download, took)
        operation, took = timed(lambda: http.post(f"/v1/images/{image}/crop", headers=keyed,
                                                  json={"x1": 0, "y1": 0, "x2": 10, "y2": 10}))
        assert_unavailable(operation, took)
        assert stalling_moto.s3.held > 0  # the calls did reach the stalled S3
    assert usage(app, key) == before  # the crop's charge was taken back
    again = http.get(f"/v1/images/{image}/download", headers=keyed)
    assert again.status_code == 200 and again.content == coffee_jpeg


def test_a_job_submit_answers_503_within_the_deadline_with_s3_or_sqs_stalled(live, stalling_moto,
                                                                             coffee_jpeg):
    app, http = live()
    key = new_key(app)
    for proxy in (stalling_moto.s3, stalling_moto.sqs):
        with proxy.paused():
            submit, took = timed(lambda: http.post(
                "/v2/remove-background", headers={"x-api-key": key},
                files={"image": ("c.jpg", coffee_jpeg, "image/jpeg")}))
            assert_unavailable(submit, took)
            assert submit.json()["error_code"] == "service_unavailable"
            assert proxy.held > 0
        assert usage(app, key) == 0  # refunded


@pytest.mark.parametrize("store", ["sqlite", "dynamodb"])
def test_a_result_stored_for_download_answers_503_within_the_deadline(live, stalling_moto, request,
                                                                      coffee_jpeg, store):
    """The refund comes after the deadline has passed: it is made all the same (DynamoDB's
    calls are bound by the deadline too, refunds excepted)."""
    table = request.getfixturevalue("dynamo_table") if store == "dynamodb" else ""
    app, http = live(max_response_bytes=1000, table=table)  # results go to S3, back by URL
    key = new_key(app)
    with stalling_moto.s3.paused():
        answer, took = timed(lambda: http.post("/v1/results", headers={"x-api-key": key,
                                                                       "content-type": "image/jpeg"},
                                               content=coffee_jpeg))
    assert_unavailable(answer, took)
    assert answer.headers["x-credits-charged"] == "0" and usage(app, key) == 0


def test_with_the_default_deadline_a_stalled_s3_is_a_503_well_before_the_gateways_30_s(
        live, stalling_moto, coffee_jpeg):
    from cutout.config import Settings

    default = Settings().backend_deadline_seconds
    assert default <= 25
    app, http = live(backend_deadline_seconds=default)
    key = new_key(app)
    with stalling_moto.s3.paused():
        upload, took = timed(lambda: http.post(
            "/v1/images/upload", headers={"x-api-key": key}, data={"name": "new"},
            files={"image": ("c.jpg", coffee_jpeg, "image/jpeg")}))
    assert_unavailable(upload, took, default)
