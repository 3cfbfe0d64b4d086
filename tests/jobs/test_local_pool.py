"""The local worker pool under load: 100 jobs at once, a full queue, a restart."""
from __future__ import annotations

import io
import time
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import encode, new_key
from local_http import Route
from adobe_client import submit, wait


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def make_app(base_settings, segmenter, data_dir, **changes):
    from cutout.web import create_app

    cfg = replace(base_settings, table="", data_dir=str(data_dir), allow_anonymous=False,
                  fetch_allow_hosts=("127.0.0.1",), **changes)
    return create_app(cfg, segmenter)


def test_a_hundred_jobs_submitted_at_once_all_finish_correctly_in_bounded_memory(
        base_settings, segmenter, tmp_path, astronaut):
    app = make_app(base_settings, segmenter, tmp_path, job_workers=2, job_queue_capacity=128)
    http = TestClient(app)
    key = new_key(app, "load")
    try:
        warm = submit(http, key, {"output": {"mediaType": "image/png"}}, encode(astronaut))
        wait(http, key, warm.json()["statusUrl"])
        before = rss_mb()
        widths = [312 + 2 * n for n in range(100)]  # each job's own size tells results apart
        accepted = []
        for width in widths:
            photo = encode(np.ascontiguousarray(astronaut[:, :width]))
            answer = submit(http, key, {"mode": "mask", "output": {"mediaType": "image/png"}}, photo)
            assert answer.status_code == 202, answer.text
            accepted.append(answer.json())
        assert len({a["jobId"] for a in accepted}) == 100
        peak = before
        for width, job in zip(widths, accepted):
            status = wait(http, key, job["statusUrl"], timeout=300)
            peak = max(peak, rss_mb())
            assert status["status"] == "succeeded", status
            data = http.get(status["result"]["outputs"][0]["destination"]["url"]).content
            mask = np.asarray(Image.open(io.BytesIO(data)))
            assert mask.shape == (512, width)
            assert mask[300:480, 150:300].mean() > 230 and mask[0:60, 20:150].mean() < 25
        # Bounded: the pool's threads settle (allocator arenas, the model's buffers) and
        # then stay flat; nothing is kept per job (a leaked result would add 0.5 MB each).
        assert peak - before < 600, f"RSS grew {peak - before:.0f} MB over 100 jobs"
        # A leak of even the decoded photo (0.75 MB a job) would show over every further
        # wave once the first has let every thread's allocator settle; a leak grows each
        # wave, so the quieter of the last two is the measure (the whole suite's process
        # may grow once for reasons of its own: a server thread, a cache).
        growth = []
        for _ in range(3):
            settled = rss_mb()
            wave = [submit(http, key, {"mode": "mask"}, encode(astronaut)).json() for _ in range(50)]
            for job in wave:
                assert wait(http, key, job["statusUrl"], timeout=300)["status"] == "succeeded"
            growth.append(rss_mb() - settled)
        assert min(growth[1:]) < 30, f"RSS grew {growth} MB over three further waves of 50 jobs"
    finally:
        app.state.services.jobs.queue.close()


def test_a_full_queue_answers_503_with_retry_after_and_charges_nothing(
        base_settings, segmenter, tmp_path, web_server, coffee_jpeg):
    web_server.routes["/slow.jpg"] = Route(200, coffee_jpeg, {"Content-Type": "image/jpeg"}, delay=3)
    app = make_app(base_settings, segmenter, tmp_path, job_workers=1, job_queue_capacity=1)
    http = TestClient(app)
    key = new_key(app, "busy")
    body = {"image": {"source": {"url": web_server.url("/slow.jpg")}}}
    try:
        first = submit(http, key, body)  # taken by the one worker, which waits on the download
        time.sleep(0.5)
        second = submit(http, key, body)  # waits in the queue
        third = submit(http, key, body)
        assert first.status_code == second.status_code == 202
        assert third.status_code == 503, third.text
        assert third.json()["error_code"] == "service_unavailable"
        assert "queue is full" in third.json()["message"]
        assert int(third.headers["retry-after"]) > 0
        from cutout.accounts.keys import month_of

        account = app.state.services.accounts.authenticate(key)
        assert app.state.services.store.usage(account.id, month_of(time.time())).credits == 2
        for job in (first, second):
            assert wait(http, key, job.json()["statusUrl"])["status"] == "succeeded"
    finally:
        app.state.services.jobs.queue.close()


def test_unfinished_jobs_are_picked_up_again_after_a_restart(
        base_settings, segmenter, tmp_path, coffee_jpeg):
    from cutout.jobs import JobOptions
    from cutout.errors import Unavailable
    from cutout.jobs.submit import Jobs

    first = make_app(base_settings, segmenter, tmp_path)
    key = new_key(first, "restart")
    account = first.state.services.accounts.authenticate(key)
    # The server stopped after accepting: the job is stored but no worker has it.
    stopped = Jobs(first.state.services.store, first.state.services.blobs, None, first.state.services.jobs.cfg)
    job_id, _ = stopped.reserve(account.id)
    with pytest.raises(Unavailable):
        stopped.accept(job_id, account=account.id, options=JobOptions(format="png"),
                       upload=coffee_jpeg)
    item = first.state.services.store.get_job(job_id)
    # accept() marks a job it could not queue as failed; make it look as a crash leaves it ...
    assert item is not None
    # ... left running by the process that stopped (its claim lives 900 s)
    first.state.services.store.swap_job(
        replace(item, status="running", version=item.version + 1, lease_until=int(time.time()) + 900,
                doc={**item.doc, "error": None, "attempts": 1}), item.version)
    restarted = make_app(base_settings, segmenter, tmp_path)
    http = TestClient(restarted)
    try:
        status = wait(http, key, f"/v2/status/{job_id}")
        assert status["status"] == "succeeded"
        assert restarted.state.services.store.get_job(job_id).doc["attempts"] == 2
    finally:
        restarted.state.services.jobs.queue.close()


def test_a_pool_sharing_its_folder_with_a_live_process_leaves_that_process_s_claims_alone(
        base_settings, segmenter, tmp_path, coffee_jpeg):
    """`cutout serve --workers N`: a worker that starts (or is started again) while another
    serves the folder resumes pending jobs but not jobs running under a live claim; once it
    is the only one, it takes those back too (queues/local.py, start_turn)."""
    import subprocess
    import sys

    from cutout.errors import Unavailable
    from cutout.jobs import JobOptions
    from cutout.jobs.submit import Jobs

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from cutout.queues.local import start_turn\n"
         "with start_turn(Path(sys.argv[1])) as alone:\n    print(alone, flush=True)\n"
         "time.sleep(600)\n", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    apps = []
    try:
        assert holder.stdout.readline().strip() == "True"  # the first server of the folder
        first = make_app(base_settings, segmenter, tmp_path)
        apps.append(first)
        key = new_key(first, "workers")
        account = first.state.services.accounts.authenticate(key)
        store = first.state.services.store
        stopped = Jobs(store, first.state.services.blobs, None, first.state.services.jobs.cfg)
        ids = {}
        for name, status, lease in (("running", "running", int(time.time()) + 900), ("pending", "pending", 0)):
            job_id, _ = stopped.reserve(account.id)
            with pytest.raises(Unavailable):
                stopped.accept(job_id, account=account.id, options=JobOptions(format="png"), upload=coffee_jpeg)
            item = store.get_job(job_id)
            store.swap_job(replace(item, status=status, version=item.version + 1, lease_until=lease,
                                   doc={**item.doc, "error": None, "attempts": 1 if lease else 0}),
                           item.version)
            ids[name] = job_id
        second = make_app(base_settings, segmenter, tmp_path)  # another process serves the folder
        apps.append(second)
        http = TestClient(second)
        assert wait(http, key, f"/v2/status/{ids['pending']}")["status"] == "succeeded"
        time.sleep(1.0)
        running = store.get_job(ids["running"])
        assert running.status == "running" and running.doc["attempts"] == 1  # left to its owner
        holder.kill()
        holder.wait()
        third = make_app(base_settings, segmenter, tmp_path)  # now the only server of the folder
        apps.append(third)
        assert wait(TestClient(third), key, f"/v2/status/{ids['running']}")["status"] == "succeeded"
        assert store.get_job(ids["running"]).doc["attempts"] == 2
    finally:
        holder.kill()
        for app in apps:
            app.state.services.jobs.queue.close()
