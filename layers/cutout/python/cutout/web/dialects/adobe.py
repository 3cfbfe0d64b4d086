"""Adobe Photoshop API's Remove Background v2 dialect: asynchronous jobs.

POST /v2/remove-background accepts a job (202 {jobId, statusUrl}) and
GET /v2/status/{jobId} reports it, in Adobe's shapes (see
shared/specs/adobe-remove-background-v2.md, from AdobeDocs/ffs-photoshop-API's
photoshopv2-api.json). This module only translates: jobs/ stores and runs the
job, the engine makes the pixels.

Keys: `Authorization: Bearer <key>` (Adobe's token header) or `x-api-key: <key>`;
when both are sent the bearer token is the key (Adobe clients put their client id
in x-api-key). Cutout additions: the image may be uploaded as multipart (file part
`image`, the JSON options in part `options`), and an `Idempotency-Key` header.
"""
from __future__ import annotations

import math
import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...accounts.keys import MissingKey
from ...accounts.ratelimit import QuotaExceeded, RateLimited
from ...engine import formats, images
from ...errors import AccessError, CutoutError, ImageTooLarge, InputError, NotFound, Unavailable
from ...jobs import Job, JobOptions
from ...jobs.submit import fingerprint
from .. import openapi as oa
from .. import origin
from ..auth import authenticate
from ..dialect import Dialect
from ..errors import headers_of, shown, status_of
from ..inputs import BadRequest, parse_json, read_input
from ..processing import admit, refund, services

MODES = {"cutout": "fg-image", "mask": "fg-mask", "psd": "layered"}
# The formats Adobe's output.mediaType names (its enum), by MIME type.
MEDIA_TYPES = {formats.get(name).mime: name for name in ("png", "jpg", "webp", "psd")}
COLOUR_CHANNELS = ("red", "green", "blue")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
JOB_CREDITS = 1.0


class AdobeError(InputError):
    """A refusal of the request in Adobe's ErrorResponse shape: {error_code, message, errors?}
    (also how `render` answers every other refusal)."""

    def __init__(self, status: int, code: str, message: str,
                 errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code, headers=headers)
        self.status = status
        self.errors = errors or []

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error_code": self.code, "message": self.message}
        if len(self.errors) > 1:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _access_code(exc: AccessError) -> str:
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, MissingKey):
        return "unauthorized"
    return "unauthorized_forbidden"  # invalid or revoked key, monthly quota used up


def render(exc: CutoutError) -> JSONResponse:
    """Any refusal as Adobe's ErrorResponse: its own AdobeErrors as they are; keys and limits
    401 (no key), 403 (bad key, or the month's credits used up: Adobe has no 402), 429; an
    outage 503 with Retry-After; a result over the response limit 413; other bad input 400
    (an uploaded image over the limits too: Adobe's spec has no 413 for a payload)."""
    if isinstance(exc, AdobeError):
        return exc.response()
    headers = headers_of(exc)
    if isinstance(exc, ImageTooLarge):
        return AdobeError(400, exc.code, exc.message, headers=headers).response()
    if isinstance(exc, AccessError):
        status = 403 if isinstance(exc, QuotaExceeded) else status_of(exc)
        return AdobeError(status, _access_code(exc), exc.message, headers=headers).response()
    if isinstance(exc, Unavailable):
        return AdobeError(503, "service_unavailable", exc.message, headers=headers).response()
    return AdobeError(status_of(exc), exc.code, exc.message, headers=headers).response()


def too_large(message: str) -> dict[str, Any]:
    """Where Adobe's clients read a Lambda 413's message."""
    return {"error_code": "result_too_large", "message": message}


DIALECT = Dialect(
    "Adobe", key="adobe", render=render, too_large=too_large,
    # Adobe clients send their token as a bearer and their client id in x-api-key: the
    # bearer token is the key when both are sent.
    key_headers=("authorization", "x-api-key", "ocp-apim-subscription-key"),
    request_headers=("authorization", "idempotency-key"))
router = DIALECT.router(tags=["Adobe Remove Background v2"])


# --- the request body -> JobOptions ------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def translate(body: Any, uploaded: bool = False) -> tuple[JobOptions, str, str, str]:
    """Adobe's RemoveBackgroundV2Request -> (options, source url, upload id, callback url).

    `image.source.uploadId` (Cutout's: an id from POST /v2/uploads) stands for a URL.

    Every problem is collected; raises AdobeError 422 `validation_error`.
    """
    errors: list[dict[str, str]] = []

    def bad(code: str, message: str) -> None:
        errors.append({"error_code": code, "message": message})

    if not isinstance(body, dict):
        raise AdobeError(422, "validation_error", "The request body must be a JSON object.")
    source_url = upload_id = ""
    image = body.get("image")
    if image is None:
        if not uploaded:
            bad("400410", "image.source.url is required (or upload the image as multipart part "
                          "`image`).")
    elif not isinstance(image, dict) or not isinstance(image.get("source"), dict):
        bad("400401", "image must be an object {\"source\": {\"url\": ...}}.")
    elif uploaded:
        bad("400401", "Give the image once: an uploaded part or image.source.url, not both.")
    elif "uploadId" in image["source"]:
        upload_id = image["source"]["uploadId"]
        if not (isinstance(upload_id, str) and _UPLOAD_ID.match(upload_id)):
            bad("400401", "image.source.uploadId must be an id that POST /v2/uploads gave.")
    elif not _url(image["source"].get("url")):
        bad("400401", "image.source.url must be an http or https URL.")
    else:
        source_url = image["source"]["url"]
    mode = body.get("mode", "cutout")
    if not (isinstance(mode, str) and mode in MODES):
        bad("400401", f"mode must be one of {', '.join(MODES)}, not {shown(str(mode))}.")
    fmt = None
    output = body.get("output", {})
    if not isinstance(output, dict):
        bad("400401", "output must be an object {\"mediaType\": ...}.")
    elif "mediaType" in output:
        if not (isinstance(output["mediaType"], str) and output["mediaType"] in MEDIA_TYPES):
            bad("400401", f"output.mediaType must be one of {', '.join(MEDIA_TYPES)}.")
        else:
            fmt = MEDIA_TYPES[output["mediaType"]]
    if (mode == "psd" and fmt not in (None, "psd")) or (fmt == "psd" and mode != "psd"):
        bad("400401", "mode psd and output.mediaType image/vnd.adobe.photoshop go together.")
    trim = body.get("trim", False)  # Adobe's name for the engine's `crop`
    if not isinstance(trim, bool):
        bad("400401", "trim must be true or false.")
    colour = None
    background = body.get("backgroundColor")
    if background is not None:
        if not isinstance(background, dict) or not all(k in background for k in
                                                       (*COLOUR_CHANNELS, "alpha")):
            bad("400410", "backgroundColor needs red, green, blue (0-255) and alpha (0-1).")
        elif not all(_number(background[k]) and 0 <= background[k] <= 255
                     and float(background[k]).is_integer() for k in COLOUR_CHANNELS):
            bad("400401", "backgroundColor red, green and blue must be whole numbers 0-255.")
        elif not (_number(background["alpha"]) and 0 <= background["alpha"] <= 1):
            bad("400401", "backgroundColor.alpha must be a number from 0 to 1.")
        elif mode == "mask":
            bad("400401", "backgroundColor does not apply to mode mask.")
        else:
            red, green, blue = (int(background[k]) for k in COLOUR_CHANNELS)
            colour = (red, green, blue, round(float(background["alpha"]) * 255))
    decontamination = body.get("colorDecontamination", 1)
    if not (_number(decontamination) and 0 <= decontamination <= 1):
        bad("400401", "colorDecontamination must be a number from 0 to 1.")
    callback_url = ""
    callback = body.get("callback")
    if callback is not None:
        if not isinstance(callback, dict) or not _url(callback.get("url")):
            bad("400401", "callback.url must be an http or https URL.")
        else:
            callback_url = callback["url"]
    if errors:
        raise AdobeError(422, "validation_error", errors[0]["message"] if len(errors) == 1 else
                         f"{len(errors)} fields are not valid; see errors.", errors)
    return JobOptions(mode=MODES[mode], format=fmt, crop=trim, background_color=colour,
                      decontaminate=float(decontamination)), source_url, upload_id, callback_url


# --- OpenAPI: request bodies, responses and keys (web/openapi.py) ---------------------------

ERROR = oa.schema("AdobeError", oa.obj(
    ["error_code", "message"], error_code={"type": "string"}, message={"type": "string"},
    errors={"type": "array", "items": oa.obj(["error_code", "message"],
                                               error_code={"type": "string"},
                                               message={"type": "string"})}))
_COLOUR = oa.obj(["red", "green", "blue", "alpha"],
                 red={"type": "integer", "minimum": 0, "maximum": 255},
                 green={"type": "integer", "minimum": 0, "maximum": 255},
                 blue={"type": "integer", "minimum": 0, "maximum": 255},
                 alpha={"type": "number", "minimum": 0, "maximum": 1})
OPTIONS = oa.schema("RemoveBackgroundV2Request", oa.obj(
    image=oa.obj(source=oa.obj(url=oa.URL, uploadId={
        "type": "string", "description": "An id from POST /v2/uploads (Cutout's addition)."})),
    mode={"type": "string", "enum": list(MODES), "default": "cutout"},
    output=oa.obj(mediaType={"type": "string", "enum": list(MEDIA_TYPES)}),
    trim={"type": "boolean", "default": False},
    backgroundColor=_COLOUR,
    colorDecontamination={"type": "number", "minimum": 0, "maximum": 1, "default": 1},
    callback=oa.obj(url=oa.URL)))
ACCEPTED = oa.schema("JobLinkResponse", oa.obj(
    ["jobId", "statusUrl"], jobId={"type": "string"}, statusUrl={"type": "string"}))
STATUS = oa.schema("JobStatusResponse", oa.obj(
    ["jobId", "status", "createdTime", "modifiedTime"],
    jobId={"type": "string"},
    status={"type": "string", "enum": ["pending", "running", "succeeded", "failed"]},
    createdTime={"type": "string"}, modifiedTime={"type": "string"},
    result=oa.obj(outputs={"type": "array", "items": oa.obj(
        destination=oa.obj(url={"type": "string"}), mediaType={"type": "string"})}),
    errorDetails={"type": "array", "items": oa.obj(
        errorCode={"type": "string"}, message={"type": "string"}, reason={"type": "string"})}))
UPLOAD = oa.schema("UploadLinkResponse", oa.obj(
    ["uploadId", "uploadUrl", "method", "expiresIn"], uploadId={"type": "string"},
    uploadUrl={"type": "string"}, method={"type": "string", "enum": ["PUT"]},
    expiresIn={"type": "integer"}))
_KEYS = ("Send the key in `x-api-key`, or as `Authorization: Bearer <key>` (Adobe's token "
         "header; it wins when both are sent).")
_UNAVAILABLE = "The job queue is full, or the queue or store is unreachable; nothing was charged."

POST_OPERATION = oa.operation(
    "Remove the background, asynchronously (Adobe Remove Background v2)",
    security=oa.KEYED,
    parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                 "schema": {"type": "string"},
                 "description": "A retried POST with the same key returns the first job."}],
    body=oa.body(
        json=OPTIONS,
        multipart=oa.obj(["image"], image=oa.BINARY, options={
            "type": "string", "description": "The JSON options, without `image`."}),
        examples={"json": {"image": {"source": {"url": "https://example.com/photo.jpg"}},
                           "mode": "cutout", "output": {"mediaType": "image/png"}, "trim": True}}),
    responses={
        202: oa.json(ACCEPTED, f"Accepted: poll statusUrl. {_KEYS}", headers=oa.METERED_SUCCESS,
                     example={"jobId": "3f0c2b8e-5a1d-4c8e-9f4b-2d7e6a1c0b9f",
                              "statusUrl": "https://api.example.com/v2/status/3f0c2b8e-5a1d-4c8e-9f4b-2d7e6a1c0b9f"}),
        400: oa.json(ERROR, "Malformed body, another content type, or an upload that is not an "
                     "image (or over the limits).", example={
                         "error_code": "invalid_json", "message": "Request body is not valid JSON."}),
        422: oa.json(ERROR, "Invalid fields (`errors` lists them when there are several), or an "
                     "Idempotency-Key already used for another request "
                     "(`idempotency_key_reused`).",
                     example={"error_code": "validation_error",
                              "message": "trim must be true or false."}),
        **oa.refusals(ERROR, 401, 403, 429, 503, descriptions={
            403: "Unknown or revoked key, or the monthly credits are used up.",
            503: _UNAVAILABLE}),
    })
UPLOAD_OPERATION = oa.operation(
    "A presigned upload URL for a job's image (Cutout's addition)",
    security=oa.KEYED,
    body=oa.body(json=oa.obj(), required=False),
    responses={
        201: oa.json(UPLOAD, "PUT the image to uploadUrl, then post a job with "
                     "image.source.uploadId.", example={
                         "uploadId": "5b0e7f1a-3c2d-4e8f-9a6b-1c2d3e4f5a6b",
                         "uploadUrl": "https://…/results/jobs/uploads/…?X-Amz-Signature=…",
                         "method": "PUT", "expiresIn": 3600}),
        **oa.refusals(ERROR, 401, 403, 429, 503),
    })
STATUS_OPERATION = oa.operation(
    "A job's status and, once succeeded, its result URL",
    security=oa.KEYED,
    responses={
        200: oa.json(STATUS, "The job.", example={
            "jobId": "3f0c2b8e-5a1d-4c8e-9f4b-2d7e6a1c0b9f", "status": "succeeded",
            "createdTime": "2026-11-30T03:00:00.000Z", "modifiedTime": "2026-11-30T03:00:00.412Z",
            "result": {"outputs": [{"destination": {"url": "https://…/result.png?…"},
                                    "mediaType": "image/png"}]}}),
        404: oa.json(ERROR, "Unknown job, or another account's.", example={
            "error_code": "unknown_job_id", "message": "No job 'x' for this account."}),
        **oa.refusals(ERROR, 401, 403, 503),
    })


# --- routes ------------------------------------------------------------------------------


async def _body(request: Request) -> tuple[Any, bytes | None]:
    """The JSON options, and the uploaded image of a multipart request (else None)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "multipart/form-data"):
        raise AdobeError(400, "invalid_content_type", "Send application/json, or "
                         "multipart/form-data with the image in part `image`.")
    if ctype == "application/json":
        try:
            return parse_json(await request.body()), None
        except BadRequest as exc:  # not JSON, or nested too deeply
            raise AdobeError(400, "invalid_json", exc.message) from exc
    try:
        found = await read_input(request)
    except BadRequest as exc:  # a malformed multipart body
        raise AdobeError(400, "invalid_request", exc.message) from exc
    upload = found.files.get("image")
    try:
        options = parse_json((found.fields.get("options", "") or "{}").encode())
    except BadRequest as exc:
        raise AdobeError(400, "invalid_json", f"Multipart part `options`: {exc.message}") from exc
    return options, upload.data if upload else None


def _accepted(request: Request, job_id: str, replayed: bool = False) -> JSONResponse:
    """Adobe's 202; a replay of an Idempotency-Key charged nothing and says so."""
    status_url = origin.url_for(request, "adobe_v2_status", job_id=job_id)
    headers = {"X-Credits-Charged": "0"} if replayed else None
    return JSONResponse({"jobId": job_id, "statusUrl": status_url}, status_code=202, headers=headers)


@router.post("/v2/remove-background", status_code=202, **POST_OPERATION)
async def remove_background(request: Request) -> JSONResponse:
    """Accept a background-removal job; poll statusUrl (or get a webhook) for the result."""
    found = services(request)
    jobs = found.jobs
    caller = await authenticate(request)
    base = origin.base_url(request)  # an untrusted Host is refused before anything is charged
    body, upload = await _body(request)
    options, source_url, upload_id, callback_url = translate(body, uploaded=upload is not None)
    if callback_url and not found.settings.webhook_secret:
        raise AdobeError(422, "validation_error", "callback.url needs the server's "
                         "CUTOUT_WEBHOOK_SECRET to sign webhooks; none is configured.")
    header = None
    if upload is not None:  # an image that is not one, or too large: 400 before any charge
        header = images.read_header(upload, found.meter.limits)
    key = request.headers.get("idempotency-key", "").strip()
    sent = fingerprint({"options": options.as_dict(), "source": source_url,
                        "upload_id": upload_id, "callback": callback_url}, upload)
    job_id, existing = await run_in_threadpool(jobs.reserve, caller.account.id, key, sent)
    if existing is not None:
        return _accepted(request, existing.job_id, replayed=True)
    # Charged now, so an account over its limit hears it at once; a URL's (or a
    # presigned upload's) size is not known yet: it weighs the minimum, 1 megapixel,
    # and the worker charges the rest to the window once it has read the header.
    # A failure from here on is answered 503 and refunded by the metering middleware.
    ticket = await admit(request, header.megapixels if header else 1.0, JOB_CREDITS, job=job_id)
    job, created = await run_in_threadpool(
        lambda: jobs.accept(job_id, account=caller.account.id, options=options,
                            source_url=source_url, upload=upload, upload_id=upload_id,
                            charge=ticket.charge if ticket else None,
                            callback_url=callback_url, header=header,
                            mp_per_minute=None if header else caller.account.mp_per_minute,
                            base_url=base, fingerprint=sent))
    if not created:  # the same Idempotency-Key raced us: the first job stands, this is free
        await refund(request)
    return _accepted(request, job.job_id)


@router.post("/v2/uploads", status_code=201, **UPLOAD_OPERATION)
async def new_upload(request: Request) -> JSONResponse:
    """A presigned PUT URL for one image; then post a job with image.source.uploadId."""
    jobs = services(request).jobs
    caller = await authenticate(request)
    upload_id, url = await run_in_threadpool(jobs.upload_url, caller.account.id,
                                             origin.base_url(request))
    return JSONResponse({"uploadId": upload_id, "uploadUrl": url, "method": "PUT",
                         "expiresIn": jobs.cfg.result_url_ttl}, status_code=201)


@router.get("/v2/status/{job_id}", name="adobe_v2_status", **STATUS_OPERATION)
async def status(request: Request, job_id: str) -> JSONResponse:
    """The job's status; once succeeded, result.outputs[0].destination.url (expiring)."""
    job = await callers_job(request, job_id)
    return JSONResponse(job.status_document(services(request).jobs.result_url(job)))


async def callers_job(request: Request, job_id: str) -> Job:
    """The caller's job `job_id` (both Adobe versions' status routes).

    Raises: AccessError (no key, or a bad one); NotFound `unknown_job_id` (no such job, or
    another account's: the two are not told apart)."""
    caller = await authenticate(request)
    job = await run_in_threadpool(services(request).jobs.get, job_id, caller.account.id)
    if job is None:
        raise NotFound(f"No job {shown(job_id)} for this account.", code="unknown_job_id")
    return job
