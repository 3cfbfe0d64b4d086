"""Result storage: objects written once and handed out by expiring URL.

One port, `BlobStore` (put, get, url), with two adapters: `S3BlobStore` (s3.py) for the
deployed service (presigned GET URLs, so the bucket stays private) and
`LocalBlobStore` (local.py) for `make run` (a folder, with URLs signed by HMAC that the app
serves itself and that expire like presigned ones). The API uses it for results
too large to answer inline (web/large_results.py); the S3 trigger reads uploads
and writes results through the same calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

from ..config import Settings
from ..errors import CutoutError

MAX_KEY_BYTES = 1024  # S3's own limit on key length


class BlobError(CutoutError):
    """The store could not be reached or refused the call; retrying may succeed."""

    code = "storage_unavailable"
    status = 503


class BlobNotFound(CutoutError):
    """No object under that key."""

    code = "not_found"
    status = 404


class InvalidKey(CutoutError):
    """A key that could escape the store's folder, or that S3 would refuse."""

    code = "invalid_key"
    status = 400


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""  # hex MD5 of the data for single-part objects, as S3 reports it


class BlobStore(Protocol):
    """Where objects live; keys are S3-style paths such as `results/api/x.png`."""

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        """Store `data` under `key`; returns its ETag."""

    def get(self, key: str) -> Blob:
        """The object under `key`, or BlobNotFound."""

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A URL that GETs the object without credentials until `expires_in` seconds pass."""


def check_key(key: str) -> str:
    """Refuse keys that could escape a folder or that S3 would reject."""
    if (not key or key.startswith("/") or "\\" in key or "\x00" in key
            or len(key.encode()) > MAX_KEY_BYTES
            or any(part in ("", ".", "..") for part in key.split("/"))):
        raise InvalidKey(f"Invalid object key {key!r}.")
    return key


def open_blobs(cfg: Settings) -> BlobStore:
    """S3 when a bucket is configured (the deployed service), else a local folder."""
    if cfg.bucket:
        from .s3 import S3BlobStore

        return S3BlobStore(cfg.bucket)
    from .local import LocalBlobStore

    secret = cfg.blob_secret.encode() if cfg.blob_secret else None
    return LocalBlobStore(Path(cfg.data_dir) / "blobs", secret)
