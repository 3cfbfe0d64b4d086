"""`cutout serve` times out clients that send a request too slowly (real sockets, live uvicorn)."""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace

import pytest

from cutout.web import create_app
from local_http import AppServer

HEADERS_S, REQUEST_S = 0.5, 1.5


@pytest.fixture(scope="module")
def server(base_settings, segmenter):
    """The app as `cutout serve` runs it (same protocol and config), with short deadlines."""
    cfg = replace(base_settings, headers_timeout_seconds=HEADERS_S, request_timeout_seconds=REQUEST_S)
    served = AppServer(create_app(cfg, segmenter), cfg)
    yield served.port
    served.close()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def trickle(sock: socket.socket, data: bytes, interval: float, limit: float) -> None:
    """Send data a byte at a time until the server closes or `limit` seconds pass."""
    stop = time.monotonic() + limit
    for byte in data:
        if time.monotonic() > stop:
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:  # the server has closed the connection
            return
        time.sleep(interval)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One HTTP response with a Content-Length, however the segments arrive."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def timed_out(sock: socket.socket, started: float, sender: threading.Thread) -> tuple[float, dict]:
    raw = read_all(sock)  # until the server closes the connection
    elapsed = time.monotonic() - started
    sender.join(5)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert b"connection: close" in head.lower()
    return elapsed, json.loads(body)


def slow_request(port: int, head: bytes, trickled: bytes, interval: float) -> tuple[float, dict]:
    """Send `head` at once and `trickled` a byte every `interval` s; the 408's time and body."""
    started = time.monotonic()  # before connecting: the server's clock starts when it accepts
    sock = connect(port)
    sock.sendall(head)
    sender = threading.Thread(target=trickle, args=(sock, trickled, interval, 10), daemon=True)
    sender.start()
    return timed_out(sock, started, sender)


def test_headers_sent_a_byte_at_a_time_get_408_at_the_headers_deadline(server):
    elapsed, body = slow_request(server, b"POST /v1/results HTTP/1.1\r\nHost: x\r\n",
                                 b"X-Slow: " + b"a" * 1000 + b"\r\n\r\n", 0.05)
    assert HEADERS_S <= elapsed < HEADERS_S + 2
    assert body == {"detail": f"Request timeout: the headers did not arrive within {HEADERS_S:g} seconds."}


def test_a_connection_that_sends_nothing_is_closed_at_the_headers_deadline(server):
    started = time.monotonic()  # before connecting: the server's clock starts when it accepts
    sock = connect(server)
    sender = threading.Thread(target=lambda: None)
    sender.start()
    elapsed, _ = timed_out(sock, started, sender)
    assert HEADERS_S <= elapsed < HEADERS_S + 2


def test_a_body_sent_a_byte_at_a_time_gets_408_at_the_request_deadline(server):
    head = (b"POST /v1/results HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 100000\r\n\r\n")
    elapsed, body = slow_request(server, head, b"\xff" * 100000, 0.02)
    assert REQUEST_S <= elapsed < REQUEST_S + 2
    assert body == {"detail": f"Request timeout: the request did not arrive within {REQUEST_S:g} seconds."}


def test_a_request_in_time_is_answered_and_idle_keep_alive_is_not_cut_by_the_deadlines(server):
    sock = connect(server)
    request = b"GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n"
    for part in (request[:10], request[10:25], request[25:]):  # slow, but within the deadline
        sock.sendall(part)
        time.sleep(HEADERS_S / 5)
    first = read_response(sock)
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"v1.0.0"), first
    time.sleep(REQUEST_S + 0.2)  # idle past both deadlines: uvicorn's keep-alive timeout (5 s) rules
    sock.sendall(request)
    second = read_response(sock)
    assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"v1.0.0"), second
    sock.close()
