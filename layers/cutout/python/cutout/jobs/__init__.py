"""Asynchronous jobs: a job record, its life (pending -> running -> succeeded | failed).

Pure of HTTP: web/dialects/adobe.py translates Adobe's Remove Background v2 requests into
`JobOptions` and renders `Job.status_document()`; the worker (jobs/worker.py)
runs in the local pool or in the SQS-fed jobs function. Every change of state is
a compare-and-swap on the record's version in the job store, so a job is claimed
by one worker at a time and finishes once, however often its message arrives.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..stores import Charge, JobItem

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)
# What a job can make: the cut-out, the grey matte, or a layered Photoshop file.
MODES = ("fg-image", "fg-mask", "layered")
FORMATS = ("png", "jpg", "webp", "psd")
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp",
                 "psd": "image/vnd.adobe.photoshop"}
# Adobe's errorDetails codes (the status document is Adobe's shape; see the spec notes):
# 400401 "invalid value" for the caller's input, 422404 "unable to process outputs",
# 500600 "internal". Ours: 429001, the minute's megapixel window had no room for the
# image's real size when the worker read it (a URL or presigned upload weighed 1 at accept).
INPUT_ERROR, OUTPUT_ERROR, INTERNAL_ERROR = "400401", "422404", "500600"
RATE_LIMIT_ERROR = "429001"


def now_iso(moment: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with milliseconds, e.g. 2026-11-30T03:00:00.000Z."""
    stamp = datetime.fromtimestamp(moment, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class JobOptions:
    """What to make, dialect-neutral.

    mode: fg-image | fg-mask | layered (a PSD: photo layer + the matte as its layer mask).
    format: png | jpg | webp | psd, or None for the input's own format (PNG when it has none
        of those three).
    trim: crop to the subject's bounding box.
    background_color: RGBA (alpha 0-255) behind the subject, or None.
    color_decontamination: 0-1, how far soft-edge colours move to the estimated foreground
        colour (pipeline.Options.decontaminate); the PSD's photo layer keeps the photo's.
    """

    mode: str = "fg-image"
    format: str | None = None
    trim: bool = False
    background_color: tuple[int, int, int, int] | None = None
    color_decontamination: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "JobOptions":
        colour = raw.get("background_color")
        return cls(mode=raw["mode"], format=raw.get("format"), trim=bool(raw.get("trim")),
                   background_color=tuple(colour) if colour else None,
                   color_decontamination=float(raw.get("color_decontamination", 1.0)))


@dataclass(frozen=True)
class Job:
    """One job as the worker and the dialect see it (times in epoch seconds)."""

    job_id: str
    account: str
    options: JobOptions
    source: dict[str, str]  # {"url": ...} or {"key": <blob key of an upload>}
    created: float
    modified: float
    expires: int
    status: str = PENDING
    version: int = 0
    lease_until: int = 0
    attempts: int = 0
    token: str = ""  # the claiming worker's run id
    charge: dict[str, Any] | None = None  # the admitted Charge, to refund if the job fails
    callback_url: str = ""
    base_url: str = ""  # where the API was reached: status and local result URLs
    result: dict[str, str] | None = None  # {"key", "media_type"}
    error: dict[str, str] | None = None  # {"errorCode", "message", "reason"}
    megapixels: float | None = None
    # Set when the size was unknown at accept (a URL or presigned upload, charged 1
    # megapixel): the account's megapixels a minute, for the worker's top-up charge.
    mp_per_minute: int | None = None
    extra_charge: dict[str, Any] | None = None  # the top-up Charge, once admitted

    def item(self) -> JobItem:
        doc = {name: getattr(self, name) for name in (
            "account", "source", "created", "modified", "attempts", "token", "charge",
            "callback_url", "base_url", "result", "error", "megapixels", "mp_per_minute",
            "extra_charge")}
        doc["options"] = self.options.as_dict()
        return JobItem(self.job_id, self.status, self.version, self.lease_until, self.expires, doc)

    @classmethod
    def from_item(cls, item: JobItem) -> "Job":
        doc = dict(item.doc)
        options = JobOptions.from_dict(doc.pop("options"))
        return cls(job_id=item.job_id, status=item.status, version=item.version,
                   lease_until=item.lease_until, expires=item.expires, options=options, **doc)

    def moved(self, moment: float, **changes: Any) -> "Job":
        """The next version of this job (for a compare-and-swap against this one)."""
        return dataclasses.replace(self, version=self.version + 1, modified=moment, **changes)

    def charges(self) -> list[Charge]:
        """Everything charged for this job: the accept's charge and the worker's top-up."""
        return [Charge(**c) for c in (self.charge, self.extra_charge) if c]

    def status_document(self, result_url: str = "") -> dict[str, Any]:
        """Adobe's JobStatusResponse: jobId, status, createdTime, modifiedTime, result | errorDetails."""
        body: dict[str, Any] = {"jobId": self.job_id, "status": self.status,
                                "createdTime": now_iso(self.created),
                                "modifiedTime": now_iso(self.modified)}
        if self.status == SUCCEEDED and self.result:
            body["result"] = {"outputs": [{"destination": {"url": result_url},
                                           "mediaType": self.result["media_type"]}]}
        if self.status == FAILED and self.error:
            body["errorDetails"] = [dict(self.error)]
        return body


@dataclass
class Outcome:
    """What one run of the worker did with a message (for logs and tests)."""

    job_id: str
    action: str  # succeeded | failed | dropped
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
