"""The blob port on a local folder (`make run`), with URLs the app serves and verifies."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urlencode

from . import Blob, BlobInfo, BlobNotFound, BlobUnavailable, check_key

PART = ".part"  # suffix of a file being written; never listed


class LocalBlobStore:
    """A folder: `objects/<key>` holds the bytes, `meta/<key>.json` the rest.

    Behaves as S3 does where callers can tell: user metadata keys are
    lower-cased, the ETag is the hex MD5 of the bytes, listing is in byte
    order. URLs point at the app's own `GET /v1/blobs/<key>` route and carry an
    expiry and an HMAC of key and expiry, so they behave like presigned URLs:
    anyone with the link may fetch until it expires, nobody can forge another.
    """

    def __init__(self, root: Path, secret: bytes | None = None) -> None:
        self.root = Path(root)
        self.secret = secret or secrets.token_bytes(32)

    def _paths(self, key: str) -> tuple[Path, Path]:
        check_key(key)
        return self.root / "objects" / key, self.root / "meta" / (key + ".json")

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        """Store `data` under `key`; returns its ETag. Raises InvalidObjectKey, BlobUnavailable."""
        body, meta = self._paths(key)
        etag = hashlib.md5(data).hexdigest()
        lowered = {name.lower(): value for name, value in (metadata or {}).items()}
        for path, content in ((body, data), (meta, json.dumps({
            "content_type": content_type, "metadata": lowered, "etag": etag,
        }).encode())):
            tmp = path.with_name(f".{path.name}.{os.getpid()}{PART}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(content)
                tmp.replace(path)
            except OSError as exc:  # a full disk, say: leave no half-written file taking room
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
                raise BlobUnavailable(f"Could not store the result in {self.root} "
                                      f"({exc.strerror}).") from exc
        return etag

    def _meta(self, key: str, meta: Path, if_match: str | None) -> dict[str, Any]:
        try:
            info: dict[str, Any] = json.loads(meta.read_text())
        except FileNotFoundError as exc:
            raise BlobNotFound(f"No object {key!r}.") from exc
        except (OSError, ValueError) as exc:
            raise BlobUnavailable(f"Could not read {key!r} from {self.root} ({exc}).") from exc
        if if_match and info["etag"] != if_match.strip('"'):
            raise BlobNotFound(f"Object {key!r} no longer has ETag {if_match}.")
        return info

    def head(self, key: str, if_match: str | None = None) -> BlobInfo:
        """What is under `key`. Raises BlobNotFound (missing, or another ETag), InvalidObjectKey,
        BlobUnavailable."""
        body, meta = self._paths(key)
        info = self._meta(key, meta, if_match)
        try:
            size = body.stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(f"No object {key!r}.") from exc
        return BlobInfo(size, info["content_type"], info["metadata"], info["etag"])

    def get(self, key: str, if_match: str | None = None) -> Blob:
        """The object under `key`. Raises BlobNotFound (missing, or another ETag),
        InvalidObjectKey, BlobUnavailable."""
        body, meta = self._paths(key)
        info = self._meta(key, meta, if_match)
        try:
            data = body.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"No object {key!r}.") from exc
        return Blob(data, info["content_type"], info["metadata"], info["etag"])

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is no error. Raises InvalidObjectKey, BlobUnavailable."""
        for path in self._paths(key):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise BlobUnavailable(f"Could not delete {key!r} from {self.root} ({exc.strerror}).") from exc

    def list(self, prefix: str) -> list[str]:
        """The keys under `prefix`, in UTF-8 byte order as S3 lists them."""
        objects = self.root / "objects"
        if not objects.is_dir():
            return []
        keys = (path.relative_to(objects).as_posix() for path in objects.rglob("*")
                if path.is_file() and not (path.name.startswith(".") and path.name.endswith(PART)))
        return sorted((key for key in keys if key.startswith(prefix)), key=lambda k: k.encode("utf-8"))

    def signature(self, key: str, expires: int) -> str:
        """The hex HMAC-SHA256 of key and expiry (Unix seconds) under this store's secret."""
        return hmac.new(self.secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A `/v1/blobs/<key>` URL valid for `expires_in` seconds. Raises InvalidObjectKey."""
        expires = int(time.time()) + int(expires_in)
        query = urlencode({"expires": expires, "signature": self.signature(check_key(key), expires)})
        return f"{base_url.rstrip('/')}/v1/blobs/{quote(key)}?{query}"

    def verify(self, key: str, expires: int, signature: str) -> bool:
        """True when the URL was signed here and has not expired."""
        return expires >= time.time() and hmac.compare_digest(
            self.signature(key, expires), signature
        )

    def upload_signature(self, key: str, expires: int) -> str:
        """Signs a PUT: a GET URL's signature never authorises an upload."""
        return hmac.new(self.secret, f"PUT\n{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def upload_url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A `PUT /v1/blobs/<key>` URL valid for `expires_in` seconds. Raises InvalidObjectKey."""
        expires = int(time.time()) + int(expires_in)
        query = urlencode({"expires": expires,
                           "signature": self.upload_signature(check_key(key), expires)})
        return f"{base_url.rstrip('/')}/v1/blobs/{quote(key)}?{query}"

    def verify_upload(self, key: str, expires: int, signature: str) -> bool:
        """True when the PUT URL was signed here and has not expired."""
        return expires >= time.time() and hmac.compare_digest(
            self.upload_signature(key, expires), signature
        )
