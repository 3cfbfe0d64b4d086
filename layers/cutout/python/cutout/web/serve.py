"""`cutout serve`: uvicorn on the httptools (llhttp) parser, with deadlines for receiving each request.

The parser: llhttp refuses what request smuggling relies on, such as a request
with both `Content-Length` and `Transfer-Encoding` (RFC 9112 section 6.1): it
answers 400 and closes the connection, so nothing after the ambiguous body is
read as a second request. h11, uvicorn's other parser, lets Transfer-Encoding
win and answers whatever follows on the kept-alive connection. llhttp also has
no limit of its own on a request's head, so `max_head_bytes` (16 KiB, h11's and
Node's default) answers 431 past it.

The deadlines: uvicorn times out idle keep-alive connections but has no limit
on how long a client may take to send a request: one byte a second holds a
connection (and whatever the app has buffered) forever ("slowloris").
`DeadlineProtocol` adds the two deadlines Node's http server calls
`headersTimeout` and `requestTimeout`: from a request's first byte (or the
connection's opening), its headers must be in within `headers_timeout_seconds`
and its whole body within `request_timeout_seconds`. A request that misses a
deadline is answered 408 with `{"detail": ...}` and the connection is closed;
the app sees a client disconnect. Once a response has started nothing is cut.

On AWS, API Gateway stands in front instead (a 30 s integration timeout and a
10 MB payload limit), so the Lambda handler needs none of this.
"""
from __future__ import annotations

import asyncio
import json
import logging

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from starlette.types import ASGIApp

from ..config import Settings

log = logging.getLogger("cutout.access")
# After a 408, the rest of what the client sends is read and dropped for this long before
# the socket is closed: closing with unread data would make the kernel reset the
# connection, and the client could lose the 408 (the "lingering close" of nginx/Apache).
LINGER_SECONDS = 2.0


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus header and request receive deadlines (seconds) and
    a bound on a request's head (bytes)."""

    headers_timeout_seconds: float = 10.0
    request_timeout_seconds: float = 60.0
    max_head_bytes: int = 16 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadlines: list[asyncio.TimerHandle] = []
        self._headers_deadline: asyncio.TimerHandle | None = None
        self._lingering = False
        self._head_bytes, self._head_tail = 0, b""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # answered 408 or 431: drop the rest
        cycle = self.cycle
        waiting = cycle is None or cycle.response_complete
        if waiting and data and not self._deadlines:
            self._arm(headers=True)  # the first byte of a new request on a kept-alive connection
        if self._headers_deadline is not None and self._head_too_large(data):
            self._refuse(431, "Request Header Fields Too Large",
                         f"The request's headers are larger than {self.max_head_bytes} bytes.",
                         active=False)
            return
        super().data_received(data)
        self._update()

    def _head_too_large(self, data: bytes) -> bool:
        """Count the bytes of `data` that belong to the request's head (up to its blank line,
        which may straddle two reads); True once they pass `max_head_bytes`."""
        window = self._head_tail + data
        end = window.find(b"\r\n\r\n")
        self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._head_tail))
        self._head_tail = window[-3:]
        return self._head_bytes > self.max_head_bytes

    def on_response_complete(self) -> None:
        self._disarm()  # the keep-alive timeout guards the connection until the next request
        super().on_response_complete()
        cycle = self.cycle  # a pipelined request may have started
        if cycle is not None and not cycle.response_complete and cycle.more_body:
            self._arm(headers=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _update(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return  # the headers are not in yet
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None
            self._head_bytes, self._head_tail = 0, b""
        if not cycle.more_body:  # the whole body is in
            self._disarm()

    def _arm(self, headers: bool = True) -> None:
        request = self.loop.call_later(
            self.request_timeout_seconds, self._timed_out, "request", self.request_timeout_seconds)
        self._deadlines = [request]
        if headers:
            self._headers_deadline = self.loop.call_later(
                self.headers_timeout_seconds, self._timed_out, "headers", self.headers_timeout_seconds)
            self._deadlines.append(self._headers_deadline)

    def _disarm(self) -> None:
        for handle in self._deadlines:
            handle.cancel()
        self._deadlines, self._headers_deadline = [], None
        self._head_bytes, self._head_tail = 0, b""

    def _timed_out(self, part: str, seconds: float) -> None:
        cycle = self.cycle
        active = cycle is not None and not cycle.response_complete
        if self.transport.is_closing() or (active and cycle.response_started):
            self._disarm()
            return
        self._refuse(408, "Request Timeout", f"Request timeout: the {part} did not arrive "
                     f"within {seconds:g} seconds.", active=active)
        log.info("request timeout", extra={"part": part, "seconds": seconds,
                                           "client": "%s:%d" % self.client if self.client else None})

    def _refuse(self, status: int, phrase: str, detail: str, *, active: bool) -> None:
        """Answer `status` with `{"detail": ...}`, then close the connection (lingering)."""
        self._disarm()
        body = json.dumps({"detail": detail}).encode()
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\n".encode() + b"content-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        cycle = self.cycle
        if active and cycle is not None:
            cycle.response_started = cycle.disconnected = True  # the app's own answer is dropped
            cycle.message_event.set()  # and its receive() sees the disconnect
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # FIN after the answer; keep reading, then close
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def protocol(cfg: Settings) -> type[DeadlineProtocol]:
    """DeadlineProtocol with the configured deadlines."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {
        "headers_timeout_seconds": cfg.headers_timeout_seconds,
        "request_timeout_seconds": cfg.request_timeout_seconds,
    })


def config(app: ASGIApp, cfg: Settings, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration `cutout serve` runs: the app behind the deadline protocol."""
    return uvicorn.Config(app, host=host, port=port, http=protocol(cfg), log_config=None,
                          access_log=False,
                          # X-Forwarded-* are the app's (web/origin.py: CUTOUT_TRUSTED_PROXIES)
                          proxy_headers=False)
