"""Result storage: objects written once and handed out by expiring URL.

One port, `BlobStore` (put, get, url), with two adapters: `S3Blobs` for the
deployed service (presigned GET URLs, so the bucket stays private) and
`LocalBlobs` for `make run` (a folder, with URLs signed by HMAC that the app
serves itself and that expire like presigned ones). The API uses it for results
too large to answer inline (web/large_results.py); the S3 trigger reads uploads
and writes results through the same calls.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol
from urllib.parse import quote, urlencode

from .config import Settings
from .errors import CutoutError

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

    def delete(self, key: str) -> None:
        """Remove the object under `key` (no error when there is none); BlobError if unreachable."""


def check_key(key: str) -> str:
    """Refuse keys that could escape a folder or that S3 would reject."""
    if (not key or key.startswith("/") or "\\" in key or "\x00" in key
            or len(key.encode()) > MAX_KEY_BYTES
            or any(part in ("", ".", "..") for part in key.split("/"))):
        raise InvalidKey(f"Invalid object key {key!r}.")
    return key


class S3Blobs:
    """An S3 bucket. The client is created on first use: most requests never need it.

    boto3 finds endpoint and credentials the usual way (the Lambda role, or
    AWS_ENDPOINT_URL_S3 for a local S3); timeouts are short so that an
    unreachable S3 becomes a BlobError within seconds, not a Lambda timeout.
    """

    def __init__(self, bucket: str, client: Any = None, timeout: float = 5.0) -> None:
        self.bucket = bucket
        self._client = client
        self._timeout = timeout

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # in the Lambda runtime; not shipped in the deps layer
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(
                # SigV4 on the regional virtual-host name: presigned URLs work in every
                # region from the first minute (the global name redirects new buckets).
                signature_version="s3v4",
                s3={"addressing_style": "virtual"},
                connect_timeout=self._timeout,
                read_timeout=self._timeout * 2,
                retries={"max_attempts": 3, "mode": "standard"},
            ))
        return self._client

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=check_key(key), Body=data,
                ContentType=content_type, Metadata=dict(metadata or {}),
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobError(f"Could not store the result in S3 ({_reason(exc)}).") from exc
        return answer.get("ETag", "").strip('"')

    def get(self, key: str) -> Blob:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
            data = answer["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound(f"No object {key!r} in bucket {self.bucket}.") from exc
            raise BlobError(f"Could not read {key!r} from S3 ({_reason(exc)}).") from exc
        except BotoCoreError as exc:
            raise BlobError(f"Could not read {key!r} from S3 ({_reason(exc)}).") from exc
        return Blob(data, answer.get("ContentType", ""), dict(answer.get("Metadata", {})),
                    answer.get("ETag", "").strip('"'))

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A presigned GET URL (signed locally: no call to S3)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=int(expires_in),
        )


    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=check_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise BlobError(f"Could not delete {key!r} from S3 ({_reason(exc)}).") from exc


def _reason(exc: Exception) -> str:
    """S3's error code, or the exception's class: enough to tell, never a secret."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") or exc.__class__.__name__


class LocalBlobs:
    """A folder: `objects/<key>` holds the bytes, `meta/<key>.json` the rest.

    URLs point at the app's own `GET /v1/blobs/<key>` route and carry an expiry
    and an HMAC of key and expiry, so they behave like presigned URLs: anyone
    with the link may fetch until it expires, nobody can forge another.
    """

    def __init__(self, root: Path, secret: bytes | None = None) -> None:
        self.root = Path(root)
        self.secret = secret or secrets.token_bytes(32)

    def _paths(self, key: str) -> tuple[Path, Path]:
        check_key(key)
        return self.root / "objects" / key, self.root / "meta" / (key + ".json")

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        body, meta = self._paths(key)
        etag = hashlib.md5(data).hexdigest()
        try:
            for path, content in ((body, data), (meta, json.dumps({
                "content_type": content_type, "metadata": dict(metadata or {}), "etag": etag,
            }).encode())):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
                tmp.write_bytes(content)
                tmp.replace(path)
        except OSError as exc:
            raise BlobError(f"Could not store the result in {self.root} ({exc.strerror}).") from exc
        return etag

    def get(self, key: str) -> Blob:
        body, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text())
            data = body.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"No object {key!r}.") from exc
        return Blob(data, info["content_type"], info["metadata"], info["etag"])

    def delete(self, key: str) -> None:
        for path in self._paths(key):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise BlobError(f"Could not delete {key!r} ({exc.strerror}).") from exc

    def signature(self, key: str, expires: int) -> str:
        return hmac.new(self.secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        expires = int(time.time()) + int(expires_in)
        query = urlencode({"expires": expires, "signature": self.signature(check_key(key), expires)})
        return f"{base_url.rstrip('/')}/v1/blobs/{quote(key)}?{query}"

    def verify(self, key: str, expires: int, signature: str) -> bool:
        """True when the URL was signed here and has not expired."""
        return expires >= time.time() and hmac.compare_digest(
            self.signature(key, expires), signature
        )


def open_blobs(cfg: Settings) -> BlobStore:
    """S3 when a bucket is configured (the deployed service), else a local folder."""
    if cfg.bucket:
        return S3Blobs(cfg.bucket)
    secret = cfg.blob_secret.encode() if cfg.blob_secret else None
    return LocalBlobs(Path(cfg.data_dir) / "blobs", secret)
