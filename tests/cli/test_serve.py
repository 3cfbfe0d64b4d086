"""`cutout serve --workers N`: N real server processes on one port, one store, one results folder."""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from adobe_client import submit, wait

CUTOUT = str(Path(sys.executable).parent / "cutout")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def workers_of(parent: int) -> set[int]:
    """The pids of `parent`'s uvicorn worker processes (multiprocessing spawn children)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def wait_until(check, timeout: float = 120.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_workers_share_one_store_and_one_results_folder_and_survive_restarts(tmp_path, coffee_jpeg) -> None:
    env = {**os.environ, "CUTOUT_DATA_DIR": str(tmp_path / "data"), "CUTOUT_ALLOW_ANONYMOUS": "0",
           "CUTOUT_HEADERS_TIMEOUT_SECONDS": "0.5", "CUTOUT_LOG_LEVEL": "INFO"}
    env.pop("CUTOUT_THREADS", None)
    env.pop("CUTOUT_BLOB_SECRET", None)
    made = subprocess.run([CUTOUT, "keys", "create", "--plan", "mega"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([CUTOUT, "serve", "--workers", "2", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    logs: list[str] = []
    threading.Thread(target=lambda: logs.extend(server.stderr), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        first = wait_until(lambda: len(workers_of(server.pid)) == 2 and workers_of(server.pid),
                           what="two workers")
        wait_until(lambda: sum("service ready" in line for line in logs) == 2, what="two apps")
        ready = [json.loads(line) for line in logs if "service ready" in line]
        assert [entry["threads"] for entry in ready] == [max(1, len(os.sched_getaffinity(0)) // 2)] * 2

        # Jobs accepted by either process (a new connection each), run, their result URLs signed
        jobs = []
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=60) as http:
                answer = submit(http, key, {"mode": "mask", "output": {"mediaType": "image/png"}},
                                coffee_jpeg)
                assert answer.status_code == 202, answer.text
                jobs.append(answer.json()["statusUrl"])
        urls = []
        for status_url in jobs:
            with httpx.Client(base_url=base, timeout=60) as http:
                status = wait(http, key, status_url, timeout=120)
                assert status["status"] == "succeeded", status
                urls.append(status["result"]["outputs"][0]["destination"]["url"])
        # Both workers replaced (SIGKILL, one after the other: uvicorn starts new ones): the
        # URLs were signed by processes that are gone and still open, in whichever new one
        for victim in sorted(first):
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: len(workers_of(server.pid)) == 2 and victim not in workers_of(server.pid),
                       what="a new worker")
        wait_until(lambda: sum("service ready" in line for line in logs) == 4, what="new apps")
        assert not (workers_of(server.pid) & first)
        for url in urls:
            mask = Image.open(io.BytesIO(httpx.get(url, timeout=60).raise_for_status().content))
            assert mask.mode == "L" and mask.size == (600, 400)
        # the one store: the key's usage counts every job, whichever process charged it
        with httpx.Client(base_url=base, timeout=60) as http:
            account = http.get("/v1/account", headers={"X-Api-Key": key}).json()
        assert account["usage"]["calls"] == 6, account
        # each worker has the receive deadlines of CUTOUT_HEADERS_TIMEOUT_SECONDS
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\n")
                started = time.monotonic()
                answer = sock.recv(4096)
                assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, "".join(logs[-20:])
    assert not workers_of(server.pid)


def test_a_port_that_is_not_a_number_is_a_usage_error_of_serve_alone() -> None:
    def cutout(*args: str, port: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CUTOUT, *args], env={**os.environ, "PORT": port}, capture_output=True,
                              text=True, timeout=120)

    for port in ("", "abc"):  # PORT is the environment's; other commands never read it
        done = cutout("--version", port=port)
        assert done.returncode == 0 and done.stdout.startswith("cutout "), done.stderr
    assert cutout("serve", "--help", port="").stdout.count("(default: 8000)") == 1  # empty: unset
    for port, args in (("abc", ()), ("70000", ()), ("8000", ("--port", "x"))):
        done = cutout("serve", *args, port=port)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "port" in done.stderr.lower(), done.stderr
        assert "a whole number from 1 to 65535" in done.stderr, done.stderr


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_workers_fewer_than_one_are_a_usage_error(workers: str) -> None:
    done = subprocess.run([CUTOUT, "serve", "--workers", workers], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"--workers: must be a whole number of 1 or more, not '{workers}'" in done.stderr
