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

from ..engine import formats, pipeline
from ..stores import Charge, JobItem

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)
# What a job can make: the cut-out, the grey matte (pipeline's modes), or a layered
# Photoshop file (formats' `psd`).
MODES = ("fg-image", "fg-mask", "layered")
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
    """What a job makes, dialect-neutral, in the engine's terms (`pipeline.Options`).

    mode: `fg-image` or `fg-mask` (pipeline's), or `layered`: a PSD, the photo as a layer
        whose layer mask is the matte (engine/psd.py).
    format: a format name of engine/formats.py (png, jpg, webp; psd for `layered`), or None
        for the input's own (`formats.same_as`; PNG for inputs Cutout does not write).
    crop, background_color, decontaminate, binary_mask: as `pipeline.Options` (the PSD's
        photo layer keeps the photo's colours).
    """

    mode: str = "fg-image"
    format: str | None = None
    crop: bool = False
    background_color: tuple[int, int, int, int] | None = None
    decontaminate: float = 1.0
    binary_mask: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "JobOptions":
        """From `as_dict`, or from a record written before the engine's names (trim,
        color_decontamination)."""
        colour = raw.get("background_color")
        return cls(mode=raw["mode"], format=raw.get("format"),
                   crop=bool(raw.get("crop", raw.get("trim"))),
                   background_color=tuple(colour) if colour else None,
                   decontaminate=float(raw.get("decontaminate", raw.get("color_decontamination", 1.0))),
                   binary_mask=bool(raw.get("binary_mask", False)))

    def output_format(self, decoded: str) -> str:
        """The format the job writes for an input the decoder named `decoded` ("JPEG")."""
        if self.mode == "layered":
            return "psd"
        same = formats.same_as(decoded)
        return self.format or (same.name if same is not None else "png")

    def cut(self, fmt: str) -> pipeline.Options:
        """The engine's options for a cut-out written as `fmt` (not for `layered`)."""
        return pipeline.Options(mode=self.mode, format=fmt, crop=self.crop,
                                background_color=self.background_color,
                                decontaminate=self.decontaminate, binary_mask=self.binary_mask)


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
    result: dict[str, str] | None = None  # {"key" | "url" (a destination's), "media_type"}
    error: dict[str, str] | None = None  # {"errorCode", "message", "reason"}
    megapixels: float | None = None
    # Set when the size was unknown at accept (a URL or presigned upload, charged 1
    # megapixel): the account's megapixels a minute, for the worker's top-up charge.
    mp_per_minute: int | None = None
    extra_charge: dict[str, Any] | None = None  # the top-up Charge, once admitted
    # The upload's checked images.Header fields, when the API read it at accept (so the
    # worker does not read it again); None for URL and presigned sources.
    header: dict[str, Any] | None = None
    # Where the result goes when the caller gave a presigned URL for it (Adobe v1's
    # `output`): {"url": <presigned PUT URL>, "storage": "external" | "azure"}; None: the
    # blob store.
    destination: dict[str, str] | None = None
    # What the request asked for, hashed (`Jobs.fingerprint`): a reused Idempotency-Key
    # with another request is refused, not answered with this job.
    fingerprint: str = ""
    # Finished with a callback whose webhook is not yet on the webhook queue: a delivery
    # of the job's message queues it (the job stays finished), so a webhook queue that was
    # down when the job ended loses nothing.
    webhook_pending: bool = False

    def item(self) -> JobItem:
        doc = {name: getattr(self, name) for name in (
            "account", "source", "created", "modified", "attempts", "token", "charge",
            "callback_url", "base_url", "result", "error", "megapixels", "mp_per_minute",
            "extra_charge", "header", "destination", "fingerprint", "webhook_pending")}
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
    action: str  # succeeded | failed | dropped | webhook queued
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
