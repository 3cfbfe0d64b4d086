"""One bound for every cut in a process: synchronous requests and the local job pool share it.

CUTOUT_MAX_CONCURRENT_CUTS is the number of cut-outs a server runs at once
(its peak memory). The app runs under uvicorn on a real port; clients post
synchronous requests and Adobe jobs at the same time, and the model (the real
one, wrapped to count its passes) says how many ran at once.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import numpy as np

from local_http import AppServer


class CountingSegmenter:
    """The real model; counts how many of its passes run at the same moment.

    Each pass is held a little longer (50 ms), so passes that are allowed to overlap
    do overlap on any machine; the pixels are the model's own.
    """

    def __init__(self, inner) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.passes = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def run_with_peak(self, tensor: np.ndarray):
        with self._lock:
            self.running += 1
            self.passes += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return self._inner.run_with_peak(tensor)
        finally:
            with self._lock:
                self.running -= 1

    def run(self, tensor: np.ndarray) -> np.ndarray:
        return self.run_with_peak(tensor)[0]

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self.run(self.prepare(rgb))


def test_jobs_and_synchronous_requests_share_one_cut_bound(
        base_settings, segmenter, tmp_path, coffee_jpeg, astronaut_jpeg):
    from cutout.web import create_app

    counting = CountingSegmenter(segmenter)
    cfg = replace(base_settings, table="", data_dir=str(tmp_path), allow_anonymous=True,
                  anonymous_plan="mega", max_concurrent_cuts=1, job_workers=3, quality_model="")
    server = AppServer(create_app(cfg, counting))

    def synchronous(n: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            return client.post("/v1.0/removebg", files={"image_file": ("c.jpg", coffee_jpeg, "image/jpeg")})

    def job(n: int) -> dict:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            accepted = client.post("/v2/remove-background",
                                   files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")},
                                   data={"options": '{"output": {"mediaType": "image/png"}}'})
            assert accepted.status_code == 202, accepted.text
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                status = client.get(accepted.json()["statusUrl"]).json()
                if status["status"] in ("succeeded", "failed"):
                    return status
                time.sleep(0.05)
            raise AssertionError(f"job not finished: {status}")

    try:
        with ThreadPoolExecutor(12) as pool:
            jobs = [pool.submit(job, n) for n in range(6)]
            answers = [pool.submit(synchronous, n) for n in range(6)]
            finished = [j.result() for j in jobs]
            responses = [a.result() for a in answers]
    finally:
        server.close()
    assert [r.status_code for r in responses] == [200] * 6
    assert [s["status"] for s in finished] == ["succeeded"] * 6
    assert counting.passes >= 12
    # Six requests and six jobs (three pool threads) at once, and never two model passes.
    assert counting.most == 1, f"{counting.most} cuts ran at once with CUTOUT_MAX_CONCURRENT_CUTS=1"
