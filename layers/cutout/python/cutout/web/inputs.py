"""Read an image request in any of its shapes into one neutral form.

Dialects differ in field names, not in transport: multipart, urlencoded form,
JSON, or a raw image body. `read_input` flattens all four; `decode_base64` and
`download` turn base64 text or a URL into bytes.

A download runs in a thread pool of its own (`Downloads`), never in the one
authentication, metering and the pixels use, and at most
CUTOUT_FETCH_DOWNLOADS_PER_KEY of one key's run at once: a failed download is
free, so without the bound one key pointing many requests at a slow URL held
every worker thread and stalled other accounts (45 such requests made another
key's `GET /v1/account` wait 26 s). One more is refused at once with
`TooManyDownloads` (429, Retry-After), before anything is charged.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from dataclasses import dataclass, field

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from .. import fetch
from ..accounts.ratelimit import RateLimited
from ..config import Settings
from ..errors import CutoutError, InputError, InvalidImage
from .auth import current_caller

RAW_TYPES = ("image/", "application/octet-stream")
# Threads for URL downloads in one process, all keys together (their own pool: downloads
# never take the threads that authentication and metering need). More wait for a thread;
# each download ends within CUTOUT_FETCH_TIMEOUT. Also bounds the downloads' memory
# (at most this many files of up to CUTOUT_MAX_BYTES at once).
DOWNLOAD_THREADS = 32
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


class TooManyDownloads(RateLimited):
    """A key already has CUTOUT_FETCH_DOWNLOADS_PER_KEY URL inputs downloading: refused at
    once, answered as each dialect answers rate limits (429, Retry-After), not charged."""


class Downloads:
    """URL inputs' downloads for one app: in their own pool of `threads`, at most `per_key` of
    one account's at once (`timeout`: the fetch deadline, seconds, for Retry-After)."""

    def __init__(self, per_key: int, timeout: float, threads: int = DOWNLOAD_THREADS) -> None:
        self.per_key = max(1, per_key)
        self.timeout = timeout
        self.pool = CapacityLimiter(threads)
        self.running: dict[str, int] = {}  # account id -> downloads now (event loop only)

    @classmethod
    def of(cls, cfg: Settings) -> "Downloads":
        return cls(cfg.fetch_downloads_per_key, cfg.fetch_timeout)

    async def fetch(self, account: str, url: str, cfg: Settings, max_bytes: int) -> fetch.Fetched:
        """`fetch.fetch` for `account` in the downloads' pool. Raises TooManyDownloads (the
        account is at its bound), or what fetch.fetch raises (FetchRefused, FetchError)."""
        if self.running.get(account, 0) >= self.per_key:
            wait = max(1, math.ceil(self.timeout))
            raise TooManyDownloads(
                f"Too many downloads at once: at most {self.per_key} image URLs of one key are "
                f"fetched at a time. Retry after {wait} seconds, or send the image itself.",
                headers={"Retry-After": str(wait)})
        self.running[account] = self.running.get(account, 0) + 1
        try:
            return await anyio.to_thread.run_sync(functools.partial(
                fetch.fetch, url, max_bytes=max_bytes, timeout=cfg.fetch_timeout,
                max_redirects=cfg.fetch_max_redirects, allow_hosts=cfg.fetch_allow_hosts,
            ), limiter=self.pool)
        finally:
            self.running[account] -= 1
            if not self.running[account]:
                del self.running[account]


async def download(request: Request, url: str, max_bytes: int | None = None) -> fetch.Fetched:
    """The image at `url` (at most `max_bytes`, default CUTOUT_MAX_BYTES), fetched for the
    request's authenticated caller within the app's `Downloads` bounds.

    Raises TooManyDownloads (429), FetchRefused or FetchError (fetch_failed).
    """
    cfg: Settings = request.app.state.services.settings
    downloads: Downloads = request.app.state.downloads
    caller = current_caller()
    account = caller.account.id if caller is not None else ""
    return await downloads.fetch(account, url, cfg, cfg.max_bytes if max_bytes is None else max_bytes)
