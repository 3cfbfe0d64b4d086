"""Read an image request in any of its shapes into one neutral form.

Dialects differ in field names, not in transport: multipart, urlencoded form,
JSON, or a raw image body. `read_input` flattens all four; `decode_base64` and
`download` turn base64 text or a URL into bytes.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from .. import fetch
from ..config import Settings
from ..errors import CutoutError, InputError, InvalidImage

RAW_TYPES = ("image/", "application/octet-stream")
# Deepest nesting of JSON arrays and objects a request body may have. Real requests
# are one level deep; Python's parser and encoder recurse, so ~1,000 levels would end
# in RecursionError (a 500).
MAX_JSON_DEPTH = 32
_DATA_URI = re.compile(r"^data:[^,]*;base64,", re.IGNORECASE)


class BadRequest(InputError):
    """The request itself is malformed (not the image in it)."""

    code = "bad_request"
    status = 400  # a web-edge error: its HTTP status is its own


@dataclass
class Upload:
    data: bytes
    filename: str = ""
    content_type: str = ""


@dataclass
class RequestInput:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    raw: Upload | None = None


async def read_input(request: Request) -> RequestInput:
    """Parse the body by its content type; a dialect then picks its own field names.

    Raises BadRequest for a body that is not what its content type says (bad JSON,
    a malformed multipart body, too many parts, one file field sent twice).
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        found = RequestInput()
        try:
            form = await request.form(max_files=4, max_fields=64, max_part_size=64 * 1024 * 1024)
        except HTTPException as exc:  # Starlette's answer to a malformed multipart body
            raise BadRequest(f"Malformed request body: {exc.detail}") from exc
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key in found.files:  # which one was meant cannot be told
                        raise BadRequest(f"The file field {key[:100]!r} was sent more than "
                                         "once; send one file in it.")
                    found.files[key] = Upload(
                        await value.read(), value.filename or "", value.content_type or ""
                    )
                else:
                    found.fields[key] = value
        finally:
            await form.close()
        return found
    body = await request.body()
    if ctype == "application/json" or (ctype == "" and body[:1] == b"{"):
        parsed = parse_json(body or b"{}")
        if not isinstance(parsed, dict):
            raise BadRequest("Request body must be a JSON object.")
        return RequestInput(fields={k: v if isinstance(v, str) else json.dumps(v)
                                    for k, v in parsed.items() if v is not None})
    if body:
        return RequestInput(raw=Upload(body, "", ctype))
    return RequestInput()


def parse_json(body: bytes) -> object:
    """A JSON request body, nested at most MAX_JSON_DEPTH arrays/objects deep.

    Raises BadRequest when the body is not JSON (including RecursionError from
    the parser on very deep nesting) or is nested deeper than the limit.
    """
    try:
        parsed = json.loads(body)
    except RecursionError as exc:
        raise BadRequest(_too_deep()) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Request body is not valid JSON.") from exc
    if json_depth(parsed) > MAX_JSON_DEPTH:
        raise BadRequest(_too_deep())
    return parsed


def _too_deep() -> str:
    return f"Request body is nested too deeply: at most {MAX_JSON_DEPTH} levels of JSON arrays and objects."


def json_depth(value: object) -> int:
    """Levels of nested lists/dicts in a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def decode_base64(text: str) -> bytes:
    """Base64 (standard or URL-safe, with or without a data: URI prefix) to bytes."""
    cleaned = _DATA_URI.sub("", text.strip())
    cleaned = re.sub(r"\s+", "", cleaned)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("Can not load image: the image is not valid base64.") from exc


async def download(url: str, cfg: Settings) -> fetch.Fetched:
    """fetch.fetch in a worker thread, with the configured limits."""
    return await run_in_threadpool(
        fetch.fetch,
        url,
        max_bytes=cfg.max_bytes,
        timeout=cfg.fetch_timeout,
        max_redirects=cfg.fetch_max_redirects,
        allow_hosts=cfg.fetch_allow_hosts,
    )
