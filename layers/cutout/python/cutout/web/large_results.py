"""Results too large for a synchronous response: stored, and answered with a URL.

AWS Lambda refuses a synchronous response larger than 6 MB (6,291,456 bytes of
JSON), and API Gateway then answers the client with a bare 502. A cut-out of a
large photo easily passes that: a 12-megapixel RGBA PNG is 10-20 MB, and base64
adds a third. So, in one place:

- `deliver()` is how a dialect hands over an image inside JSON: inline base64
  while the whole response stays under `Settings.max_response_bytes`; above it
  the bytes go to the result store (blobs.py: the S3 bucket on Lambda) and the
  entity carries `url` (a presigned GET URL) and `expires_at` instead of
  `image`. If storing fails the answer is a 503 naming the limit.
- `fit_lambda_response()` is the Lambda handler's last check on every finished
  response, whatever the route or dialect: one still over the limit becomes a
  413 that names the limit and the ways around it, never a 502.
- `router` serves the local store's signed URLs (`make run` has no S3).

`max_response_bytes` is 0 (no limit) under uvicorn; the Lambda handler sets it
to LAMBDA_RESPONSE_LIMIT.
"""
from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..blobs import BlobStore, BlobUnavailable, InvalidObjectKey
from ..blobs.local import LocalBlobStore
from ..errors import RETRY_AFTER_SECONDS, CutoutError, InputError
from ..engine.pipeline import Result

log = logging.getLogger(__name__)

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024  # bytes of a synchronous Lambda response payload
ENVELOPE = 64 * 1024  # room for the status line, headers and JSON around an inline image
RESULTS_PREFIX = "results/api/"  # under results/: the bucket's lifecycle rule expires it
EXTENSIONS = {"png": "png", "webp": "webp", "jpg": "jpg", "zip": "zip"}
SMALLER = "ask for a smaller result (a smaller size or image, JPEG instead of PNG, or a mask)"
ALTERNATIVES = f"{SMALLER}, or use POST /v1/results, which hands large results over as a download URL"


class ResultTooLarge(InputError):
    """The finished response is over what a synchronous Lambda response may carry."""

    code = "result_too_large"
    status = 413  # a web-edge error: its HTTP status is its own


def limit_text(limit: int) -> str:
    """'6 MB (6291456 bytes)' for whole mebibytes, else the bytes alone."""
    megabytes, rest = divmod(limit, 1024 * 1024)
    return f"{megabytes} MB ({limit} bytes)" if megabytes and not rest else f"{limit} bytes"


def inline_size(nbytes: int) -> int:
    """Bytes that `nbytes` of binary take inside a JSON response: base64, 4 per 3."""
    return 4 * ((nbytes + 2) // 3)


def fits_inline(nbytes: int, max_response_bytes: int) -> bool:
    """True when a response carrying `nbytes` as base64 stays within the limit (0: none)."""
    return max_response_bytes <= 0 or inline_size(nbytes) + ENVELOPE <= max_response_bytes


def note(request: Request, **fields: Any) -> None:
    """Add fields to the request's access-log line, which the Lambda handler turns into metrics."""
    request.scope.setdefault("state", {}).setdefault("log_fields", {}).update(fields)


async def deliver(request: Request, result: Result, *, name: str = "result") -> dict[str, Any]:
    """The entity fields that hand `result` over: {"image": base64} or {"url", "expires_at"}.

    Raises BlobUnavailable (503) when the result must be stored and the store fails.
    """
    settings = request.app.state.engine.settings
    size = len(result.data)
    note(request, megapixels=round(result.width * result.height / 1e6, 3), result_bytes=size)
    if fits_inline(size, settings.max_response_bytes):
        note(request, delivery="inline")
        return {"image": base64.b64encode(result.data).decode("ascii")}

    store: BlobStore = request.app.state.blobs
    request_id = request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
    key = (f"{RESULTS_PREFIX}{time.strftime('%Y/%m/%d', time.gmtime())}/"
           f"{request_id}-{uuid.uuid4().hex[:12]}/{name}.{EXTENSIONS.get(result.format, 'bin')}")
    ttl = settings.result_url_ttl
    try:
        await run_in_threadpool(store.put, key, result.data, result.content_type,
                                {"request-id": request_id})
        url = store.url(key, ttl, str(request.base_url))
    except BlobUnavailable as exc:
        log.error("large result not stored", extra={"key": key, "error": exc.message})
        raise BlobUnavailable(
            f"The result is {size} bytes: too large to return inline (the limit of a "
            f"synchronous response is {limit_text(settings.max_response_bytes)}), and "
            f"storing it for download failed: {exc.message} Try again later, or {SMALLER}."
        ) from exc
    note(request, delivery="url")
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ttl))
    return {"url": url, "expires_at": expires}


def too_large_body(size: int, limit: int) -> dict[str, Any]:
    """The error body, shaped so clients of every dialect find the message where they look."""
    message = (f"The response would be {size} bytes, over the {limit_text(limit)} limit of a "
               f"synchronous AWS Lambda response. To get it, {ALTERNATIVES}.")
    code = ResultTooLarge.code
    return {
        "detail": message,  # API4AI and FastAPI clients
        "errors": [{"title": message, "code": code}],  # remove.bg clients
        "error": {"code": code, "message": message},  # Azure clients
    }


def fit_lambda_response(response: dict[str, Any], limit: int = LAMBDA_RESPONSE_LIMIT) -> dict[str, Any]:
    """`response` itself when its serialized size is within `limit`, else a 413 naming the limit."""
    size = len(json.dumps(response).encode())
    if size <= limit:
        return response
    headers = {"content-type": "application/json"}
    request_id = (response.get("headers") or {}).get("x-request-id")
    if request_id:
        headers["x-request-id"] = request_id
    log.warning("response over the Lambda limit replaced by a 413",
                extra={"response_bytes": size, "limit": limit,
                       "original_status": response.get("statusCode")})
    return {
        "statusCode": ResultTooLarge.status,
        "headers": headers,
        "body": json.dumps(too_large_body(size, limit)),
        "isBase64Encoded": False,
    }


router = APIRouter(tags=["results"])
EXPIRED = "This result link is invalid or has expired."


@router.get("/v1/blobs/{key:path}", include_in_schema=False)
async def local_blob(request: Request, key: str, expires: int = 0, signature: str = "") -> Response:
    """Serve a stored result by its signed, expiring URL (local store only; S3 serves its own)."""
    store = request.app.state.blobs
    if not isinstance(store, LocalBlobStore):
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    try:
        if not store.verify(key, expires, signature):
            return JSONResponse({"detail": EXPIRED}, status_code=403)
        blob = await run_in_threadpool(store.get, key)
    except CutoutError:  # no such object, or a key that is not one
        return JSONResponse({"detail": EXPIRED}, status_code=404)
    return Response(blob.data, media_type=blob.content_type)


@router.put("/v1/blobs/{key:path}", include_in_schema=False)
async def local_upload(request: Request, key: str, expires: int = 0, signature: str = "") -> Response:
    """Store an upload by its signed, expiring PUT URL (local store only; S3 takes its own).

    The body is capped by the app's request limit (RequestContext).
    """
    store = request.app.state.blobs
    if not isinstance(store, LocalBlobStore):
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    try:
        if not store.verify_upload(key, expires, signature):
            return JSONResponse({"detail": EXPIRED}, status_code=403)
        data = await request.body()
        ctype = request.headers.get("content-type", "application/octet-stream")
        etag = await run_in_threadpool(store.put, key, data, ctype)
    except InvalidObjectKey:
        return JSONResponse({"detail": EXPIRED}, status_code=404)
    except BlobUnavailable as exc:
        return JSONResponse({"detail": exc.message}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})
