"""Results too large for a synchronous response: stored and answered with a URL, or refused.

AWS Lambda refuses a synchronous response larger than 6 MB (6,291,456 bytes of
JSON), and API Gateway then answers the client with a bare 502. A cut-out of a
large photo easily passes that: a 12-megapixel RGBA PNG is 10-20 MB, and base64
adds a third. `Settings.max_response_bytes` is the limit (0: none, under
uvicorn; the Lambda handler sets it to LAMBDA_RESPONSE_LIMIT). In one place:

- `deliver()` is how a dialect hands over an image inside JSON: inline base64
  while the whole response stays under the limit; above it the bytes go to the
  result store (the S3 bucket on Lambda) and the entity carries `url` (a
  presigned GET URL) and `expires_at` instead of `image`. If storing fails the
  answer is a 503 naming the limit.
- `over_the_limit()` is every dialect route's check of its finished response
  (`dialect.DialectRoute`): over the limit, the dialect answers 413
  `result_too_large` in its own shape, and the request is not charged.
- `fit_lambda_response()` is the Lambda handler's last check, whatever the route:
  one still over the limit becomes a 413 that names the limit, never a 502.
"""
from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from typing import Any, Callable

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from ..blobs import BlobUnavailable
from ..engine import formats
from ..engine.pipeline import Result
from ..errors import InputError
from ..numerals import integer, is_integer
from . import origin
from .middleware import note
from .processing import services

log = logging.getLogger(__name__)

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024  # bytes of a synchronous Lambda response payload
ENVELOPE = 64 * 1024  # room for the status line, headers and JSON around a body
RESULTS_PREFIX = "results/api/"  # under results/: the bucket's lifecycle rule expires it
SMALLER = "ask for a smaller result (a smaller size or image, JPEG instead of PNG, or a mask)"
ALTERNATIVES = f"{SMALLER}, or use POST /v1/results, which hands large results over as a download URL"
# Bodies Mangum passes to Lambda as text (its DEFAULT_TEXT_MIME_TYPES); the rest are base64.
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml",
              "application/vnd.api+json", "application/vnd.oai.openapi")


class ResultTooLarge(InputError):
    """The finished response is over what a synchronous response may carry."""

    code = "result_too_large"
    status = 413  # a web-edge error: its HTTP status is its own


def limit_text(limit: int) -> str:
    """'6 MB (6291456 bytes)' for whole mebibytes, else the bytes alone."""
    megabytes, rest = divmod(limit, 1024 * 1024)
    return f"{megabytes} MB ({limit} bytes)" if megabytes and not rest else f"{limit} bytes"


def too_large(size: int, limit: int) -> ResultTooLarge:
    """The refusal of a response of `size` bytes over `limit` bytes, saying how to get it."""
    return ResultTooLarge(f"The response would be {size} bytes, over the {limit_text(limit)} limit "
                          f"of a synchronous response. To get it, {ALTERNATIVES}.")


def inline_size(nbytes: int) -> int:
    """Bytes that `nbytes` of binary take as base64 text: 4 per 3."""
    return 4 * ((nbytes + 2) // 3)


def payload_size(nbytes: int, content_type: str) -> int:
    """Bytes a body of `nbytes` costs in a Lambda response: as is for text, base64 for the
    rest (Mangum's rule), plus the envelope."""
    text = any(kind in content_type for kind in TEXT_TYPES)
    return (nbytes if text else inline_size(nbytes)) + ENVELOPE


def fits_inline(nbytes: int, max_response_bytes: int) -> bool:
    """True when a response carrying `nbytes` of binary (base64 in JSON, or a binary body)
    stays within the limit (0: none)."""
    return max_response_bytes <= 0 or inline_size(nbytes) + ENVELOPE <= max_response_bytes


def over_the_limit(request: Request, response: Response) -> ResultTooLarge | None:
    """The refusal for a finished `response` over CUTOUT_MAX_RESPONSE_BYTES, else None."""
    limit = services(request).settings.max_response_bytes
    length = response.headers.get("content-length", "")
    if limit <= 0 or not is_integer(length):
        return None
    size = payload_size(integer(length), response.headers.get("content-type", ""))
    if size <= limit:
        return None
    log.warning("response over the limit refused", extra={"response_bytes": size, "limit": limit})
    return too_large(size, limit)


async def deliver(request: Request, result: Result, *, name: str = "result") -> dict[str, Any]:
    """The entity fields that hand `result` over: {"image": base64} or {"url", "expires_at"}.

    Raises BlobUnavailable (503) when the result must be stored and the store fails.
    """
    found = services(request)
    settings = found.settings
    size = len(result.data)
    note(request, megapixels=round(result.width * result.height / 1e6, 3), result_bytes=size)
    if fits_inline(size, settings.max_response_bytes):
        note(request, delivery="inline")
        return {"image": base64.b64encode(result.data).decode("ascii")}

    request_id = request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
    key = (f"{RESULTS_PREFIX}{time.strftime('%Y/%m/%d', time.gmtime())}/"
           f"{request_id}-{uuid.uuid4().hex[:12]}/{name}.{formats.get(result.format).extension}")
    ttl = settings.result_url_ttl
    base = origin.base_url(request)  # before storing anything: an untrusted Host is refused
    try:
        await run_in_threadpool(found.blobs.put, key, result.data, result.content_type,
                                {"request-id": request_id})
        url = found.blobs.url(key, ttl, base)
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


def fit_lambda_response(response: dict[str, Any], limit: int,
                        body: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """`response` (Mangum's) itself when its serialized size is within `limit` bytes, else a
    413 whose JSON body is `body(message)` (every dialect's fields: dialects.too_large_body)."""
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
    message = (f"The response would be {size} bytes, over the {limit_text(limit)} limit of a "
               f"synchronous AWS Lambda response. To get it, {ALTERNATIVES}.")
    return {"statusCode": 413, "headers": headers, "body": json.dumps(body(message)),
            "isBase64Encoded": False}
