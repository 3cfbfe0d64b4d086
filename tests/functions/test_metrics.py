"""The functions' metrics: the handlers invoked with events, their EMF lines read back.

The API handler gets HTTP API events from events/ (with a real key in a DynamoDB
table on dynalite); the jobs handler gets the SQS message the API really sent
(moto's server). Every EMF line the handlers print is parsed as JSON and checked
field by field: namespace, dimension sets, values and units, as CloudWatch
would ingest them. The dashboard and the alarm in template.yaml read these
names (tests/deploy/test_template.py checks that side).
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import boto3
import pytest

from cutout import telemetry
from cutout.config import settings
from local_http import Hooks, Route
from .test_jobs_function import API, JOBS, LambdaContext, deliver, load, receive

WEBHOOKS = Path(__file__).resolve().parents[2] / "functions" / "webhooks" / "handler.py"

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def emf_lines(out: str) -> list[dict]:
    """Every EMF object printed, in order (Powertools writes one JSON object a line)."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Cutout"
        for dimensions in directive["Dimensions"]:
            assert all(name in line for name in dimensions)  # each dimension has its value
        for metric in directive["Metrics"]:
            assert metric["Name"] in line and metric["Unit"] in ("Count", "Seconds", "Milliseconds")
    return lines


def named(lines: list[dict], name: str) -> list[dict]:
    return [line for line in lines if name in line]


def dimensions_of(line: dict) -> list[list[str]]:
    return line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def unit_of(line: dict, name: str) -> str:
    (metric,) = [m for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"] if m["Name"] == name]
    return metric["Unit"]


def event(name: str, key: str, query: str | None = None) -> dict:
    data = json.loads((EVENTS / name).read_text())
    data["headers"]["x-api-key"] = key
    if query is not None:
        data["rawQueryString"] = query
        data["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    return data


@pytest.fixture
def stack(moto_server, throttling_proxy, dynamo_table, monkeypatch):
    """The API and jobs handlers on one table (behind a proxy that can fail its writes), a
    queue and a bucket; a key with room for everything the tests send."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"metrics-{uuid.uuid4().hex[:8]}",
                                 Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    webhook_url = sqs.create_queue(QueueName=f"hooks-{uuid.uuid4().hex[:8]}",
                                   Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    bucket = f"cutout-metrics-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    for name, value in {"CUTOUT_TABLE": dynamo_table, "CUTOUT_BUCKET": bucket,
                        "CUTOUT_JOB_QUEUE_URL": queue_url, "CUTOUT_WEBHOOK_QUEUE_URL": webhook_url,
                        "CUTOUT_ALLOW_ANONYMOUS": "0",
                        "CUTOUT_FETCH_ALLOW_HOSTS": "127.0.0.1", "CUTOUT_WEBHOOK_SECRET": "s3cret",
                        "CUTOUT_WEBHOOK_ATTEMPTS": "1", "POWERTOOLS_TRACE_DISABLED": "true",
                        "POWERTOOLS_SERVICE_NAME": "cutout"}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    jobs = load(JOBS, f"jobs_metrics_{bucket}")
    api = load(API, f"api_metrics_{bucket}")
    key = api.app.state.services.accounts.create_key(
        "mega", owner="metrics", mp_per_minute=100_000, monthly_credits=100_000)[0]
    yield api, jobs, sqs, queue_url, key, throttling_proxy
    settings.cache_clear()


@pytest.fixture
def webhooks(stack):
    """The webhooks handler of the same stack, and its queue (the jobs function sends there)."""
    return load(WEBHOOKS, f"webhooks_metrics_{uuid.uuid4().hex[:8]}"), os.environ["CUTOUT_WEBHOOK_QUEUE_URL"]


def test_requests_and_megapixels_by_dialect_tier_and_outcome(stack, capsys):
    api, _, _, _, key, _ = stack
    capsys.readouterr()
    mask = api.handler(event("api-json-base64.json", key), LambdaContext())
    tta = api.handler(event("api-json-base64.json", key, "mode=fg-mask&model=fast-tta"), LambdaContext())
    removebg = api.handler(event("api-removebg-alpha.json", key), LambdaContext())
    refused = api.handler(event("api-json-base64.json", "not-a-key"), LambdaContext())
    assert [r["statusCode"] for r in (mask, tta, removebg, refused)] == [200, 200, 200, 403]  # an unknown key
    lines = emf_lines(capsys.readouterr().out)

    requests = named(lines, "Requests")
    assert [(r["dialect"], r["tier"], r["outcome"]) for r in requests] == [
        ("api4ai", "fast", "ok"), ("api4ai", "fast-tta", "ok"), ("removebg", "fast", "ok"),
        ("api4ai", "none", "refused")]
    for line in requests:
        assert dimensions_of(line) == [["dialect", "tier", "outcome", "service"]]
        assert line["service"] == "cutout" and line["Requests"] == [1.0]
        assert unit_of(line, "Latency") == "Milliseconds" and line["Latency"][0] > 0
    # The coffee photo is 600 x 400: 0.24 megapixels, charged and counted per request.
    for line in requests[:3]:
        assert line["Megapixels"] == [0.24] and line["Images"] == [1.0]
    assert "Megapixels" not in requests[3] and "Images" not in requests[3]

    charged = named(lines, telemetry.CREDITS_CHARGED)
    # remove.bg's default size (preview) costs a quarter credit, as remove.bg charges
    assert [c[telemetry.CREDITS_CHARGED] for c in charged] == [[1.0], [1.0], [0.25]]
    assert all(dimensions_of(c) == [["service"]] for c in charged)
    cuts = named(lines, telemetry.CUT_TIME)
    assert [c["tier"] for c in cuts] == ["fast", "fast-tta", "fast"]
    assert all(dimensions_of(c) == [["service", "tier"]] for c in cuts)
    assert all(unit_of(c, telemetry.CUT_TIME) == "Milliseconds" and 0 < c[telemetry.CUT_TIME][0] < 60_000
               for c in cuts)
    assert not named(lines, telemetry.CREDITS_REFUNDED)


def test_a_job_reports_queue_wait_age_refund_fetch_failure_and_webhook(stack, webhooks, web_server,
                                                                       capsys):
    api, jobs, sqs, queue_url, key, _ = stack
    hook_function, hook_queue = webhooks
    hooks = Hooks([204])
    web_server.routes["/gone.jpg"] = Route(404, b"not found")
    try:
        payload = json.dumps({"image": {"source": {"url": web_server.url("/gone.jpg")}},
                              "callback": {"url": hooks.url}}).encode()
        submit = event("api-adobe-remove-background.json", key)
        submit.update(body=payload.decode(), isBase64Encoded=False)
        submit["headers"]["content-type"] = "application/json"
        submit["headers"]["content-length"] = str(len(payload))
        capsys.readouterr()
        accepted = api.handler(submit, LambdaContext())
        assert accepted["statusCode"] == 202, accepted["body"]
        time.sleep(0.05)  # so the queue wait and the job's age are more than nothing
        assert deliver(jobs, sqs, queue_url, receive(sqs, queue_url)) == []
        # the job is finished; its webhook waits in the webhook queue for the webhooks function
        assert deliver(hook_function, sqs, hook_queue, receive(sqs, hook_queue)) == []
        lines = emf_lines(capsys.readouterr().out)
    finally:
        hooks.close()
    assert len(hooks.calls) == 1

    (request,) = named(lines, "Requests")  # the submission: charged 1 megapixel at accept
    assert (request["dialect"], request["tier"], request["outcome"]) == ("adobe", "none", "ok")
    (charged,) = named(lines, telemetry.CREDITS_CHARGED)
    assert charged[telemetry.CREDITS_CHARGED] == [1.0]

    (failure,) = named(lines, telemetry.FETCH_FAILURES)
    assert failure["reason"] == "failed" and failure[telemetry.FETCH_FAILURES] == [1.0]
    assert dimensions_of(failure) == [["service", "reason"]]
    (refund,) = named(lines, telemetry.CREDITS_REFUNDED)
    assert refund[telemetry.CREDITS_REFUNDED] == [1.0] and dimensions_of(refund) == [["service"]]
    (age,) = named(lines, telemetry.JOB_AGE)
    assert age["status"] == "failed" and unit_of(age, telemetry.JOB_AGE) == "Seconds"
    assert 0.05 <= age[telemetry.JOB_AGE][0] < 60
    (hook,) = named(lines, telemetry.WEBHOOK_DELIVERIES)
    assert hook["outcome"] == "delivered" and hook[telemetry.WEBHOOK_DELIVERIES] == [1.0]
    (wait,) = named(lines, "QueueWait")
    assert unit_of(wait, "QueueWait") == "Seconds" and 0 <= wait["QueueWait"][0] < 60
    assert dimensions_of(wait) == [["service"]] and wait["service"] == "cutout"
    assert not named(lines, telemetry.REFUND_FAILURES)


def test_a_refund_the_store_refuses_is_counted_for_the_alarm(stack, web_server, capsys):
    """The table throttles every write of the refund: the charge stands, RefundFailures says so
    (the alarm in template.yaml watches it, dimension service=cutout)."""
    api, jobs, sqs, queue_url, key, proxy = stack
    web_server.routes["/gone.jpg"] = Route(404, b"not found")
    payload = json.dumps({"image": {"source": {"url": web_server.url("/gone.jpg")}}}).encode()
    submit = event("api-adobe-remove-background.json", key)
    submit.update(body=payload.decode(), isBase64Encoded=False)
    submit["headers"]["content-type"] = "application/json"
    submit["headers"]["content-length"] = str(len(payload))
    assert api.handler(submit, LambdaContext())["statusCode"] == 202
    message = receive(sqs, queue_url)
    capsys.readouterr()
    proxy.throttle(1000, "UpdateItem")  # the worker's claim and finish are PutItems; refunds update
    assert deliver(jobs, sqs, queue_url, message) == []
    lines = emf_lines(capsys.readouterr().out)
    assert proxy.throttled and set(proxy.throttled) == {"UpdateItem"}
    (failed,) = named(lines, telemetry.REFUND_FAILURES)
    assert failed[telemetry.REFUND_FAILURES] == [1.0]
    assert dimensions_of(failed) == [["service"]] and failed["service"] == "cutout"
    assert not named(lines, telemetry.CREDITS_REFUNDED)
    (age,) = named(lines, telemetry.JOB_AGE)
    assert age["status"] == "failed"
