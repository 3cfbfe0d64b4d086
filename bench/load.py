"""A server under load: 8, 16 and 32 clients of mixed dialects for a fixed time.

`.venv/bin/python -m bench.load [--clients 8,16,32] [--seconds 60] [--after 30] [--photos DIR]`
starts `cutout serve` in a subprocess (2 cut slots, an anonymous account on the
`unlimited` plan, SQLite and local files), warms it with one request of each
kind, then for each client count runs that many clients for `--seconds`, each
sending requests back to back, in turn: api4ai's `/v1/results` (raw body),
remove.bg's `/v1.0/removebg` (multipart), Azure's `segment` (raw body), IMG
Processing's `remove-background` on an image it uploaded once, and an Adobe job
(`/v2/remove-background`, polled until it ends); photos of 1, 4, 1 and 12
megapixels in turn; a client told to retry later (429 or 503 with Retry-After)
waits that long first, as a well-behaved client does. Reported per row: requests, their statuses, throughput
(successes a second), p50 and p99 latency of the synchronous answers (all, and
the successes), a job's p50 and p99 from submit to done, credits: the `X-Credits-Charged` of the successes and of the
failures, and the account's usage as the server counts it (they must agree:
nothing charged for a failure), and the server's RSS before the row, at its
peak (VmHWM) and `--after` seconds after the row. One server serves every row
in turn, as a long-running server would (`--fresh`: one per row).
Prints a Markdown table; `--json FILE` writes the rows too.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from . import photos
from .concurrency import MIB, Server

SIZES_MP = (1.0, 4.0, 1.0, 12.0)
SLOTS = 2
JOB_POLL_SECONDS = 0.25


@dataclass
class Answer:
    kind: str
    status: int  # the HTTP status (a job: of its submit, then 200 once it succeeded)
    ok: bool  # a result the client can use
    seconds: float
    credits: float  # X-Credits-Charged (0 when absent)
    retry_after: float = 0.0  # a 429's or 503's Retry-After, which the client honours


@dataclass
class Client:
    """One client's connection and its stored image (IMG Processing)."""

    port: int
    image_id: str = ""
    answers: list[Answer] = field(default_factory=list)

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                  .encode())
    for name, (filename, data, ctype) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _retry_after(headers: dict[str, str]) -> float:
    try:
        return float(headers.get("retry-after", "0"))
    except ValueError:
        return 0.0


def _credits(headers: dict[str, str]) -> float:
    try:
        return float(headers.get("x-credits-charged", "0"))
    except ValueError:
        return 0.0


def api4ai(client: Client, photo: bytes) -> Answer:
    began = time.monotonic()
    status, headers, body = client.call("POST", "/v1/results?mode=fg-image", photo,
                                        {"Content-Type": "image/jpeg"})
    ok = status == 200 and json.loads(body)["results"][0]["status"]["code"] == "ok"
    return Answer("api4ai", status, ok, time.monotonic() - began, _credits(headers),
                  _retry_after(headers))


def removebg(client: Client, photo: bytes) -> Answer:
    began = time.monotonic()
    body, ctype = _multipart({"size": "full"}, {"image_file": ("photo.jpg", photo, "image/jpeg")})
    status, headers, _ = client.call("POST", "/v1.0/removebg", body, {"Content-Type": ctype})
    return Answer("remove.bg", status, status == 200, time.monotonic() - began, _credits(headers),
                  _retry_after(headers))


def azure(client: Client, photo: bytes) -> Answer:
    began = time.monotonic()
    query = urlencode({"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"})
    status, headers, _ = client.call("POST", f"/computervision/imageanalysis:segment?{query}", photo,
                                     {"Content-Type": "application/octet-stream"})
    return Answer("azure", status, status == 200, time.monotonic() - began, _credits(headers),
                  _retry_after(headers))


def imgproc(client: Client, photo: bytes) -> Answer:
    began = time.monotonic()
    if not client.image_id:  # once per client: the image it works on (an answer of its own)
        body, ctype = _multipart({"name": "load"}, {"image": ("photo.jpg", photo, "image/jpeg")})
        status, headers, data = client.call("POST", "/v1/images/upload", body,
                                            {"Content-Type": ctype})
        if status != 201:
            return Answer("imgproc upload", status, False, time.monotonic() - began,
                          _credits(headers), _retry_after(headers))
        client.image_id = json.loads(data)["id"]
        client.answers.append(Answer("imgproc upload", status, True, time.monotonic() - began,
                                     _credits(headers)))
        began = time.monotonic()
    status, headers, _ = client.call("POST", f"/v1/images/{client.image_id}/remove-background",
                                     b'{"name": "cut"}', {"Content-Type": "application/json"})
    return Answer("imgproc", status, status == 201, time.monotonic() - began, _credits(headers),
                  _retry_after(headers))


def adobe(client: Client, photo: bytes) -> Answer:
    began = time.monotonic()
    body, ctype = _multipart({"options": "{}"}, {"image": ("photo.jpg", photo, "image/jpeg")})
    status, headers, data = client.call("POST", "/v2/remove-background", body, {"Content-Type": ctype})
    charged = _credits(headers)
    if status != 202:
        return Answer("adobe", status, False, time.monotonic() - began, charged,
                      _retry_after(headers))
    status_url = json.loads(data)["statusUrl"].split("://", 1)[-1].split("/", 1)[-1]
    while True:
        time.sleep(JOB_POLL_SECONDS)
        polled, _, doc = client.call("GET", "/" + status_url)
        state = json.loads(doc).get("status") if polled == 200 else "failed"
        if state in ("succeeded", "failed"):  # a failed job's charge at accept is refunded
            ok = state == "succeeded"
            return Answer("adobe", 200 if ok else 500, ok, time.monotonic() - began,
                          charged if ok else 0.0)


KINDS: tuple[Callable[[Client, bytes], Answer], ...] = (api4ai, removebg, azure, imgproc, adobe)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _usage(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/v1/account")
        return float(json.loads(conn.getresponse().read())["usage"]["credits"])
    finally:
        conn.close()


def run_row(server: Server, clients: int, seconds: float, after: float,
            mix: list[bytes], kinds: tuple[Callable[[Client, bytes], Answer], ...] = KINDS) -> dict:
    """`clients` clients for `seconds` against `server`, sending `kinds` in turn; its figures
    (see the module)."""
    before_rss = server.rss()
    before_usage = _usage(server.port)
    server.reset_peak()
    stop = time.monotonic() + seconds
    everyone = [Client(server.port) for _ in range(clients)]

    def loop(index: int, client: Client) -> None:
        turn = 0
        while time.monotonic() < stop:
            kind = kinds[(index + turn) % len(kinds)]
            answer = kind(client, mix[(index + turn) % len(mix)])
            client.answers.append(answer)
            turn += 1
            if answer.retry_after:  # told to back off: a well-behaved client waits
                time.sleep(max(0.0, min(answer.retry_after, stop - time.monotonic())))

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i, c)) for i, c in enumerate(everyone)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    peak, end_rss = server.peak(), server.rss()
    time.sleep(after)
    answers = [a for c in everyone for a in c.answers]
    ok = [a for a in answers if a.ok]
    sync = [a for a in answers if a.kind != "adobe"]
    jobs = [a for a in answers if a.kind == "adobe"]
    statuses = Counter(a.status for a in answers)
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(answers), "ok": len(ok),
        "statuses": dict(sorted(statuses.items())),
        "throughput_ok_per_s": round(len(ok) / elapsed, 2),
        # synchronous answers (every kind but the Adobe jobs, whose time is submit to done)
        "p50_s": round(_percentile([a.seconds for a in sync], 0.5), 2),
        "p99_s": round(_percentile([a.seconds for a in sync], 0.99), 2),
        "p99_ok_s": round(_percentile([a.seconds for a in sync if a.ok], 0.99), 2),
        "jobs_p50_s": round(_percentile([a.seconds for a in jobs], 0.5), 2),
        "jobs_p99_s": round(_percentile([a.seconds for a in jobs], 0.99), 2),
        "by_kind": {kind: {"answers": len(mine), "ok": sum(a.ok for a in mine),
                           "p50_s": round(_percentile([a.seconds for a in mine], 0.5), 2),
                           "p99_s": round(_percentile([a.seconds for a in mine], 0.99), 2)}
                    for kind in sorted({a.kind for a in answers})
                    for mine in [[a for a in answers if a.kind == kind]]},
        "credits_ok": round(sum(a.credits for a in ok), 2),
        "credits_failed": round(sum(a.credits for a in answers if not a.ok), 2),
        "usage_delta": round(_usage(server.port) - before_usage, 2),
        "rss_before_mb": round(before_rss / MIB), "rss_peak_mb": round(peak / MIB),
        "rss_end_mb": round(end_rss / MIB), "rss_after_mb": round(server.rss() / MIB),
    }


TABLE_HEAD = ("| clients | requests | statuses | ok/s | p50 | p99 | p99 of ok | jobs p50 / p99 "
              "| credits: ok / failed / server's count | RSS before | peak | after |",
              "|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|---:|")


def table_row(row: dict) -> str:
    """One row of `run_row`'s figures as a Markdown table row (TABLE_HEAD's columns)."""
    statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items())
    return (f"| {row['clients']} | {row['requests']} | {statuses} | {row['throughput_ok_per_s']} "
            f"| {row['p50_s']} s | {row['p99_s']} s | {row['p99_ok_s']} s "
            f"| {row['jobs_p50_s']} / {row['jobs_p99_s']} s "
            f"| {row['credits_ok']:g} / {row['credits_failed']:g} / {row['usage_delta']:g} "
            f"| {row['rss_before_mb']} MB | {row['rss_peak_mb']} MB | {row['rss_after_mb']} MB |")


def _mix(folder: Path) -> list[bytes]:
    try:
        sources = photos.sources(folder, 1)
    except SystemExit:  # no evaluation photos here: scikit-image's astronaut
        from PIL import Image
        from skimage import data as samples

        path = Path(os.environ.get("TMPDIR", "/tmp")) / "cutout-bench-astronaut.png"
        Image.fromarray(samples.astronaut()).save(path)
        sources = [path]
    return [photos.at_megapixels(sources[0], mp).data for mp in SIZES_MP]


def warm(server: Server, mix: list[bytes]) -> None:
    client = Client(server.port)
    for kind in KINDS:
        answer = kind(client, mix[0])
        if not answer.ok:
            raise SystemExit(f"bench.load: warm-up {answer.kind} failed ({answer.status})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="8,16,32")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each row runs")
    parser.add_argument("--after", type=float, default=30.0, help="seconds idle before RSS 'after'")
    parser.add_argument("--photos", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--fresh", action="store_true", help="a new server for every row")
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    parser.add_argument("--kinds", default=",".join(k.__name__ for k in KINDS),
                        help="the requests clients send in turn (default: all five)")
    args = parser.parse_args()
    kinds = tuple(k for k in KINDS if k.__name__ in args.kinds.split(","))
    mix = _mix(args.photos)
    env = {"CUTOUT_ANONYMOUS_PLAN": "unlimited", "CUTOUT_MAX_CONCURRENT_CUTS": str(SLOTS),
           **dict(item.split("=", 1) for item in args.env)}
    rows: list[dict] = []
    print("\n".join(TABLE_HEAD))
    server: Server | None = None
    try:
        for n in (int(c) for c in args.clients.split(",")):
            if server is None or args.fresh:
                if server is not None:
                    server.close()
                server = Server(env)
                warm(server, mix)
                time.sleep(args.after)
            row = run_row(server, n, args.seconds, args.after, mix, kinds)
            rows.append(row)
            print(table_row(row), flush=True)
    finally:
        if server is not None:
            server.close()
    if args.json:
        args.json.write_text(json.dumps({"env": env, "seconds": args.seconds, "after": args.after,
                                         "kinds": args.kinds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
