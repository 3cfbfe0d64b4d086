"""The blob port on a local folder (`make run`), with URLs the app serves and verifies."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, urlencode

from . import Blob, BlobError, BlobNotFound, check_key


class LocalBlobStore:
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
