"""Memory of a live server under N concurrent clients: peak RSS, and RSS once idle again.

`.venv/bin/python -m bench.concurrency [--clients 1,2,4,8] [--requests 6] [--photos ../shared/eval]`
starts `cutout serve` (a fresh process per N, environment as given plus an
anonymous account), warms it with one request of each size, lets it go idle,
then N clients each send `--requests` mixed requests (1, 4 and 12 MP JPEGs in
turn, raw bodies to /v1/results, fg-image) back to back. Measured from
/proc/PID/status: the warmed-up RSS, the peak RSS during the burst (VmHWM,
reset after warming) and the RSS `--idle` seconds after the burst. Prints a
Markdown table; `--json` prints the rows as JSON too.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import photos

MIB = 1024 * 1024
MIX_MP = (1.0, 4.0, 12.0)


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port: int, data: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/v1/results?mode=fg-image", body=data,
                     headers={"Content-Type": "image/jpeg"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return response.status
        ok = json.loads(body)["results"][0]["status"]["code"] == "ok"
        return 200 if ok else 599
    finally:
        conn.close()


class Server:
    """`cutout serve` in a subprocess on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.data_dir = tempfile.TemporaryDirectory()
        full = {**os.environ, "CUTOUT_ALLOW_ANONYMOUS": "1", "CUTOUT_ANONYMOUS_PLAN": "mega",
                "CUTOUT_DATA_DIR": self.data_dir.name, "CUTOUT_LOG_LEVEL": "WARNING",
                "HOST": "127.0.0.1", "PORT": str(self.port), **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "cutout.cli", "serve"], env=full,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/v1/version")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise SystemExit("bench.concurrency: the server did not start")
            time.sleep(0.2)

    def rss(self) -> int:
        return _status(self.proc.pid, "VmRSS")

    def peak(self) -> int:
        return _status(self.proc.pid, "VmHWM")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.data_dir.cleanup()


def measure(clients: int, requests: int, mix: list[bytes], idle: float, env: dict[str, str]) -> dict:
    server = Server(env)
    try:
        for data in mix:  # warm: every size once
            assert _post(server.port, data) == 200, "warm-up request failed"
        time.sleep(idle)
        warmed = server.rss()
        server.reset_peak()
        statuses: list[int] = []

        def client(index: int) -> None:
            for i in range(requests):
                statuses.append(_post(server.port, mix[(index + i) % len(mix)]))

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        peak = server.peak()
        after_burst = server.rss()
        time.sleep(idle)
        return {"clients": clients, "requests": len(statuses),
                "failed": sum(s != 200 for s in statuses), "seconds": round(seconds, 1),
                "warmed_mb": round(warmed / MIB), "peak_mb": round(peak / MIB),
                "after_burst_mb": round(after_burst / MIB), "idle_mb": round(server.rss() / MIB)}
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--requests", type=int, default=6, help="requests per client")
    parser.add_argument("--photos", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to wait idle before measuring")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = photos.sources(args.photos, 1)[0]
    mix = [photos.at_megapixels(source, mp).data for mp in MIX_MP]
    env = dict(item.split("=", 1) for item in args.env)
    rows = []
    print("| clients | requests | failed | seconds | warmed-up RSS | peak RSS | RSS right after "
          f"| RSS idle {args.idle:g} s after |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (int(c) for c in args.clients.split(",")):
        row = measure(n, args.requests, mix, args.idle, env)
        rows.append(row)
        print(f"| {n} | {row['requests']} | {row['failed']} | {row['seconds']} | {row['warmed_mb']} MB "
              f"| {row['peak_mb']} MB | {row['after_burst_mb']} MB | {row['idle_mb']} MB |", flush=True)
    if args.json:
        print(json.dumps({"env": env, "rows": rows}))


if __name__ == "__main__":
    main()
