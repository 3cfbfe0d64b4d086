"""Stored images: records in the store (ImageStore), bytes in the blob store under `images/`.

The library behind the IMG Processing dialect (web/imgproc.py), with no HTTP
in it: save, get, list a page, read, delete, publish. Image ids sort by
creation time, so a list is the newest-first walk of one store partition and
an id is a cursor that stays valid whatever is inserted or deleted meanwhile.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
import numpy as np

from .engine import compose, formats, images
from .blobs import BlobNotFound, BlobStore
from .errors import NotFound
from .stores import ImageRecord, ImageStore

ID_PREFIX = "image_"
PREFIX = "images/"  # blob keys; the template's lifecycle rule and IAM policy name this prefix
# The formats images are stored in, by the names of IMG Processing's image object: an
# upload in one of them is kept as sent; any other (BMP, TIFF, GIF...) is stored as PNG.
STORED = {name: formats.get(name) for name in ("jpeg", "png", "webp")}
DAY = 86_400


class ImageNotFound(NotFound):
    """No such image for this account (another account's id looks exactly the same)."""


ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: ASCII order = value order


def new_image_id(now: float | None = None) -> str:
    """`image_` + 10 characters of milliseconds (base32, so ids sort by time, as ULIDs do)
    + 16 random characters (80 bits)."""
    millis = int((time.time() if now is None else now) * 1000)
    stamp = "".join(ALPHABET[(millis >> shift) & 31] for shift in range(45, -1, -5))
    return ID_PREFIX + stamp + "".join(secrets.choice(ALPHABET) for _ in range(16))


def blob_key(image_id: str) -> str:
    return PREFIX + image_id


@dataclass(frozen=True)
class Page:
    records: list[ImageRecord]
    next: str | None  # the id the next (older) page starts at
    previous: str | None  # the id the previous (newer) page starts at


def stored_format(decoded: str) -> str | None:
    """The stored format of an upload the decoder named `decoded` ("JPEG" -> "jpeg"), or None
    when it is stored as PNG."""
    return next((name for name, row in STORED.items() if row.decoded_as == decoded), None)


def header_of(record: ImageRecord, data: bytes | None = None) -> images.Header:
    """The header a stored image was checked with when saved: no need to check it again.

    The record keeps the upright size but not the EXIF orientation: pass the stored
    bytes (`data`) when decoding them, so that a photo stored sideways with an
    orientation tag is turned upright (its metadata is parsed, no pixel decoded).
    """
    turn = 1 if data is None else images.orientation(data)
    return images.Header(STORED[record.format].decoded_as or "", record.width, record.height, turn)


def decode(data: bytes, limits: images.Limits, header: images.Header | None = None) -> np.ndarray:
    """Encoded bytes as HxWx3 (opaque) or HxWx4 (with transparency) uint8.

    For a stored image pass `header_of(record, data)`: the file is then decoded once,
    never read twice. Raises InvalidImage or ImageTooLarge.
    """
    decoded = images.decode(data, limits, header)
    return decoded.rgb if decoded.alpha is None else compose.rgba(decoded.rgb, decoded.alpha)


def encode(pixels: np.ndarray, fmt: str, quality: int = 90, png_level: int = 1) -> bytes:
    """HxWx3/4 uint8 as jpeg (transparency flattened on white), png or webp at `quality` 1-100."""
    if fmt == "jpeg" and pixels.shape[2] == 4:
        pixels = compose.flatten(pixels, (255, 255, 255))
    return images.encode(pixels, STORED[fmt].name, png_level=png_level, quality=quality)


class ImageLibrary:
    """One account's stored images over the two ports; `ttl_days` 0 keeps images forever."""

    def __init__(self, store: ImageStore, blobs: BlobStore, ttl_days: int = 0) -> None:
        self.store = store
        self.blobs = blobs
        self.ttl_days = ttl_days

    def save(self, account: str, name: str, data: bytes, fmt: str, width: int, height: int
             ) -> ImageRecord:
        """Store encoded bytes (fmt jpeg|png|webp, width x height px) as a new image.

        Bytes first, record second: a listed image always has its bytes. Raises
        BlobUnavailable or StoreUnavailable (the bytes are then removed again).
        """
        now = time.time()
        record = ImageRecord(
            account=account, id=new_image_id(now), name=name, format=fmt, width=width,
            height=height, size=len(data),
            created_at=datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            expires=int(now) + self.ttl_days * DAY if self.ttl_days > 0 else None,
        )
        self.blobs.put(blob_key(record.id), data, STORED[fmt].mime)
        try:
            self.store.put_image(record)
        except BaseException:
            self.blobs.delete(blob_key(record.id))
            raise
        return record

    def get(self, account: str, image_id: str) -> ImageRecord:
        record = self.store.get_image(account, image_id) if image_id.startswith(ID_PREFIX) else None
        if record is None:
            raise ImageNotFound(f"Image {image_id} not found.")
        return record

    def read(self, record: ImageRecord) -> bytes:
        try:
            return self.blobs.get(blob_key(record.id)).data
        except BlobNotFound as exc:  # expired by the bucket's lifecycle rule before the record
            raise ImageNotFound(f"Image {record.id} not found.") from exc

    def page(self, account: str, take: int, start: str | None = None) -> Page:
        """`take` images from `start` (an id, inclusive) towards older ones, newest first."""
        found = self.store.list_images(account, take + 1, start)
        newer = self.store.list_images(account, take, found[0].id if found else start, newer=True) \
            if start else []
        return Page(found[:take], found[take].id if len(found) > take else None,
                    newer[-1].id if newer else None)

    def delete(self, account: str, image_id: str) -> ImageRecord:
        """Delete the record and the bytes; a record gone meanwhile (a racing delete, or our
        own resent one) is deleted all the same (DELETE is idempotent)."""
        record = self.get(account, image_id)
        self.store.delete_image(account, record.id)
        self.blobs.delete(blob_key(record.id))
        return record

    def publish(self, account: str, image_id: str) -> ImageRecord:
        """Give the image a public token (kept if it already has one)."""
        record = self.get(account, image_id)
        if record.token:
            return record
        updated = self.store.set_image_token(account, record.id, secrets.token_urlsafe(24))
        if updated is None:
            raise ImageNotFound(f"Image {image_id} not found.")
        return updated

    def unpublish(self, account: str, image_id: str) -> ImageRecord:
        """Drop the public token: the old URL stops working at once."""
        record = self.get(account, image_id)
        if not record.token:
            return record
        updated = self.store.set_image_token(account, record.id, None)
        if updated is None:
            raise ImageNotFound(f"Image {image_id} not found.")
        return updated

    def published(self, token: str) -> ImageRecord:
        """The image published under `token`, or ImageNotFound."""
        record = self.store.find_public(token) if token else None
        if record is None:
            raise ImageNotFound("No published image at this address.")
        return record
