"""`cutout serve`: uvicorn with deadlines for receiving each request.

uvicorn times out idle keep-alive connections but has no limit on how long a
client may take to send a request: one byte a second holds a connection (and
whatever the app has buffered) forever ("slowloris"). `DeadlineH11Protocol` is
uvicorn's h11 protocol with the two deadlines Node's http server calls
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
from uvicorn.protocols.http.h11_impl import H11Protocol

from starlette.types import ASGIApp

from ..config import Settings

log = logging.getLogger("cutout.access")
# After a 408, the rest of what the client sends is read and dropped for this long before
# the socket is closed: closing with unread data would make the kernel reset the
# connection, and the client could lose the 408 (the "lingering close" of nginx/Apache).
LINGER_SECONDS = 2.0


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus header and request receive deadlines (seconds)."""

    headers_timeout_seconds: float = 10.0
    request_timeout_seconds: float = 60.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadlines: list[asyncio.TimerHandle] = []
        self._headers_deadline: asyncio.TimerHandle | None = None
        self._lingering = False
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # answered 408: drop the rest
        cycle = self.cycle
        if (cycle is None or cycle.response_complete) and data and not self._deadlines:
            self._arm(headers=True)  # the first byte of a new request on a kept-alive connection
        super().data_received(data)
        self._update()

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

    def _timed_out(self, part: str, seconds: float) -> None:
        self._disarm()
        cycle = self.cycle
        active = cycle is not None and not cycle.response_complete
        if self.transport.is_closing() or (active and cycle.response_started):
            return
        body = json.dumps({"detail": f"Request timeout: the {part} did not arrive within "
                                     f"{seconds:g} seconds."}).encode()
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        if active:
            cycle.response_started = cycle.disconnected = True  # the app's own answer is dropped
            cycle.message_event.set()  # and its receive() sees the disconnect
        log.info("request timeout", extra={"part": part, "seconds": seconds,
                                           "client": "%s:%d" % self.client if self.client else None})
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # FIN after the 408; keep reading, then close
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def protocol(cfg: Settings) -> type[DeadlineH11Protocol]:
    """DeadlineH11Protocol with the configured deadlines."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {
        "headers_timeout_seconds": cfg.headers_timeout_seconds,
        "request_timeout_seconds": cfg.request_timeout_seconds,
    })


def config(app: ASGIApp, cfg: Settings, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration `cutout serve` runs: the app behind the deadline protocol."""
    return uvicorn.Config(app, host=host, port=port, http=protocol(cfg), log_config=None,
                          access_log=False)
