"""Adobe Photoshop API v1's remove background: `/sensei/cutout`, `/sensei/mask`, `/sensei/status`.

Adobe retired these endpoints in favour of v2 (adobe.py), yet its own current
SDK (`@adobe/photoshop-apis` 2.0.1: `removeBackground`, `createMask`), its
older `@adobe/aio-lib-photoshop-api` and Pipedream's Adobe action still call
them; Cutout serves them for those clients (shared/specs/adobe-photoshop-v1.md).
A sixth dialect rather than a second router of adobe.py: v1 answers refusals in
another shape (`{type, code, title, details}`, Adobe's InputValidationError),
and a dialect's refusal shape is its `render`.

A job reads its input from the caller's presigned GET URL and writes its result
to the caller's presigned PUT URL (`storage: external`; `azure` SAS URLs too),
both under the SSRF guard; there is no result URL of Cutout's. This module only
translates: the body into `jobs.JobOptions` plus a source and a destination,
the job into v1's status document. The jobs machinery (jobs/) runs it like a v2
job: charged at accept (1 megapixel, the rest once the worker has read the
header), settled or refunded when it ends.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...accounts.ratelimit import RateLimited
from ...engine import formats
from ...errors import CutoutError, InputError, NotFound
from ...jobs import FAILED, SUCCEEDED, Job, JobOptions, now_iso
from ...jobs.submit import fingerprint
from .. import openapi as oa
from .. import origin
from ..auth import authenticate
from ..dialect import Dialect
from ..errors import headers_of, shown, status_of
from ..inputs import BadRequest, parse_json
from ..processing import admit, refund, services
from .adobe import DIALECT as V2
from .adobe import callers_job

# What a v1 request may name: where the input comes from and where the output goes (both
# presigned URLs of the caller's), the output's type, the mask's format, the colour space.
INPUT_STORAGES = ("external", "azure", "dropbox")
OUTPUT_STORAGES = ("external", "azure")  # PUT to a presigned S3 (or other) URL, an Azure SAS URL
OUTPUT_TYPES = {formats.get(name).mime: name for name in ("png", "jpg", "webp")}
MASK_FORMATS = ("soft", "binary")
COLOR_SPACES = ("rgba", "rgb")
WHITE = (255, 255, 255, 255)  # `color.space: rgb`: the subject on white, no transparency
JOB_CREDITS = 1.0
# Titles of v1's error types by status (its InputValidationError and the SDK's `errors` map).
TYPES = {400: "InputValidationError", 401: "Unauthorized", 402: "TrialLimitExceededError",
         403: "Unauthorized", 404: "FileNotFound", 409: "UnableToUploadAsset",
         413: "PayloadTooLarge", 422: "InputValidationError", 429: "TooManyRequests",
         503: "ServiceUnavailable"}


class SenseiError(InputError):
    """A refusal in v1's shape: {type, code, title, details: [{name, reason}]}."""

    def __init__(self, status: int, title: str, details: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None, code: str = "input_validation") -> None:
        super().__init__(title, code=code, headers=headers)
        self.status = status
        self.details = details or []

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"type": TYPES.get(self.status, HTTPStatus(self.status).phrase),
                                "code": str(self.status), "title": self.message}
        if self.details:
            body["details"] = self.details
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def render(exc: CutoutError) -> JSONResponse:
    """Any refusal in v1's shape: keys 401/403 (the month's credits used up: 403, as Adobe has
    no 402 for paying accounts), 429 with `X-Access-Rate-Limit-Level: account`, an outage
    503 with Retry-After, bad input 400 (`details` names the field)."""
    if isinstance(exc, SenseiError):
        return exc.response()
    headers = headers_of(exc)
    status = status_of(exc)
    if status == 402:
        status = 403
    if isinstance(exc, RateLimited):
        headers["X-Access-Rate-Limit-Level"] = "account"
    return SenseiError(status, exc.message, [{"name": exc.code, "reason": exc.message}],
                   headers=headers, code=exc.code).response()


def too_large(message: str) -> dict[str, Any]:
    """Where v1 clients read a Lambda 413's message (the SDK shows the whole body)."""
    return {"title": message}


DIALECT = Dialect(
    "Adobe v1", key="adobe_v1", render=render, too_large=too_large,
    # The SDK sends its token as a bearer and its client id in x-api-key: the bearer
    # token is the key, as for v2.
    key_headers=V2.key_headers, request_headers=V2.request_headers)
router = DIALECT.router(tags=["Adobe Photoshop API v1 (for existing clients)"])


# --- the request body -> JobOptions, source, destination -------------------------------------


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def translate(body: Any, mode: str) -> tuple[JobOptions, str, dict[str, str]]:
    """v1's body -> (options, input href, destination {"url", "storage"}).

    `mode`: `fg-image` (/sensei/cutout) or `fg-mask` (/sensei/mask). Every problem is
    collected; raises SenseiError 400 (InputValidationError) naming each field.
    """
    details: list[dict[str, str]] = []

    def bad(name: str, reason: str) -> None:
        details.append({"name": name, "reason": reason})

    if not isinstance(body, dict):
        raise SenseiError(400, "The request body must be a JSON object {input, output, options?}.")
    source = body.get("input")
    href = ""
    if not isinstance(source, dict):
        bad("input", "input is required: {\"href\": <presigned GET URL>, \"storage\": \"external\"}.")
    else:
        if source.get("storage", "external") not in INPUT_STORAGES:
            bad("input.storage", f"input.storage must be one of {', '.join(INPUT_STORAGES)} "
                                 f"(a URL anyone holding it can GET), not {shown(str(source.get('storage')))}.")
        if not _url(source.get("href")):
            bad("input.href", "input.href must be an http or https URL.")
        else:
            href = source["href"]
    output = body.get("output")
    destination: dict[str, str] = {}
    fmt, binary, background = "png", False, None
    if not isinstance(output, dict):
        bad("output", "output is required: {\"href\": <presigned PUT URL>, \"storage\": \"external\"}.")
    else:
        storage = output.get("storage", "external")
        if storage not in OUTPUT_STORAGES:
            bad("output.storage", f"output.storage must be one of {', '.join(OUTPUT_STORAGES)} "
                                  f"(a presigned URL Cutout PUTs the result to), not {shown(str(storage))}.")
        if not _url(output.get("href")):
            bad("output.href", "output.href must be an http or https URL.")
        else:
            destination = {"url": output["href"], "storage": str(storage)}
        kind = output.get("type", "image/png")
        if not isinstance(kind, str) or kind not in OUTPUT_TYPES:
            bad("output.type", f"output.type must be one of {', '.join(OUTPUT_TYPES)}.")
        else:
            fmt = OUTPUT_TYPES[kind]
        if not isinstance(output.get("overwrite", True), bool):
            bad("output.overwrite", "output.overwrite must be true or false.")
        mask = output.get("mask", {})
        if not isinstance(mask, dict) or mask.get("format", "soft") not in MASK_FORMATS:
            bad("output.mask.format", f"output.mask.format must be one of {', '.join(MASK_FORMATS)}.")
        else:
            binary = mask.get("format") == "binary"
        color = output.get("color", {})
        if not isinstance(color, dict) or color.get("space", "rgba") not in COLOR_SPACES:
            bad("output.color.space", f"output.color.space must be one of {', '.join(COLOR_SPACES)}.")
        elif color.get("space") == "rgb" and mode == "fg-image":
            background = WHITE
    if not isinstance(body.get("options", {}), dict):
        bad("options", "options must be an object.")
    if details:
        raise SenseiError(400, details[0]["reason"] if len(details) == 1 else
                      f"{len(details)} fields are not valid; see details.", details)
    return (JobOptions(mode=mode, format=fmt, background_color=background, binary_mask=binary),
            href, destination)


def status_document(request: Request, job: Job) -> dict[str, Any]:
    """v1's status: jobId, created, modified, status, input, output (as requested, with its own
    status), outputs (the same, with `_links.self` to where it was written), _links, errors."""
    destination = job.destination or {}
    output: dict[str, Any] = {"href": destination.get("url", ""),
                              "storage": destination.get("storage", "external"),
                              "type": formats.get(job.options.format or "png").mime,
                              "status": job.status}
    if job.options.mode == "fg-mask" or job.options.binary_mask:
        output["mask"] = {"format": "binary" if job.options.binary_mask else "soft"}
    if job.options.background_color is not None:
        output["color"] = {"space": "rgb"}
    status_url = origin.url_for(request, "adobe_v1_status", job_id=job.job_id)
    body: dict[str, Any] = {
        "jobId": job.job_id, "created": now_iso(job.created), "modified": now_iso(job.modified),
        "status": job.status, "input": job.source.get("url", ""), "output": output,
        "outputs": [{**output, "_links": {"self": {"href": output["href"]}}}]
        if job.status == SUCCEEDED else [],
        "_links": {"self": {"href": status_url}}}
    if job.status == FAILED and job.error:
        error = job.error
        body["errors"] = {"type": "JobError", "code": error.get("errorCode", ""),
                          "error_code": error.get("errorCode", ""),
                          "title": error.get("message", ""),
                          "details": [{"name": error.get("reason", ""),
                                       "reason": error.get("message", "")}]}
        output["errors"] = body["errors"]
    return body


# --- OpenAPI ----------------------------------------------------------------------------------

ERROR = oa.schema("AdobeSenseiError", oa.obj(
    ["type", "code", "title"], type={"type": "string"}, code={"type": "string"},
    title={"type": "string"},
    details={"type": "array", "items": oa.obj(name={"type": "string"}, reason={"type": "string"})}))
_STORAGE = {"type": "string", "enum": list(INPUT_STORAGES), "default": "external"}
REQUEST = oa.schema("AdobeV1Request", oa.obj(
    ["input", "output"],
    input=oa.obj(["href"], href=oa.URL, storage=_STORAGE),
    output=oa.obj(["href"], href=oa.URL,
                  storage={"type": "string", "enum": list(OUTPUT_STORAGES), "default": "external"},
                  type={"type": "string", "enum": list(OUTPUT_TYPES), "default": "image/png"},
                  overwrite={"type": "boolean", "default": True},
                  mask=oa.obj(format={"type": "string", "enum": list(MASK_FORMATS),
                                      "default": "soft"}),
                  color=oa.obj(space={"type": "string", "enum": list(COLOR_SPACES),
                                      "default": "rgba"})),
    options={"type": "object", "description": "Accepted and ignored (Adobe's tuning knobs)."}))
_LINK = oa.obj(self=oa.obj(href={"type": "string"}))
ACCEPTED = oa.schema("AdobeV1JobLink", oa.obj(["_links"], _links=_LINK))
_OUTPUT = oa.obj(href={"type": "string"}, storage={"type": "string"}, type={"type": "string"},
                 status={"type": "string"}, mask=oa.obj(format={"type": "string"}),
                 color=oa.obj(space={"type": "string"}), errors={"type": "object"},
                 _links=_LINK)
STATUS = oa.schema("AdobeV1JobStatus", oa.obj(
    ["jobId", "status", "created", "modified", "_links"],
    jobId={"type": "string"},
    status={"type": "string", "enum": ["pending", "running", "succeeded", "failed"]},
    created={"type": "string"}, modified={"type": "string"}, input={"type": "string"},
    output=_OUTPUT, outputs={"type": "array", "items": _OUTPUT}, _links=_LINK,
    errors=oa.obj(type={"type": "string"}, code={"type": "string"},
                  error_code={"type": "string"}, title={"type": "string"},
                  details={"type": "array", "items": oa.obj(name={"type": "string"},
                                                           reason={"type": "string"})})))
_EXAMPLE = {"input": {"href": "https://bucket.s3.amazonaws.com/in.jpg?X-Amz-Signature=…",
                      "storage": "external"},
            "output": {"href": "https://bucket.s3.amazonaws.com/out.png?X-Amz-Signature=…",
                       "storage": "external", "mask": {"format": "soft"}}}


def _post_operation(summary: str) -> dict[str, Any]:
    return oa.operation(
        summary, security=oa.KEYED,
        body=oa.body(json=REQUEST, examples={"json": _EXAMPLE}),
        responses={
            202: oa.json(ACCEPTED, "Accepted: poll _links.self.href (the SDK polls every 2 s). "
                         "Send the key as `Authorization: Bearer <key>` or in `x-api-key`.",
                         headers=oa.METERED_SUCCESS,
                         example={"_links": {"self": {"href": "https://api.example.com/sensei/"
                                                              "status/3f0c2b8e-5a1d-4c8e-9f4b-2d7e6a1c0b9f"}}}),
            400: oa.json(ERROR, "Not JSON, or fields that are not valid (`details` names them).",
                         example={"type": "InputValidationError", "code": "400",
                                  "title": "output.href must be an http or https URL.",
                                  "details": [{"name": "output.href",
                                               "reason": "output.href must be an http or https URL."}]}),
            422: oa.json(ERROR, "An Idempotency-Key already used for another request."),
            **oa.refusals(ERROR, 401, 403, 429, 503, descriptions={
                403: "Unknown or revoked key, or the monthly credits are used up.",
                503: "The job queue is full, or the queue or store is unreachable; nothing was "
                     "charged."}),
        })


STATUS_OPERATION = oa.operation(
    "A v1 job's status (Adobe Photoshop API v1)", security=oa.KEYED,
    responses={
        200: oa.json(STATUS, "The job; once succeeded the result is at output.href.", example={
            "jobId": "3f0c2b8e-5a1d-4c8e-9f4b-2d7e6a1c0b9f", "status": "succeeded",
            "created": "2026-11-30T03:00:00.000Z", "modified": "2026-11-30T03:00:00.412Z",
            "input": "https://bucket.s3.amazonaws.com/in.jpg?…",
            "output": {"href": "https://bucket.s3.amazonaws.com/out.png?…", "storage": "external",
                       "type": "image/png", "status": "succeeded"},
            "_links": {"self": {"href": "https://api.example.com/sensei/status/3f0c…"}}}),
        400: oa.json(ERROR, "A Host this server does not build URLs from (`untrusted_host`)."),
        404: oa.json(ERROR, "Unknown job, or another account's."),
        **oa.refusals(ERROR, 401, 403, 503),
    })


# --- routes -----------------------------------------------------------------------------------


async def _submit(request: Request, mode: str) -> JSONResponse:
    found = services(request)
    jobs = found.jobs
    caller = await authenticate(request)
    base = origin.base_url(request)  # an untrusted Host is refused before anything is charged
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("multipart/"):
        raise SenseiError(400, "Send the request as JSON (application/json): v1 takes presigned "
                           "URLs, not uploads.", [{"name": "body", "reason": "multipart body"}])
    try:  # any other content type: Adobe's own curl sample sends JSON as form-urlencoded
        body = parse_json(await request.body())
    except BadRequest as exc:
        raise SenseiError(400, f"The body is not valid JSON: {exc.message}",
                      [{"name": "body", "reason": exc.message}]) from exc
    options, href, destination = translate(body, mode)
    key = request.headers.get("idempotency-key", "").strip()
    sent = fingerprint({"options": options.as_dict(), "source": href, "destination": destination})
    job_id, existing = await run_in_threadpool(jobs.reserve, caller.account.id, key, sent)
    if existing is not None:
        return _accepted(request, existing.job_id, replayed=True)
    # The image's size is not known until the worker reads it: 1 megapixel now, the rest
    # then (jobs/topup.py); a failure from here on is answered 503 and refunded.
    ticket = await admit(request, 1.0, JOB_CREDITS, job=job_id)
    job, created = await run_in_threadpool(
        lambda: jobs.accept(job_id, account=caller.account.id, options=options, source_url=href,
                            charge=ticket.charge if ticket else None,
                            mp_per_minute=caller.account.mp_per_minute, base_url=base,
                            destination=destination, fingerprint=sent))
    if not created:
        await refund(request)
    return _accepted(request, job.job_id)


def _accepted(request: Request, job_id: str, replayed: bool = False) -> JSONResponse:
    """v1's 202: the status URL in `_links.self.href` (the SDK takes the job id from its end)."""
    href = origin.url_for(request, "adobe_v1_status", job_id=job_id)
    headers = {"X-Credits-Charged": "0"} if replayed else None
    return JSONResponse({"_links": {"self": {"href": href}}}, status_code=202, headers=headers)


@router.post("/sensei/cutout", status_code=202,
             **_post_operation("Remove the background, asynchronously (Adobe Photoshop API v1)"))
async def cutout(request: Request) -> JSONResponse:
    """The cut-out, PUT to output.href when the job ends (PNG unless output.type says)."""
    return await _submit(request, "fg-image")


@router.post("/sensei/mask", status_code=202,
             **_post_operation("The subject's mask, asynchronously (Adobe Photoshop API v1)"))
async def mask(request: Request) -> JSONResponse:
    """The grey mask (soft, or binary 0/255), PUT to output.href when the job ends."""
    return await _submit(request, "fg-mask")


@router.get("/sensei/status/{job_id}", name="adobe_v1_status", **STATUS_OPERATION)
async def status(request: Request, job_id: str) -> JSONResponse:
    """The job's status document; the result is at output.href once it has succeeded."""
    return JSONResponse(status_document(request, await callers_job(request, job_id)))
