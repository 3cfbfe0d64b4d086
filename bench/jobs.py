"""What an asynchronous job costs over a synchronous request, and jobs per second locally.

A real server (uvicorn on 127.0.0.1, the app as `make run` builds it, local worker
pool) and a real HTTP client. For the same photo at 1 and 12 MP:
- synchronous: POST /v1/results?mode=fg-image, the PNG inline;
- job: POST /v2/remove-background (upload, output PNG), poll the status every
  20 ms until succeeded, GET the result URL: submit-to-downloaded.
Then the pool full: N 1 MP jobs posted at once, time until the last succeeded.

    .venv/bin/python -m bench.jobs --photos ../shared/eval [--repeat 3] [--jobs 24]
    make bench-jobs
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx

from .photos import at_megapixels, sources

POLL = 0.02


def serve(workers: int) -> tuple[str, object]:
    import uvicorn

    from cutout.config import settings
    from cutout.web import create_app

    cfg = replace(settings(), data_dir=tempfile.mkdtemp(prefix="bench-jobs-"), table="",
                  bucket="", allow_anonymous=True, anonymous_plan="mega", job_workers=workers,
                  log_level="WARNING")
    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server


def sync_seconds(client: httpx.Client, base: str, data: bytes) -> float:
    started = time.perf_counter()
    answer = client.post(f"{base}/v1/results", params={"mode": "fg-image"},
                         files={"image": ("photo.jpg", data, "image/jpeg")})
    assert answer.status_code == 200 and answer.json()["results"][0]["status"]["code"] == "ok"
    return time.perf_counter() - started


def submit(client: httpx.Client, base: str, data: bytes) -> str:
    answer = client.post(f"{base}/v2/remove-background",
                         files={"image": ("photo.jpg", data, "image/jpeg")},
                         data={"options": json.dumps({"output": {"mediaType": "image/png"}})})
    assert answer.status_code == 202, answer.text
    return answer.json()["statusUrl"]


def finish(client: httpx.Client, status_url: str) -> int:
    while True:
        body = client.get(status_url).json()
        if body["status"] == "succeeded":
            got = client.get(body["result"]["outputs"][0]["destination"]["url"])
            assert got.status_code == 200
            return len(got.content)
        assert body["status"] in ("pending", "running"), body
        time.sleep(POLL)


def job_seconds(client: httpx.Client, base: str, data: bytes) -> float:
    started = time.perf_counter()
    finish(client, submit(client, base, data))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=24)
    args = parser.parse_args()
    source = sources(args.photos, 1)[0]
    report: dict = {"photo": source.name, "latency": {}, "throughput": {}}
    base, server = serve(workers=1)
    with httpx.Client(timeout=300) as client:
        for megapixels in (1.0, 12.0):
            data = at_megapixels(source, megapixels).data
            sync_seconds(client, base, data)  # warm both paths
            job_seconds(client, base, data)
            sync = statistics.median(sync_seconds(client, base, data) for _ in range(args.repeat))
            job = statistics.median(job_seconds(client, base, data) for _ in range(args.repeat))
            report["latency"][f"{megapixels:g} MP"] = {
                "sync_s": round(sync, 3), "job_s": round(job, 3),
                "overhead_s": round(job - sync, 3), "overhead_pct": round(100 * (job / sync - 1), 1)}
    server.should_exit = True
    for workers in (1, 2):
        base, server = serve(workers)
        with httpx.Client(timeout=300) as client:
            data = at_megapixels(source, 1.0).data
            job_seconds(client, base, data)
            started = time.perf_counter()
            urls = [submit(client, base, data) for _ in range(args.jobs)]
            for url in urls:
                finish(client, url)
            elapsed = time.perf_counter() - started
        report["throughput"][f"{workers} worker(s)"] = {
            "jobs": args.jobs, "seconds": round(elapsed, 2),
            "jobs_per_s": round(args.jobs / elapsed, 2)}
        server.should_exit = True
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
