"""ASGI middleware: request ids, one JSON access-log line per request, the body size limit,
and the metering headers (and refunds) of every metered response."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import deadline
from ..numerals import integer, is_integer
from .auth import close_slot, open_slot

log = logging.getLogger("cutout.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class BodyTooLarge(Exception):
    pass


def redacted(path: str, secret_paths: tuple[str, ...]) -> str:
    """`path` as the access log shows it: the segment after a `secret_paths` prefix (a bearer
    secret, such as a published image's token) replaced by `#` + 12 hex digits of its
    SHA-256, enough to tell requests for one secret apart, useless for fetching it."""
    for prefix in secret_paths:
        if path.startswith(prefix) and len(path) > len(prefix):
            secret, slash, rest = path[len(prefix):].partition("/")
            digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()[:12]
            return f"{prefix}#{digest}{slash}{rest}"
    return path


class RequestContext:
    """Gives every request an id (X-Request-Id), logs it once, caps its body, and sets its
    deadline for calls to AWS (`backend_deadline_seconds` from now; cutout/deadline.py).

    The cap answers 413 from the Content-Length header before reading anything,
    and stops reading a chunked body as soon as it passes the limit. Paths under
    `secret_paths` are logged with their secret hashed (`redacted`).
    """

    def __init__(self, app: ASGIApp, max_body: int, secret_paths: tuple[str, ...] = (),
                 backend_deadline_seconds: float = 0.0) -> None:
        self.app = app
        self.max_body = max_body
        self.secret_paths = secret_paths
        self.backend_deadline_seconds = backend_deadline_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"x-request-id", request_id.encode())
                ]
            await send(message)

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        try:
            declared = headers.get("content-length", "")
            if is_integer(declared) and integer(declared) > self.max_body:
                await self._too_large(send_with_id)
            else:
                try:
                    with deadline.within(self.backend_deadline_seconds):
                        await self.app(scope, capped_receive, send_with_id)
                except BodyTooLarge:
                    await self._too_large(send_with_id)
                except ClientDisconnect:  # gone before its body arrived (e.g. a receive deadline)
                    status["code"] = 499  # nginx's "client closed request": nobody to answer
        finally:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": redacted(str(scope.get("path", "")), self.secret_paths),
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    **scope["state"].get("log_fields", {}),
                },
            )

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"Request body is too large: the limit is {self.max_body} bytes."}
        ).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def note(request: Request, **fields: Any) -> None:
    """Add fields to the request's access-log line (which the Lambda handler turns into metrics)."""
    request.scope.setdefault("state", {}).setdefault("log_fields", {}).update(fields)


class MeteringHeaders:
    """Puts the caller's rate-limit and credit headers on the response.

    It also refunds an admitted request whose response is an error (4xx or 5xx: the
    client got no result), or that raised before a response was sent: the client is
    not charged for what it did not get, whichever dialect produced it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        slot, token = open_slot()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                caller = slot.caller
                if caller is not None:
                    extra = await caller.response_headers(message["status"])
                    fields: dict[str, Any] = {"account": caller.account.id,
                                              "plan": caller.account.plan}
                    if caller.ticket is not None:
                        fields["credits_charged"] = caller.ticket.charged
                    scope.setdefault("state", {}).setdefault("log_fields", {}).update(fields)
                    raw = list(message.get("headers", []))
                    present = {name.lower() for name, _ in raw}
                    for name, value in extra.items():
                        encoded = name.lower().encode("latin-1")
                        if encoded not in present:
                            raw.append((encoded, value.encode("latin-1")))
                    message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except BaseException:
            caller = slot.caller
            if caller is not None and caller.ticket is not None:
                await run_in_threadpool(caller.limiter.refund, caller.ticket)
            raise
        finally:
            close_slot(token)
