"""A full disk is an outage, answered 503 with Retry-After and never charged, and leaves no
half-written file behind (issue 23's fault kit: tests/full_disk.py).

`cutout serve` keeps its SQLite store and its stored results in CUTOUT_DATA_DIR.
Through a live server whose data folder runs out of room: a result that cannot be
stored is the dialect's 503 with Retry-After, the charge is taken back, the partial
file is removed (it used to stay, eating what room was left), and once there is
room again the same request works.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from full_disk import FILLER, SmallDisk

LEAVE = 256 * 1024  # bytes left free: SQLite's pages fit, a stored result does not


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def disk():
    found = SmallDisk()
    yield found
    found.close()


def serve(disk: SmallDisk, **env: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    full = {**os.environ, "CUTOUT_DATA_DIR": str(disk.path), "CUTOUT_TABLE": "", "CUTOUT_BUCKET": "",
            "CUTOUT_ALLOW_ANONYMOUS": "0", "CUTOUT_LOG_LEVEL": "WARNING", "HOST": "127.0.0.1",
            "PORT": str(port), **env}
    proc = subprocess.Popen([sys.executable, "-m", "cutout.cli", "serve"], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=disk.preexec())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def make_key(disk: SmallDisk) -> str:
    env = {**os.environ, "CUTOUT_DATA_DIR": str(disk.path), "CUTOUT_TABLE": ""}
    done = subprocess.run([sys.executable, "-m", "cutout.cli", "keys", "create", "--plan", "mega"],
                          env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.part"))


def test_a_result_that_does_not_fit_is_a_503_refunded_and_leaves_nothing_behind(disk, big_jpeg):
    key = make_key(disk)
    disk.fill(leave=LEAVE)
    proc, url = serve(disk, CUTOUT_MAX_RESPONSE_BYTES="200000")  # results are stored locally
    try:
        with httpx.Client(base_url=url, timeout=120, headers={"x-api-key": key}) as http:
            answer = http.post("/v1/results", content=big_jpeg, headers={"content-type": "image/jpeg"})
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.headers["x-credits-charged"] == "0"
            assert "storing it for download failed" in answer.json()["detail"]
            assert leftovers(disk.path) == []  # the half-written result is gone
            report = http.get("/v1/account")
            assert report.status_code == 200, report.text
            assert report.json()["usage"]["credits"] == 0
            if disk.mounted:  # room again: the same request works
                (disk.path / FILLER).unlink()
                again = http.post("/v1/results", content=big_jpeg,
                                  headers={"content-type": "image/jpeg"})
                assert again.status_code == 200, again.text
                entity = again.json()["results"][0]["entities"][0]
                assert http.get(entity["url"]).content[:8] == b"\x89PNG\r\n\x1a\n"
                assert http.get("/v1/account").json()["usage"]["credits"] == 1
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_disk_with_no_room_at_all_is_a_503_not_a_500(disk, coffee_jpeg):
    if not disk.mounted:
        pytest.skip("needs a tmpfs: a file-size limit cannot make SQLite's own writes fail alone")
    key = make_key(disk)
    proc, url = serve(disk)
    try:
        disk.fill(leave=0)
        with httpx.Client(base_url=url, timeout=120, headers={"x-api-key": key}) as http:
            answers = [http.post("/v1/results", content=coffee_jpeg,
                                 headers={"content-type": "image/jpeg"}) for _ in range(3)]
        for answer in answers:
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 503:
                assert int(answer.headers["retry-after"]) >= 1
        assert leftovers(disk.path) == []
    finally:
        proc.terminate()
        proc.wait(20)
    print(json.dumps([a.status_code for a in answers]))
