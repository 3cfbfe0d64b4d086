"""Webhooks leave the job's path: a receiver that hangs never holds the job worker.

Through the app (Adobe's API, the in-process pools: one job thread, one webhook
thread): one key's job calls back a receiver that holds the POST open; its
job is already `succeeded` when the POST arrives, and another key's job runs
and ends while that first POST is still unanswered.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

from fastapi.testclient import TestClient

from adobe_client import submit, wait
from conftest import new_key
from local_http import HeldHooks


def test_a_hanging_webhook_receiver_never_delays_another_accounts_job(
        base_settings, segmenter, tmp_path, coffee_jpeg):
    from cutout.web import create_app

    # Each attempt may hang 20 s: inline, the only job thread would be held 2 x 20 s.
    cfg = replace(base_settings, table="", data_dir=str(tmp_path), allow_anonymous=False,
                  fetch_allow_hosts=("127.0.0.1",), webhook_secret="whsec-test", fetch_timeout=20,
                  job_workers=1, webhook_workers=1, webhook_attempts=2, webhook_backoff=0.05)
    app = create_app(cfg, segmenter)
    http = TestClient(app)
    hooked, other = new_key(app, "hooked"), new_key(app, "other")
    receiver = HeldHooks()
    try:
        first = submit(http, hooked, {"callback": {"url": receiver.url}}, coffee_jpeg)
        deadline = time.monotonic() + 60
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.calls, "no webhook"
        # The job was finished before its webhook was attempted.
        assert http.get(first.json()["statusUrl"], headers={"x-api-key": hooked}).json()["status"] == "succeeded"
        assert json.loads(receiver.calls[0][1])["status"] == "succeeded"
        second = submit(http, other, {}, coffee_jpeg)
        assert wait(http, other, second.json()["statusUrl"])["status"] == "succeeded"
        # ... while the first webhook's first attempt is still waiting for an answer.
        assert (len(receiver.calls), receiver.answered) == (1, 0)
        receiver.release()  # now it answers: delivered, not tried again
        deadline = time.monotonic() + 30
        while not receiver.answered and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert (len(receiver.calls), receiver.answered) == (1, 1)
    finally:
        receiver.close()
        app.state.services.jobs.queue.close()
        app.state.services.webhooks.close()
