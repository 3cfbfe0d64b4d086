"""No account's jobs hold up another's in the local pool: turns by account, not arrival.

Through the app (Adobe's API, the in-process pool with one thread): one key's
job trickles its source and three more of its jobs wait; another key's job,
posted last, runs next.
"""
from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from adobe_client import submit, wait
from conftest import new_key
from local_http import Route


def test_another_accounts_job_runs_before_a_busy_accounts_queued_jobs(
        base_settings, segmenter, tmp_path, web_server, coffee_jpeg):
    from cutout.web import create_app

    web_server.routes["/trickle.jpg"] = Route(200, coffee_jpeg, {"Content-Type": "image/jpeg"}, delay=2)
    cfg = replace(base_settings, table="", data_dir=str(tmp_path), allow_anonymous=False,
                  fetch_allow_hosts=("127.0.0.1",), job_workers=1)
    app = create_app(cfg, segmenter)
    http = TestClient(app)
    busy, other = new_key(app, "busy"), new_key(app, "other")
    try:
        slow = submit(http, busy, {"image": {"source": {"url": web_server.url("/trickle.jpg")}}})
        queued = [submit(http, busy, {}, coffee_jpeg) for _ in range(3)]
        mine = submit(http, other, {}, coffee_jpeg)
        assert {a.status_code for a in (slow, *queued, mine)} == {202}
        done = {answer.json()["jobId"]: wait(http, key, answer.json()["statusUrl"])
                for key, answer in [(busy, slow), *((busy, q) for q in queued), (other, mine)]}
    finally:
        app.state.services.jobs.queue.close()
    assert {d["status"] for d in done.values()} == {"succeeded"}
    finished = sorted(done, key=lambda job_id: done[job_id]["modifiedTime"])
    # The trickling job holds the only thread; the other account's job is next.
    assert finished[:2] == [slow.json()["jobId"], mine.json()["jobId"]]
