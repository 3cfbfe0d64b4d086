"""One key's slow URL inputs never stall another account (issue 23, item 2).

A failed download is free, and downloads ran in the thread pool that
authentication and metering use: 45 requests of one key to a URL that trickles
held all 40 threads, and another account's `GET /v1/account` waited until
downloads gave up. Through a live server and a trickling source: the key gets
CUTOUT_FETCH_DOWNLOADS_PER_KEY downloads at once and 429 for the rest, at once
and uncharged, and the other account is answered while the downloads still hang.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import httpx
import pytest

from conftest import new_key
from local_http import AppServer, trickling

THREADS = 40  # Starlette's worker threads (anyio's default limiter)
REQUESTS = 45  # more than those
PER_KEY = 4
FETCH_TIMEOUT = 8.0  # long enough for a loaded machine to start all 45 requests


@pytest.fixture(scope="module")
def live(base_settings, segmenter, tmp_path_factory):
    from cutout.web import create_app

    cfg = replace(base_settings, table="", allow_anonymous=False, key_cache_seconds=0,
                  data_dir=str(tmp_path_factory.mktemp("downloads")),
                  fetch_allow_hosts=("127.0.0.1",), fetch_timeout=FETCH_TIMEOUT,
                  fetch_downloads_per_key=PER_KEY)
    app = create_app(cfg, segmenter)
    server = AppServer(app)
    yield app, server.url
    server.close()


def test_a_key_flooding_a_slow_url_gets_429s_and_never_stalls_another_account(live, web_server):
    app, url = live
    flooder, bystander = new_key(app, owner="flooder"), new_key(app, owner="bystander")
    web_server.routes["/slow.jpg"] = trickling(b"x" * 100, interval=1.0)  # never done in time
    answers: list[tuple[float, httpx.Response]] = []

    def send() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            answer = http.post("/v1/results", headers={"x-api-key": flooder},
                               data={"url": web_server.url("/slow.jpg")})
        answers.append((time.monotonic(), answer))

    started = time.monotonic()
    senders = [threading.Thread(target=send) for _ in range(REQUESTS)]
    for sender in senders:
        sender.start()
    # every request is downloading or answered (or, before the bound, all 40 threads download)
    while web_server.active + len(answers) < min(REQUESTS, THREADS):
        assert time.monotonic() - started < FETCH_TIMEOUT, "the downloads did not start"
        time.sleep(0.02)
    with httpx.Client(base_url=url, timeout=60) as http:
        report = http.get("/v1/account", headers={"x-api-key": bystander})
        health = http.get("/health")
    answered = time.monotonic()
    assert report.status_code == 200 and health.status_code == 200
    for sender in senders:
        sender.join(30)
    statuses = sorted(answer.status_code for _, answer in answers)
    downloads_ended = max(at for at, answer in answers if answer.status_code == 200)
    # the other account is answered while the flooder's downloads still hang
    assert answered < downloads_ended and answered - started < FETCH_TIMEOUT
    assert statuses == [200] * PER_KEY + [429] * (REQUESTS - PER_KEY), statuses
    refused = [answer for _, answer in answers if answer.status_code == 429]
    assert all(int(answer.headers["retry-after"]) >= FETCH_TIMEOUT for answer in refused)
    assert all(answer.headers.get("x-credits-charged", "0") == "0" for _, answer in answers)
    assert "at most 4 image URLs of one key" in refused[0].json()["detail"]
    # the refusals came at once, before any download gave up
    assert max(at for at, answer in answers if answer.status_code == 429) < downloads_ended
    failed = [answer.json()["results"][0]["status"] for _, answer in answers
              if answer.status_code == 200]
    assert all(s["code"] == "failure" and "timed out" in s["message"] for s in failed), failed


def test_the_bound_is_per_key_and_frees_as_downloads_end(live, web_server, coffee_jpeg):
    from local_http import Route

    app, url = live
    web_server.routes["/coffee.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"},
                                             delay=0.5)
    keys = [new_key(app, owner=f"k{i}") for i in range(2)]
    statuses: list[int] = []

    def send(key: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            statuses.append(http.post("/v1/results", headers={"x-api-key": key},
                                      data={"url": web_server.url("/coffee.jpg")}).status_code)

    senders = [threading.Thread(target=send, args=(key,)) for key in keys for _ in range(PER_KEY)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)
    assert statuses == [200] * (2 * PER_KEY)  # two keys, each at its bound, none refused
    with httpx.Client(base_url=url, timeout=60) as http:  # and the bound is free again
        again = http.post("/v1/results", headers={"x-api-key": keys[0]},
                          data={"url": web_server.url("/coffee.jpg")})
    assert again.status_code == 200 and again.json()["results"][0]["status"]["code"] == "ok"
