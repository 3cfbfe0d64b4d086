"""Object storage: the blob port, its records, and `open_blobs`.

One port, `BlobStore` (put, head, get, delete, list, url), with two adapters:
`S3BlobStore` (s3.py) for the deployed service (presigned GET URLs, so the
bucket stays private) and `LocalBlobStore` (local.py) for `make run` (a
folder, with URLs signed by HMAC that the app serves itself and that expire
like presigned ones). Each adapter turns its backend's failures into this
module's errors: `BlobNotFound` (a NotFound), `BlobUnavailable` (an
Unavailable: retry), `InvalidObjectKey` (an InputError). `read` is the one
size-bounded read over either (head, refuse if too large, then get). The API stores results
too large to answer inline here (web/large_results.py); the S3 uploads trigger
(jobs/s3_uploads.py) reads uploads and writes results through the same port.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

from ..config import Settings
from ..errors import FileTooLarge, InputError, NotFound, Unavailable

MAX_KEY_BYTES = 1024  # S3's own limit on key length


class BlobUnavailable(Unavailable):
    """The store could not be reached or refused the call; retrying may succeed."""

    code = "storage_unavailable"


class BlobNotFound(NotFound):
    """No object under that key (or none with the ETag asked for)."""

    code = "not_found"


class InvalidObjectKey(InputError):
    """An object key that could escape the store's folder, or that S3 would refuse."""

    code = "invalid_key"


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about an object, without its bytes."""

    size: int  # bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)  # user metadata (S3: x-amz-meta-*)
    etag: str = ""  # hex MD5 of the data for single-part objects, as S3 reports it, unquoted


@dataclass(frozen=True)
class Blob:
    """An object's bytes and what the store knows about them."""

    data: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""  # as in BlobInfo


class BlobStore(Protocol):
    """Where objects live; keys are S3-style paths such as `results/api/x.png`.

    Every method raises InvalidObjectKey for a key `check_key` refuses, and
    BlobUnavailable when the backend fails.
    """

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        """Store `data` under `key` (replacing any object there); returns its ETag."""
        ...

    def head(self, key: str, if_match: str | None = None) -> BlobInfo:
        """What is stored under `key`; BlobNotFound if nothing, or not with ETag `if_match`."""
        ...

    def get(self, key: str, if_match: str | None = None) -> Blob:
        """The object under `key`; BlobNotFound if nothing, or not with ETag `if_match`."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under `key`; nothing there is not an error."""
        ...

    def list(self, prefix: str) -> list[str]:
        """The keys that start with `prefix`, sorted (UTF-8 byte order, as S3 lists them)."""
        ...

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A URL that GETs the object without credentials until `expires_in` seconds pass."""
        ...

    def upload_url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A URL that PUTs the object (the request body) without credentials until it expires."""
        ...


def check_key(key: str) -> str:
    """`key`, or InvalidObjectKey if it could escape a folder or S3 would reject it."""
    if (not key or key.startswith("/") or "\\" in key or "\x00" in key
            or len(key.encode()) > MAX_KEY_BYTES
            or any(part in ("", ".", "..") for part in key.split("/"))):
        raise InvalidObjectKey(f"Invalid object key {key!r}.")
    return key


def read(store: BlobStore, key: str, max_bytes: int, if_match: str | None = None) -> Blob:
    """The object under `key`, refused before its bytes are read if over `max_bytes` bytes.

    For objects a client wrote (S3 uploads, presigned job uploads), whose size
    nothing bounded: `head` first, then `get` of that same version (its ETag), so
    an object replaced in between by a larger one is not read either.
    Raises ImageTooLarge (an InputError), BlobNotFound if nothing is there (or not
    with ETag `if_match`, or replaced between the two calls), InvalidObjectKey,
    BlobUnavailable.
    """
    info = store.head(key, if_match=if_match)
    if info.size > max_bytes:
        raise FileTooLarge(info.size, max_bytes)
    return store.get(key, if_match=info.etag or if_match)


def open_blobs(cfg: Settings) -> BlobStore:
    """S3 when a bucket is configured (the deployed service), else a local folder."""
    if cfg.bucket:
        from .s3 import S3BlobStore

        return S3BlobStore(cfg.bucket)
    from .local import LocalBlobStore

    secret = cfg.blob_secret.encode() if cfg.blob_secret else None
    return LocalBlobStore(Path(cfg.data_dir) / "blobs", secret)
