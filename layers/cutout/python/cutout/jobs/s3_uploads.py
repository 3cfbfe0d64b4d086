"""The S3 upload trigger: `uploads/<path>/<name>.<ext>` in, `results/<path>/<name>.<fmt>` out.

S3 delivers each event at least once, so every upload is processed under an
idempotency record keyed by bucket, key and ETag (Powertools Idempotency on the
DynamoDB table): a second delivery returns the first outcome and charges
nothing. A bad object (not an image, over the limits, bad metadata) gets a
`<name>.error.json` beside where its result would be and is not retried; any
other failure raises, so Lambda retries the event and finally hands it to the
dead-letter queue. Records are processed independently.
"""
from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import quote, unquote_plus

from ..engine import images, pipeline
from ..accounts.keys import AccessError, Account
from ..config import Settings
from ..errors import CutoutError, ImageTooLarge, InvalidOption
from ..engine.model import Segmenter
from ..accounts.ratelimit import Limiter, QuotaExceeded

log = logging.getLogger(__name__)

UPLOADS = "uploads/"
RESULTS = "results/"
FORMATS = ("png", "webp", "zip")  # what x-amz-meta-cutout-format may ask for
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


def result_key(upload_key: str, extension: str) -> str:
    """uploads/a/b/photo.jpg -> results/a/b/photo.<extension>."""
    inner = upload_key[len(UPLOADS):]
    stem = posixpath.splitext(inner)[0] if "." in posixpath.basename(inner) else inner
    return f"{RESULTS}{stem}.{extension}"


def options_from(metadata: Mapping[str, str], png_level: int) -> pipeline.Options:
    """Mode and format from the object's user metadata (x-amz-meta-cutout-*)."""
    mode = metadata.get(META_MODE, "fg-image").strip().lower()
    fmt = metadata.get(META_FORMAT, "png").strip().lower()
    if fmt not in FORMATS:
        raise InvalidOption(f"Unknown format {fmt!r} in x-amz-meta-{META_FORMAT}; valid formats are {', '.join(FORMATS)}.")
    return pipeline.Options(mode=mode, format=fmt, png_level=png_level)


class Trigger:
    """Processes S3 events; the AWS clients and the model are handed in by the handler."""

    def __init__(
        self,
        s3: Any,
        segmenter: Segmenter,
        cfg: Settings,
        limiter: Limiter | None = None,
        account: Account | None = None,
        once: Callable[[Callable[..., dict]], Callable[..., dict]] | None = None,
    ) -> None:
        self.s3 = s3
        self.segmenter = segmenter
        self.cfg = cfg
        self.limits = images.Limits(cfg.max_megapixels, cfg.max_bytes)
        self.limiter = limiter
        self.account = account
        # `once` wraps the per-upload work in an idempotency guard (see functions/s3_trigger).
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
            except Exception as exc:  # transient: S3, DynamoDB, throttling, in-progress duplicate
                log.exception("upload failed; the event will be retried", extra={"key": upload.key})
                failed.append(f"{upload.key}: {exc.__class__.__name__}")
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(outcomes) + len(failed)} uploads failed: {'; '.join(failed)}")
        return {"results": outcomes}

    def _process(self, upload: dict[str, str]) -> dict[str, Any]:
        bucket, key, etag = upload["bucket"], upload["key"], upload["etag"]
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key, **({"IfMatch": f'"{etag}"'} if etag else {}))
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "412", "PreconditionFailed"):
                log.info("upload gone or replaced; nothing to do", extra={"key": key})
                return {"key": key, "status": "skipped"}
            raise
        try:
            if head["ContentLength"] > self.limits.max_bytes:
                raise ImageTooLarge(
                    f"Image is too large: {head['ContentLength']} bytes exceeds {self.limits.max_bytes} bytes."
                )
            options = options_from(head.get("Metadata", {}), self.cfg.png_compress_level)
            data = self.s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"].read()
            header = images.read_header(data, self.limits)
        except CutoutError as exc:
            return self._write_error(upload, exc)
        return self._cut(upload, data, header, options)

    def _cut(self, upload: dict[str, str], data: bytes, header: images.Header,
             options: pipeline.Options) -> dict[str, Any]:
        ticket = None
        if self.limiter is not None and self.account is not None:
            try:
                ticket = self.limiter.admit(self.account, header.megapixels)
            except QuotaExceeded as exc:
                return self._write_error(upload, exc)
            except AccessError:
                raise  # rate limited or store down: retry later
        try:
            result = pipeline.cut(data, options, segmenter=self.segmenter, limits=self.limits, header=header)
            target = result_key(upload["key"], result.format)
            self.s3.put_object(
                Bucket=upload["bucket"], Key=target, Body=result.data, ContentType=result.content_type,
                Metadata={
                    "cutout-source-key": quote(upload["key"]),
                    "cutout-source-etag": upload["etag"],
                    "cutout-model": self.segmenter.spec.name,
                    "cutout-mode": options.mode,
                },
            )
        except CutoutError as exc:
            if ticket is not None:
                self.limiter.refund(ticket)
            return self._write_error(upload, exc)
        except BaseException:
            if ticket is not None:
                self.limiter.refund(ticket)
            raise
        log.info("upload processed", extra={"key": upload["key"], "result": target,
                                            "megapixels": round(header.megapixels, 3)})
        return {"key": upload["key"], "status": "done", "result": target}

    def _write_error(self, upload: dict[str, str], exc: CutoutError) -> dict[str, Any]:
        target = result_key(upload["key"], "error.json")
        body = {"code": exc.code, "message": exc.message,
                "source": {"bucket": upload["bucket"], "key": upload["key"], "etag": upload["etag"]}}
        self.s3.put_object(Bucket=upload["bucket"], Key=target, ContentType="application/json",
                           Body=json.dumps(body, ensure_ascii=False).encode("utf-8"))
        log.warning("upload refused", extra={"key": upload["key"], "code": exc.code})
        return {"key": upload["key"], "status": "error", "result": target, "code": exc.code}
