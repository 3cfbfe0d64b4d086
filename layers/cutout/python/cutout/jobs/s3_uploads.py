"""The S3 upload trigger: `uploads/<path>/<name>.<ext>` in, `results/<path>/<name>.<fmt>` out.

Uploads that share `<path>/<name>` (photo.jpg, photo.png) keep their extension
(`results/<path>/photo.jpg.png`), the CLI's rule, so no result replaces another's.

S3 delivers each event at least once, so every upload is processed under an
idempotency record keyed by bucket, key and ETag (Powertools Idempotency on the
DynamoDB table, handed in as `once`): a second delivery returns the first
outcome and charges nothing. Objects are read and written through the blob
port (`blobs.BlobStore`), and each cut-out goes through the metering door
(`metering.Meter.cut`). What happens to a failure is chosen by its family
(`cutout.errors`): an error that is not `retryable` (bad input: not an image,
over the limits, bad metadata; an exhausted quota) gets a `<name>.error.json`
beside where its result would be and is not retried; a retryable one (rate
limited, store or bucket unavailable) and any unexpected failure raise, so
Lambda retries the event and finally hands it to the dead-letter queue.
Records are processed independently.
"""
from __future__ import annotations

import json
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote, unquote_plus

from ..accounts.keys import Account
from ..blobs import BlobStore, InvalidObjectKey, check_key, read as read_blob
from ..engine import formats, pipeline
from ..errors import CutoutError, InvalidOption, NotFound
from ..metering import Meter

log = logging.getLogger(__name__)

UPLOADS = "uploads/"
RESULTS = "results/"
# What x-amz-meta-cutout-format may ask for: the cut-out formats that keep transparency.
FORMATS = tuple(row.name for row in formats.FORMATS if row.cutout and row.alpha)
META_MODE = "cutout-mode"
META_FORMAT = "cutout-format"


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str  # decoded: S3 event keys arrive URL-encoded, spaces as '+'
    etag: str

    def as_dict(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "etag": self.etag}


def uploads_in(event: Mapping[str, Any]) -> list[Upload]:
    """The object-created uploads an S3 event names, keys decoded."""
    found = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        found.append(Upload(
            bucket=s3.get("bucket", {}).get("name", ""),
            key=unquote_plus(s3.get("object", {}).get("key", "")),
            etag=s3.get("object", {}).get("eTag", "").strip('"'),
        ))
    return found


def _stem(inner: str) -> str:
    """a/b/photo.jpg -> a/b/photo (a name without an extension is its own stem)."""
    return posixpath.splitext(inner)[0] if "." in posixpath.basename(inner) else inner


def result_key(upload_key: str, extension: str, uploads: Iterable[str] = ()) -> str:
    """uploads/a/b/photo.jpg -> results/a/b/photo.<extension>, unless names collide.

    `uploads`: the upload keys that start with this one's stem (`stem_prefix`), as
    listed when it is processed. The CLI's rule (cli/main.py, `_destinations`): when
    another upload shares the stem (photo.jpg and photo.png), the result keeps the
    upload's extension (results/a/b/photo.jpg.png); when that name is itself another
    upload's result (photo.jpg.png's), a number follows (photo.jpg.2.png). An upload
    made later than this one's processing sees this one in its own listing, so no
    result replaces another's.
    """
    inner = upload_key[len(UPLOADS):]
    stem = _stem(inner)
    stems = Counter(_stem(key[len(UPLOADS):]) for key in {*uploads, upload_key}
                    if key.startswith(UPLOADS))
    if stems[stem] < 2:
        return f"{RESULTS}{stem}.{extension}"
    plain = {name for name, count in stems.items() if count == 1}  # others' results' names
    name, number = inner, 2
    while name in plain:
        name, number = f"{inner}.{number}", number + 1
    return f"{RESULTS}{name}.{extension}"


def stem_prefix(upload_key: str) -> str:
    """Where every upload whose result name could collide with this one's is listed."""
    return UPLOADS + _stem(upload_key[len(UPLOADS):])


def options_from(metadata: Mapping[str, str]) -> pipeline.Options:
    """Mode and format from the object's user metadata (x-amz-meta-cutout-*).

    Raises InvalidOption for an unknown mode or format."""
    mode = metadata.get(META_MODE, "fg-image").strip().lower()
    fmt = metadata.get(META_FORMAT, "png").strip().lower()
    if fmt not in FORMATS:
        raise InvalidOption(f"Unknown format {fmt!r} in x-amz-meta-{META_FORMAT}; valid formats are {', '.join(FORMATS)}.")
    return pipeline.Options(mode=mode, format=fmt)


class Trigger:
    """Processes S3 events; the blob stores, the meter and the account are handed in.

    `blobs(bucket)` gives the blob store of the bucket an event names;
    `account` is whom the cut-outs are charged to (None, or a meter without a
    limiter: not metered); `once` wraps the per-upload work in an idempotency
    guard (see functions/s3_trigger).
    """

    def __init__(
        self,
        blobs: Callable[[str], BlobStore],
        meter: Meter,
        account: Account | None = None,
        once: Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]] | None = None,
    ) -> None:
        self.blobs = blobs
        self.meter = meter
        self.account = account
        self._process_once = once(self._process) if once else self._process

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Every record, independently; raise at the end if any failed transiently."""
        outcomes, failed = [], []
        for upload in uploads_in(event):
            if not upload.key.startswith(UPLOADS):
                outcomes.append({"key": upload.key, "status": "skipped"})
                continue
            try:
                outcomes.append(self._process_once(upload=upload.as_dict()))
            except Exception as exc:  # retryable: S3, DynamoDB, throttling, in-progress duplicate
                log.exception("upload failed; the event will be retried", extra={"key": upload.key})
                failed.append(f"{upload.key}: {exc.__class__.__name__}")
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(outcomes) + len(failed)} uploads failed: {'; '.join(failed)}")
        return {"results": outcomes}

    def _process(self, upload: dict[str, str]) -> dict[str, Any]:
        key, etag = upload["key"], upload["etag"]
        store = self.blobs(upload["bucket"])
        # Uploads whose results could take the same name (photo.jpg, photo.png): listed
        # now, so that neither overwrites the other (BlobUnavailable: retried).
        uploads = store.list(stem_prefix(key))
        try:
            check_key(result_key(key, "error.json", uploads))  # where any outcome would be written
        except InvalidObjectKey:
            log.warning("upload key cannot name a result; skipped", extra={"key": key})
            return {"key": key, "status": "skipped"}
        written: list[str] = []

        def deliver(result: pipeline.Result) -> None:
            target = result_key(key, result.format, uploads)
            store.put(target, result.data, result.content_type, metadata={
                "cutout-source-key": quote(key),
                "cutout-source-etag": etag,
                "cutout-model": self.meter.segmenter.spec.name,
                "cutout-mode": options.mode,
            })
            written.append(target)

        try:
            blob = read_blob(store, key, self.meter.limits.max_bytes, if_match=etag or None)
            options = options_from(blob.metadata)
            metered = self.meter.cut(blob.data, options, account=self.account, deliver=deliver)
            self.meter.settle(metered.ticket.charge if metered.ticket else None)
        except NotFound:
            log.info("upload gone or replaced; nothing to do", extra={"key": key})
            return {"key": key, "status": "skipped"}
        except CutoutError as exc:
            if exc.retryable:
                raise  # rate limited, store or bucket down: Lambda retries the event
            return self._write_error(store, upload, exc, result_key(key, "error.json", uploads))
        log.info("upload processed", extra={"key": key, "result": written[0],
                                            "megapixels": round(metered.header.megapixels, 3)})
        return {"key": key, "status": "done", "result": written[0]}

    def _write_error(self, store: BlobStore, upload: dict[str, str], exc: CutoutError,
                     target: str) -> dict[str, Any]:
        body = {"code": exc.code, "message": exc.message,
                "source": {"bucket": upload["bucket"], "key": upload["key"], "etag": upload["etag"]}}
        store.put(target, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json")
        log.warning("upload refused", extra={"key": upload["key"], "code": exc.code})
        return {"key": upload["key"], "status": "error", "result": target, "code": exc.code}
