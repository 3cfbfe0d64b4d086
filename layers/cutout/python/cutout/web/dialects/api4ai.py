"""The API4AI background-removal dialect: /v1/version, /v1/modes, /v1/results.

Image problems are answered as API4AI does: 200 with a `failure` status inside
the result; malformed requests get 422 with a `detail`. A refusal of the caller
(401 402 403 429) or a service fault (503 with Retry-After: a backend such as
the account store or the result store unavailable) is an HTTP status with a `detail`,
never a `failure`: it is not the image's fault, and the same request may succeed
later. API4AI's documentation names no status for its own outages; 503 is
HTTP's (RFC 9110 section 15.6.4), as the other dialects answer it.
"""
from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ... import __version__
from ...engine import pipeline, tiers
from ...errors import AccessError, CutoutError, InvalidOption, Unavailable
from .. import delivery
from .. import openapi as oa
from ..auth import Caller, account_report, authenticate
from ..dialect import Dialect
from ..errors import headers_of, status_of
from ..inputs import BadRequest, decode_base64, download, read_input
from ..middleware import note
from ..processing import cut, services, uncertainty_header

HOSTED_PREFIX = "/img-bg-removal"  # API4AI's hosts: /img-bg-removal/v1/results
MISSING = "Missing image or url field."
MAX_NAME = 255  # characters of a URL's last segment kept as the result's `name`


def render(exc: CutoutError) -> JSONResponse:
    """A refusal as API4AI answers it: `{"detail"}`, 422 for a malformed request (an
    unusable image is a `failure` result, answered by the route), else the error's status."""
    status = 422 if isinstance(exc, (BadRequest, InvalidOption)) else status_of(exc)
    return JSONResponse({"detail": exc.message}, status_code=status, headers=headers_of(exc))


def too_large(message: str) -> dict[str, Any]:
    """Where API4AI's (and FastAPI's) clients read a Lambda 413's message."""
    return {"detail": message}


DIALECT = Dialect("api4ai", key="api4ai", render=render, too_large=too_large)
account_router = DIALECT.router(prefix="/v1", tags=["account"])  # /v1/account, below
router = DIALECT.router(prefix="/v1", tags=["api4ai"])
# API4AI's own hosts serve the same API under this prefix; clients with it in their
# base URL work unchanged (one operation each in the spec: the alias is not listed).
DIALECT.alias(router, HOSTED_PREFIX)

# --- the OpenAPI description (see web/openapi.py) ---------------------------------------------
# The account report first: the spec lists shared schemas in the order they are made.
_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
REPORT = oa.schema("AccountReport", oa.obj(
    ["account", "kind", "plan", "limits", "rate_limit", "usage"],
    account={"type": "string", "description": "`key:<id>`, `anonymous`, `rapidapi:<user>`, ..."},
    kind=oa.STRING, owner={"type": ["string", "null"]}, plan=oa.STRING,
    limits=oa.obj(["megapixels_per_minute", "monthly_credits"],
                  megapixels_per_minute=oa.INTEGER,
                  monthly_credits={**_NULLABLE_NUMBER, "description": "null: no monthly quota"}),
    rate_limit=oa.obj(["limit", "remaining", "reset"], limit=oa.INTEGER, remaining=oa.INTEGER,
                      reset={"type": "integer", "description": "Unix time the window ends"}),
    usage=oa.obj(["month", "calls", "megapixels", "credits", "credits_remaining"],
                 month={"type": "string", "example": "2026-11"}, calls=oa.INTEGER,
                 megapixels=_NUMBER, credits=_NUMBER, credits_remaining=_NULLABLE_NUMBER),
))


_ENTITY = oa.obj(
    ["kind", "name", "format"],
    kind={"type": "string", "enum": ["image"]},
    name={"type": "string", "enum": [f"general-{m}" for m in pipeline.MODES]},
    image={**oa.BASE64, "description": "The PNG, base64 (when the response stays under the limit)."},
    url={"type": "string", "description": "A signed download URL (results too large to inline)."},
    expires_at={"type": "string", "format": "date-time", "description": "When `url` expires."},
    format={"type": "string", "enum": ["PNG"]},
    uncertainty_score=oa.UNCERTAINTY_SCORE,
)
RESULTS = oa.schema("Api4aiResults", oa.obj(["results"], results={
    "type": "array", "minItems": 1, "maxItems": 1, "items": oa.obj(
        ["status", "name", "md5", "entities"],
        status=oa.obj(["code", "message"], code={"type": "string", "enum": ["ok", "failure"]},
                      message=oa.STRING),
        name=oa.STRING, md5=oa.STRING, width=oa.INTEGER, height=oa.INTEGER,
        entities={"type": "array", "items": _ENTITY},
    )}))
_SOURCE = {"anyOf": [{"required": ["image"]}, {"required": ["url"]}]}
_RESULTS_OPERATION = oa.operation(
    "Remove the background of one image",
    security=oa.KEYED,
    body=oa.body(
        multipart={**oa.obj(image=oa.BINARY, url=oa.URL), **_SOURCE},
        urlencoded={**oa.obj(image=oa.BASE64, url=oa.URL), **_SOURCE},
        json={**oa.obj(image=oa.BASE64, url=oa.URL), **_SOURCE},
        raw=oa.RAW_IMAGE_TYPES,
        examples={"json": {"url": "https://example.com/photo.jpg"}},
    ),
    responses={
        200: oa.json(RESULTS, "The result. An image that cannot be used (not decodable, over the "
                     "size limits, a refused or failed download) is a `failure` result, not an "
                     "HTTP error; a service fault is a 503, never a `failure`.", headers={**oa.RATE_LIMIT, **oa.uncertainty(required=False),
                                             "X-Credits-Charged": {
                         **oa.CREDITS_CHARGED, "required": False}},
                     example={"results": [{
                         "status": {"code": "ok", "message": "Success"}, "name": "photo.jpg",
                         "md5": "1d6fbe0b5a7ac1ba1ea0ae1f5f7c5d5e", "width": 1200, "height": 800,
                         "entities": [{"kind": "image", "name": "general-fg-image",
                                       "image": "iVBORw0KGgo...", "format": "PNG"}]}]}),
        422: oa.json(oa.DETAIL, "No image or url, an unknown mode, or a body that is not valid "
                     "JSON or multipart.", example={"detail": MISSING}),
        **oa.refusals(oa.DETAIL, 401, 402, 403, 429),
        503: oa.json(oa.DETAIL, "A service fault, not the image's: a backend (the account store, "
                     "or the result store for a result too large to inline) is unavailable. "
                     "Nothing is charged; retry after `Retry-After` seconds.",
                     headers={"Retry-After": oa.RETRY_AFTER},
                     example={"detail": "The rate limiter is unavailable; please retry shortly."}),
    },
)
_MODE = Query("fg-image", description="What to return: the cut-out, the cut-out on a drop shadow, "
              "or the alpha matte.", json_schema_extra={"enum": list(pipeline.MODES)})
_MODEL = Query(tiers.DEFAULT_TIER, description=oa.QUALITY_TIER_TEXT,
               json_schema_extra={"enum": oa.QUALITY_TIER["enum"]})


@router.get("/version", response_class=PlainTextResponse, summary="The API version",
            responses={200: {"content": {"text/plain": {"example": f"v{__version__}"}}}})
def version() -> str:
    return f"v{__version__}"


@router.get("/modes", summary="The modes /v1/results accepts", responses={200: {"content": {
    "application/json": {"schema": {"type": "array", "items": {
        "type": "string", "enum": list(pipeline.MODES)}}}}}})
def modes() -> list[str]:
    return list(pipeline.MODES)


def _result(name: str, md5: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"results": [{"name": name, "md5": md5, **fields}]})


def _failure(name: str, md5: str, message: str) -> JSONResponse:
    return _result(name, md5, status={"code": "failure", "message": message}, entities=[])


@router.post("/results", **_RESULTS_OPERATION)
async def results(
    request: Request, mode: str = _MODE, model: str = _MODEL,
    caller: Caller = Depends(authenticate),
) -> JSONResponse:
    """Send the image as a multipart file (`image`), a URL (`url`, multipart, form or JSON),
    base64 in JSON or a form (`image`), or the raw bytes with an image content type."""
    options = pipeline.Options(mode=mode, model=model)  # an unknown mode: 422
    found = await read_input(request)  # a malformed body: 422
    name, md5 = "", ""
    try:
        if "image" in found.files:
            upload = found.files["image"]
            data, name = upload.data, upload.filename or "image"
        elif found.fields.get("image"):
            data, name = decode_base64(found.fields["image"]), "image"
        elif found.raw is not None:
            data, name = found.raw.data, "image"
        elif found.fields.get("url"):
            url = found.fields["url"]
            name = (url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or url)[:MAX_NAME]
            data = (await download(request, url)).data
        else:
            return JSONResponse({"detail": MISSING}, status_code=422)
        md5 = hashlib.md5(data).hexdigest()
        result = await cut(request, data, options)
    except (AccessError, Unavailable):  # not the image's fault: an HTTP status, never a failure
        raise
    except CutoutError as exc:
        note(request, mode=mode, outcome="failure")
        return _failure(name, md5, exc.message)
    # inline base64, or a URL when the response would pass the Lambda limit (503 if that fails)
    delivered = await delivery.deliver(request, result, name=f"general-{mode}")
    note(request, mode=mode, outcome="ok")
    response = _result(
        name,
        md5,
        status={"code": "ok", "message": "Success"},
        width=result.width,
        height=result.height,
        entities=[{"kind": "image", "name": f"general-{mode}", **delivered, "format": "PNG",
                   "uncertainty_score": result.uncertainty}],
    )
    response.headers.update(uncertainty_header(result))
    return response


# --- /v1/account: the caller's plan, limits and usage (every dialect's keys work here) ---

@account_router.get("/account", response_model=None, **oa.operation(
    "The caller's plan, limits and usage this month",
    security=oa.KEYED,
    responses={200: oa.json(REPORT, "The account report.", headers=oa.RATE_LIMIT),
               **oa.refusals(oa.DETAIL, 401, 403, 503)},
))
async def account(request: Request, caller: Caller = Depends(authenticate)) -> dict[str, Any]:
    """Plan, megapixels per minute, monthly credits, and what this month has used."""
    return (await account_report(caller, services(request).store)).as_dict()
