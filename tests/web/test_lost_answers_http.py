"""Lost store answers and failed refunds, through the API: nothing stranded, nothing wrongly charged.

The app runs on DynamoDB (dynalite) behind the fault proxy of fixtures_aws, which
forwards a chosen call and loses its answer (the write happened) or refuses a
write for as long as it is told; jobs run in the app's local pool.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from adobe_client import run, submit, wait
from conftest import new_key
from cutout.accounts.keys import month_of
from cutout.reconcile import reconcile
from cutout.web import create_app


@pytest.fixture
def api(base_settings, segmenter, dynamo_table, throttling_proxy, tmp_path):
    """The API on DynamoDB through the proxy, keys required, the local job pool."""
    cfg = replace(base_settings, table=dynamo_table, data_dir=str(tmp_path), allow_anonymous=False,
                  reconcile_seconds=0)
    app = create_app(cfg, segmenter)
    yield TestClient(app), app, throttling_proxy
    app.state.services.jobs.queue.close()


def credits(app, key: str) -> float:
    services = app.state.services
    account = services.accounts.authenticate(key)
    return services.store.usage(account.id, month_of(time.time())).credits


def test_a_job_whose_record_answer_is_lost_runs_and_is_charged_once(api, coffee_jpeg):
    """Item 5: the conditional put of the job happened, its answer was lost, the resend was
    refused by the condition; the job must still be queued and run, charged once."""
    http, app, proxy = api
    key = new_key(app, "lost-create")
    proxy.drop(1, "PutItem", matching="JOB#")
    accepted = submit(http, key, {"output": {"mediaType": "image/png"}}, coffee_jpeg)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["X-Credits-Charged"] == "1"
    assert proxy.throttled == ["PutItem"]
    status = wait(http, key, accepted.json()["statusUrl"])
    assert status["status"] == "succeeded"
    assert credits(app, key) == 1.0


def test_a_job_whose_final_swap_answer_is_lost_ends_succeeded_and_charged(api, coffee_jpeg):
    """Item 6: the swap to `succeeded` happened, its answer was lost: the run must know it
    was its own write (not "finished elsewhere"), keep the charge and settle it."""
    http, app, proxy = api
    key = new_key(app, "lost-swap")
    proxy.drop(1, "PutItem", matching="succeeded")  # the swap to succeeded (status and doc)
    status, data = run(http, key, {"output": {"mediaType": "image/png"}}, coffee_jpeg)
    assert status["status"] == "succeeded" and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert proxy.throttled == ["PutItem"]
    assert credits(app, key) == 1.0
    assert app.state.services.store.unsettled() == []  # settled: the reconciler will not refund it


def test_a_refund_the_store_fails_is_made_by_the_reconciler(
        base_settings, segmenter, dynamo_table, throttling_proxy, tmp_path, astronaut_jpeg):
    """Item 7: a request fails after its charge (its large result cannot be stored) and its
    refund fails too (the store refuses the write): it stays charged, pending; the
    reconciler refunds it once it is overdue, and only once."""
    cfg = replace(base_settings, table=dynamo_table, data_dir=str(tmp_path), allow_anonymous=False,
                  reconcile_seconds=0, max_response_bytes=100_000)
    app = create_app(cfg, segmenter)
    http, proxy, services = TestClient(app), throttling_proxy, app.state.services
    key = new_key(app, "failed-refund")

    def store_down(*args, **kwargs):
        from cutout.blobs import BlobUnavailable

        raise BlobUnavailable("simulated: the result store is down")

    services.blobs.put = store_down  # the result is too large to inline and cannot be stored
    proxy.throttle(1000, "UpdateItem", matching="refunding")  # every refund refused at its start
    response = http.post("/v1/results", headers={"x-api-key": key},
                         files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert proxy.throttled and set(proxy.throttled) == {"UpdateItem"}
    proxy.throttle(0)
    assert credits(app, key) == 1.0  # the refund failed: the charge stands, pending
    (pending,) = services.store.unsettled()

    assert reconcile(services.store, now=time.time()).refunded == 0  # not overdue yet
    done = reconcile(services.store, now=pending.settle_by + 1)
    assert done.refunded == 1 and credits(app, key) == 0.0
    assert reconcile(services.store, now=pending.settle_by + 1).refunded == 0  # once
    app.state.services.jobs.queue.close()


def test_racing_publishes_give_one_url_that_works(api, coffee_jpeg):
    """Item 11: eight concurrent publishes of one image all answer the same, working URL."""
    http, app, proxy = api
    key = new_key(app, "publish-race")
    headers = {"x-api-key": key}
    created = http.post("/v1/images/upload", headers=headers, data={"name": "cup"},
                        files={"image": ("a.jpg", coffee_jpeg, "image/jpeg")})
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    start = threading.Barrier(8)

    def publish(_: int) -> str:
        start.wait()
        answer = http.post(f"/v1/images/{image_id}/publish", headers=headers, json={})
        assert answer.status_code == 200, answer.text
        return answer.json()["url"]

    with ThreadPoolExecutor(8) as pool:
        urls = set(pool.map(publish, range(8)))
    assert len(urls) == 1
    got = http.get(urls.pop())
    assert got.status_code == 200 and got.content == coffee_jpeg
