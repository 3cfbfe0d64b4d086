"""The Azure Image Analysis 4.0 dialect: POST /computervision/imageanalysis:segment.

Point an Azure client's endpoint at Cutout and its segment calls work unchanged:
`mode=backgroundRemoval` answers an RGBA PNG of at most 16 megapixels (aspect
kept), `mode=foregroundMatting` a greyscale PNG matte the size of the input.
The image comes as the raw body (`application/octet-stream`, `image/*`), as a
multipart part, or as JSON `{"url": "..."}`; errors come in Azure's shape
`{"error":{"code","message","innererror":{"code","message"}}}` with the
`x-ms-error-code` header.
"""
from __future__ import annotations

import re
from dataclasses import replace

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ...engine import formats, pipeline, tiers
from ...errors import (AccessError, CutoutError, FetchError, FileTooLarge, ImageTooLarge, InputError,
                       InvalidImage, InvalidOption)
from .. import openapi as oa
from ..auth import authenticate
from ..dialect import Dialect
from ..errors import headers_of, status_of
from ..inputs import RAW_TYPES, BadRequest, RequestInput, download, read_input
from ..processing import cut, services, uncertainty_header

API_VERSIONS = ("2023-02-01-preview", "2023-04-01-preview")  # the versions that have :segment
MODES = {
    "backgroundRemoval": pipeline.Options(mode="fg-image", format="png", max_megapixels=16.0),
    "foregroundMatting": pipeline.Options(mode="fg-mask", format="png"),
}
BODY_TYPES = ("application/json", "application/octet-stream", "multipart/form-data")
# Azure's own curl samples send `-d "{'url':'...'}"`, which is not JSON; Azure accepts it.
_QUOTED_URL = re.compile(r"""^\s*\{\s*['"]url['"]\s*:\s*['"]([^'"]*)['"]\s*\}\s*$""")
ACCESS_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                 "provide a valid key for an active subscription and use a correct regional API "
                 "endpoint for your resource.")


class AzureError(InputError):
    """A refusal of the request already phrased in Azure's terms."""

    def __init__(self, message: str, inner_code: str, inner_message: str = "", status: int = 400) -> None:
        super().__init__(message, code=inner_code)
        self.status = status  # already Azure's status
        self.inner_message = inner_message or message


def _body(status: int, code: str, message: str, inner: tuple[str, str] | None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner is not None:
        error["innererror"] = {"code": inner[0], "message": inner[1]}
    headers = {**(headers or {}), "x-ms-error-code": inner[0] if inner else code}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def render(exc: CutoutError) -> JSONResponse:
    """Any refusal in Azure's shape and statuses."""
    headers = headers_of(exc)
    if isinstance(exc, AccessError):
        return _access_error(exc, headers)
    if isinstance(exc, AzureError):
        return _body(exc.status, "InvalidRequest", exc.message, (exc.code, exc.inner_message), headers)
    if isinstance(exc, FileTooLarge):
        inner = ("InvalidImageSize", f"The image size is not allowed to be zero or larger than "
                 f"{exc.limit} bytes.")
        return _body(400, "InvalidRequest", "Image size is not valid.", inner, headers)
    if isinstance(exc, ImageTooLarge):
        inner = ("InvalidImageDimension", exc.message)
        return _body(400, "InvalidRequest", "Image size is not valid.", inner, headers)
    if isinstance(exc, InvalidImage):
        return _body(400, "InvalidRequest", "Image format is not valid.",
                     ("InvalidImageFormat", exc.message), headers)
    if isinstance(exc, FetchError):
        return _body(400, "InvalidRequest", "Image URL is badly formatted or not accessible.",
                     ("InvalidImageUrl", exc.message), headers)
    status = status_of(exc)
    if status == 413:  # a result over the response limit
        return _body(413, "InvalidRequest", exc.message, (exc.code, exc.message), headers)
    if isinstance(exc, (InvalidOption, BadRequest)) or status in (400, 415, 422):
        return _body(400, "InvalidRequest", exc.message, ("InvalidArgument", exc.message), headers)
    return _body(status, str(status), exc.message, None, headers)


def _access_error(exc: AccessError, headers: dict[str, str]) -> JSONResponse:
    """Keys, quota, rate limit and outages, with the statuses and codes Azure uses for them."""
    status = status_of(exc)
    if status in (401, 403):  # Azure answers every key problem with 401
        message = ACCESS_DENIED if exc.code in ("missing_api_key", "invalid_api_key") else exc.message
        return _body(401, "401", message, None, headers)
    if status == 402:  # and an exhausted quota with 403
        return _body(403, "403", f"Out of call volume quota. {exc.message}", None, headers)
    return _body(status, str(status), exc.message, None, headers)


def too_large(message: str) -> dict[str, Any]:
    """Where Azure's clients read a Lambda 413's message."""
    return {"error": {"code": "result_too_large", "message": message}}


DIALECT = Dialect("azure", key="azure", render=render, too_large=too_large, expose_headers=("x-ms-error-code",))
router = DIALECT.router(prefix="/computervision", tags=["azure"])


async def _image(request: Request, found: RequestInput) -> bytes:
    """The image bytes, whichever of Azure's body shapes carried them. A body with no image in it
    (JSON without `url`, such as `{}`, or a form without a file) is InvalidImageUrl, saying
    what to send; zero bytes of image (an empty image or octet-stream body) are Azure's
    InvalidImageSize."""
    settings = services(request).settings
    data = b""
    url = found.fields.get("url", "").strip()
    if found.raw is not None:
        data = found.raw.data
    elif found.files:
        data = next(iter(found.files.values())).data
    elif url:
        data = (await download(request, url)).data
    elif not request.headers.get("content-type", "").lower().startswith(RAW_TYPES):
        raise AzureError("The request has no image: send its bytes (Content-Type "
                         "application/octet-stream or image/*), or JSON {\"url\": \"https://...\"}.",
                         "InvalidImageUrl")
    if not data:
        raise AzureError("The image size is not allowed to be zero or larger than "
                         f"{settings.max_bytes} bytes.", "InvalidImageSize")
    return data


async def _read(request: Request) -> RequestInput:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and not (ctype.startswith("image/") or ctype in BODY_TYPES):
        raise AzureError(f"The provided image content type {ctype} is not supported.",
                         "InvalidArgument")
    try:
        return await read_input(request)
    except BadRequest:  # bad JSON (Azure's own samples send single quotes) or multipart
        if ctype == "multipart/form-data":  # the body's stream is spent; nothing else to try
            raise
        match = _QUOTED_URL.match((await request.body()).decode("utf-8", "replace"))
        if match is None:
            raise
        return RequestInput(fields={"url": match.group(1)})


# --- the OpenAPI description (see web/openapi.py) ---------------------------------------------
ERROR = oa.schema("AzureError", oa.obj(["error"], error=oa.obj(
    ["code", "message"], code=oa.STRING, message=oa.STRING,
    innererror=oa.obj(["code", "message"], code=oa.STRING, message=oa.STRING))))
_ERROR_CODE = {"x-ms-error-code": oa.header("The error's code (the inner one when there is one).",
                                            oa.STRING, required=True)}
_SEGMENT_OPERATION = oa.operation(
    "Remove the background or matte the foreground (Azure Image Analysis 4.0)",
    security=oa.AZURE_KEYED,
    parameters=[
        oa.query("api-version", {"type": "string", "enum": list(API_VERSIONS)}, required=True),
        oa.query("mode", {"type": "string", "enum": list(MODES)}, required=True,
                 description="`backgroundRemoval`: RGBA PNG of at most 16 MP; "
                             "`foregroundMatting`: greyscale PNG matte, the input's size."),
        oa.query("model", oa.QUALITY_TIER, description=oa.QUALITY_TIER_TEXT),
    ],
    body=oa.body(
        multipart=oa.obj(["image"], image=oa.BINARY),
        json=oa.obj(["url"], url=oa.URL),
        raw=oa.RAW_IMAGE_TYPES,
        examples={"json": {"url": "https://example.com/photo.jpg"}},
    ),
    responses={
        200: oa.image([formats.mime_of("png")], "The cut-out (RGBA) or the matte (greyscale) as PNG.",
                      headers={**oa.uncertainty(), **oa.METERED_SUCCESS}),
        400: oa.json(ERROR, "`InvalidRequest`; `innererror.code` says why: InvalidImageFormat, "
                     "InvalidImageSize, InvalidImageDimension, InvalidImageUrl, InvalidArgument or "
                     "InvalidApiVersion.", headers={**_ERROR_CODE, **oa.RATE_LIMIT}, example={
                         "error": {"code": "InvalidRequest", "message": "Image format is not valid.",
                                   "innererror": {"code": "InvalidImageFormat",
                                                  "message": "Can not load image."}}}),
        **oa.refusals(ERROR, 401, 403, 429, 503, extra_headers=_ERROR_CODE, descriptions={
            401: "No API key, or an unknown or revoked one (Azure answers both with 401).",
            403: "Out of call volume quota: the monthly credits are used up."}),
    },
)


@router.post("/imageanalysis:segment", **_SEGMENT_OPERATION)
async def segment(request: Request) -> Response:
    """Background removal or foreground matting, as Azure Image Analysis 4.0 answers it.

    The body is the raw image (`application/octet-stream` or `image/*`), a multipart
    part, or JSON `{"url": ...}`.
    """
    api_version = request.query_params.get("api-version")
    mode = request.query_params.get("mode")
    model = request.query_params.get("model", tiers.DEFAULT_TIER)
    await authenticate(request)
    if not api_version:
        raise AzureError("The api-version query parameter is required.", "InvalidApiVersion")
    if api_version not in API_VERSIONS:
        raise AzureError(f"The api-version {api_version!r} does not support segment; use "
                         f"{' or '.join(API_VERSIONS)}.", "InvalidApiVersion")
    if mode not in MODES:
        raise AzureError(f"The mode query parameter must be one of {', '.join(MODES)}.",
                         "InvalidArgument")
    options = replace(MODES[mode], model=model)  # an unknown tier: InvalidOption, 400 InvalidArgument
    result = await cut(request, await _image(request, await _read(request)), options)
    return Response(result.data, media_type=result.content_type, headers=uncertainty_header(result))
