"""The remove.bg v1.0 dialect: POST /v1.0/removebg and GET /v1.0/account.

Code written against remove.bg works unchanged: the same field names, the same
headers, the same error shape `{"errors":[{"title","code","detail"}]}`. This
module only translates; every option is implemented in pipeline/compose.

Not imitated: remove.bg's foreground type detection. `type`, `type_level` and
`semitransparency` are accepted and validated but do not change the result,
and no `X-Type` header is sent.
"""
from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ... import numerals
from ...engine import colors, formats, geometry, images, pipeline, tiers
from ...errors import (AccessError, CutoutError, FetchError, FileTooLarge, ImageTooLarge, InputError,
                       InvalidImage, InvalidOption)
from .. import openapi as oa
from ..auth import account_report, authenticate
from ..delivery import ResultTooLarge
from ..dialect import Dialect
from ..errors import headers_of, shown, status_of
from ..inputs import RequestInput, decode_base64, download, read_input
from ..negotiation import prefers
from ..processing import cut, services, uncertainty_header
from .api4ai import REPORT

# size -> the output's megapixel cap (aspect kept). preview is remove.bg's default.
SIZES = {
    "preview": 0.25, "small": 0.25, "regular": 0.25,
    "medium": 1.5, "hd": 4.0,
    "full": 25.0, "4k": 25.0, "auto": 25.0,
    "50mp": 50.0,
}
FORMATS = pipeline.FORMATS
CHANNELS = {"rgba": "fg-image", "alpha": "fg-mask"}
TYPES = ("auto", "person", "product", "animal", "car", "car_interior", "car_part",
         "transportation", "graphic", "graphics", "other")
TYPE_LEVELS = ("none", "1", "2", "latest")
# Every shadow remove.bg names is drawn with the one drop shadow of fg-image-shadow.
SHADOW_TYPES = ("none", "drop", "auto", "3d", "car")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")
PREVIEW_CREDITS, FULL_CREDITS = 0.25, 1.0

TITLES = {
    "missing_source": "No image given",
    "multiple_sources": "Multiple image sources given",
    "failed_image_download": "Failed to download image",
    "failed_to_read_image": "Failed to read image",
    "file_too_large": "File too large",
    "resolution_too_high": "Resolution too high",
    "invalid_bg_color": "Invalid bg_color",
    "multiple_backgrounds": "Multiple backgrounds given",
    "invalid_crop": "Invalid crop",
    "invalid_crop_margin": "Invalid crop_margin",
    "invalid_format": "Invalid format",
    "invalid_channels": "Invalid channels",
    "invalid_position": "Invalid position",
    "invalid_roi": "Invalid roi",
    "roi_exceeds_bounds": "ROI exceeds image bounds",
    "invalid_scale": "Invalid scale",
    "invalid_size": "Invalid size",
    "invalid_type": "Invalid type",
    "invalid_type_level": "Invalid type_level",
    "invalid_model": "Invalid model",
    "invalid_shadow_type": "Invalid shadow_type",
    "invalid_shadow_opacity": "Invalid shadow_opacity",
    "invalid_semitransparency": "Invalid semitransparency",
    "unknown_foreground": "Could not identify foreground in image",
    "result_too_large": "Result too large",
    "bad_request": "Invalid request",
    "missing_api_key": "Missing API Key",
    "auth_failed": "API Key invalid",
    "insufficient_credits": "Insufficient credits",
    "rate_limit_exceeded": "Rate limit exceeded",
    "service_unavailable": "Service unavailable",
}
# Engine and pipeline codes -> remove.bg's names for the same thing.
RENAMES = {
    "invalid_image": "failed_to_read_image",
    "too_many_scans": "failed_to_read_image",
    "fetch_failed": "failed_image_download",
    "invalid_color": "invalid_bg_color",
    # remove.bg answers every unusable key with auth_failed / "API Key invalid".
    "invalid_api_key": "auth_failed",
    "revoked_api_key": "auth_failed",
}


class RemoveBgError(InputError):
    """A refusal of the request already phrased in remove.bg's terms."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail, code=code)
        self.status = status  # already remove.bg's status


def render(exc: CutoutError) -> JSONResponse:
    """Any refusal as remove.bg answers it: 400 for input, 402/403/429 for the account, 503
    for an outage; a result over the response limit 413."""
    code = RENAMES.get(exc.code, exc.code)
    if isinstance(exc, ImageTooLarge):
        code = "file_too_large" if isinstance(exc, FileTooLarge) else "resolution_too_high"
    status = status_of(exc)
    if isinstance(exc, AccessError):
        status = 403 if status == 401 else status  # remove.bg answers a missing key like a wrong one
    elif isinstance(exc, ResultTooLarge):
        status = 413
    elif status in (400, 413, 415, 422) or isinstance(exc, (InvalidImage, InvalidOption, FetchError)):
        status = 400
    title = TITLES.get(code, code.replace("_", " ").capitalize())
    headers = headers_of(exc)
    return JSONResponse({"errors": [{"title": title, "code": code, "detail": exc.message}]},
                        status_code=status, headers=headers)


def too_large(message: str) -> dict[str, Any]:
    """Where remove.bg's clients read a Lambda 413's message."""
    return {"errors": [{"title": message, "code": ResultTooLarge.code}]}


DIALECT = Dialect("remove.bg", key="removebg", render=render, too_large=too_large, expose_headers=(
    "X-Width", "X-Height", "X-Max-Width", "X-Max-Height", "X-Foreground-Top", "X-Foreground-Left",
    "X-Foreground-Width", "X-Foreground-Height"))
router = DIALECT.router(prefix="/v1.0", tags=["remove.bg"])


# --- parameters -> Options ---------------------------------------------------------------------


def _choice(fields: dict[str, str], name: str, allowed: tuple[str, ...] | dict[str, Any],
            default: str) -> str:
    value = fields.get(name, "").strip() or default
    if value.lower() not in allowed:
        valid = ", ".join(a.upper() if a == "50mp" else a for a in allowed)
        raise RemoveBgError(f"invalid_{name}", f"Invalid {name} {shown(value)}; valid values are {valid}.")
    return value.lower()


def _flag(fields: dict[str, str], name: str, default: bool) -> bool:
    value = fields.get(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise RemoveBgError(f"invalid_{name}", f"Invalid {name} {shown(value)}; use true or false.")


def _shadow(fields: dict[str, str]) -> tuple[bool, float]:
    shadow = _choice(fields, "shadow_type", SHADOW_TYPES, "none") != "none"
    shadow = shadow or _flag(fields, "add_shadow", False)  # the older name for the same thing
    raw = fields.get("shadow_opacity", "").strip()
    if not raw:
        return shadow, 0.5
    try:
        opacity = numerals.decimal(raw)
    except ValueError:
        opacity = -1.0
    if not 0.0 <= opacity <= 100.0:
        raise RemoveBgError("invalid_shadow_opacity", f"Invalid shadow_opacity {shown(raw)}; use 0 to 100.")
    return shadow, opacity / 100.0


def _recoded(exc: InvalidOption, code: str) -> RemoveBgError:
    return RemoveBgError(exc.code if exc.code != "invalid_option" else code, exc.message)


def translate(fields: dict[str, str]) -> pipeline.Options:
    """remove.bg's form fields -> pipeline Options (no I/O; raises RemoveBgError).

    A background image (`bg_image_file`, `bg_image_url`) is read after this
    check and joins the options with `dataclasses.replace`.
    """
    size = _choice(fields, "size", SIZES, "preview")
    fmt = _choice(fields, "format", FORMATS, "auto")
    mode = CHANNELS[_choice(fields, "channels", CHANNELS, "rgba")]
    if fmt == "zip":
        # A ZIP always holds both layers (color.jpg + alpha.png), whatever `channels`
        # says: remove.bg's CLI sends channels=alpha with format=zip.
        mode = "fg-image"
    _choice(fields, "type", TYPES, "auto")
    _choice(fields, "type_level", TYPE_LEVELS, "1")
    model = _choice(fields, "model", tuple(tiers.TIERS), tiers.DEFAULT_TIER)
    _flag(fields, "semitransparency", True)
    shadow, opacity = _shadow(fields)
    if shadow and mode == "fg-image":
        mode = "fg-image-shadow"
    try:
        colour = colors.parse(fields["bg_color"]) if fields.get("bg_color", "").strip() else None
    except InvalidOption as exc:
        raise RemoveBgError("invalid_bg_color", exc.message) from exc
    try:
        roi = geometry.parse_region(fields["roi"]) if fields.get("roi", "").strip() else None
        crop = _flag(fields, "crop", False)
        margin = fields.get("crop_margin", "").strip()
        crop_margin = geometry.parse_margin(margin) if margin else geometry.NO_MARGIN
        scale = geometry.parse_scale(fields.get("scale", "").strip() or "original")
        position_text = fields.get("position", "").strip()
        # remove.bg: scaling the subject implies position=center unless a position is given.
        if not position_text:
            position = geometry.CENTER if scale is not None else None
        else:
            position = geometry.parse_position(position_text)
        return pipeline.Options(
            mode=mode,
            format=fmt,
            shadow_opacity=opacity,
            max_megapixels=SIZES[size],
            background_color=colour,
            roi=roi,
            crop=crop,
            crop_margin=crop_margin,
            scale=scale,
            position=position,
            require_foreground=True,
            model=model,
        )
    except InvalidOption as exc:
        raise _recoded(exc, "bad_request") from exc


def credits_for(header: images.Header, options: pipeline.Options) -> float:
    """remove.bg's price list: 0.25 credit when the output has at most 0.25 megapixels, else 1.

    Known from the header and the size cap alone, so the charge is fixed before
    any pixel is decoded.
    """
    width, height = header.width, header.height
    if options.max_megapixels is not None:
        width, height = images.fit_within(width, height, options.max_megapixels)
    return PREVIEW_CREDITS if width * height <= 250_000 else FULL_CREDITS


# --- sources ----------------------------------------------------------------------------------------

SOURCES = ("image_file", "image_file_b64", "image_url")
BACKGROUNDS = ("bg_color", "bg_image_url", "bg_image_file")


def _given(found: RequestInput, name: str) -> bool:
    return name in found.files or bool(found.fields.get(name, "").strip())


async def _bytes(request: Request, found: RequestInput, name: str) -> bytes:
    """A file part, base64 text or URL named `name`, as bytes."""
    if name in found.files:
        return found.files[name].data
    value = found.fields[name].strip()
    if name.endswith("_url"):
        return (await download(request, value)).data
    if name.endswith("_b64"):
        return decode_base64(value)
    return value.encode("latin-1", "replace")  # a file sent as a plain text field


def max_size(header: images.Header, options: pipeline.Options) -> tuple[int, int]:
    """X-Max-Width and X-Max-Height: the largest output (px) the request's `size` allows this image.

    The input's size fitted, aspect kept, within the size's megapixel cap;
    X-Width/X-Height are smaller when `crop` trims the result.
    """
    if options.max_megapixels is None:
        return header.width, header.height
    return images.fit_within(header.width, header.height, options.max_megapixels)


def _success(result: pipeline.Result, as_json: bool, largest: tuple[int, int]) -> Response:
    """The image (or JSON with it); X-Credits-Charged and X-RateLimit-* come from metering."""
    headers = {"X-Width": str(result.width), "X-Height": str(result.height),
               "X-Max-Width": str(largest[0]), "X-Max-Height": str(largest[1]),
               **uncertainty_header(result)}
    foreground = {}
    if result.foreground is not None:
        left, top, width, height = result.foreground
        foreground = {"foreground_top": top, "foreground_left": left,
                      "foreground_width": width, "foreground_height": height}
        headers.update({"X-Foreground-Top": str(top), "X-Foreground-Left": str(left),
                        "X-Foreground-Width": str(width), "X-Foreground-Height": str(height)})
    if as_json:
        body = {"result_b64": base64.b64encode(result.data).decode("ascii"), **foreground,
                "uncertainty_score": result.uncertainty}
        return JSONResponse({"data": body}, headers=headers)
    return Response(result.data, media_type=result.content_type, headers=headers)


# --- the OpenAPI description (see web/openapi.py) ---------------------------------------------

ERRORS = oa.schema("RemoveBgErrors", oa.obj(["errors"], errors={
    "type": "array", "minItems": 1,
    "items": oa.obj(["title", "code"], title=oa.STRING, code=oa.STRING, detail=oa.STRING)}))
_FLAG = {"type": "boolean"}
_PARAMETERS = {
    "image_file_b64": oa.BASE64,
    "image_url": oa.URL,
    "size": {"type": "string", "default": "preview",
             "enum": [s.upper() if s == "50mp" else s for s in SIZES]},
    "type": {"type": "string", "default": "auto", "enum": list(TYPES),
             "description": "Accepted; Cutout does no foreground-type detection."},
    "type_level": {"type": "string", "default": "1", "enum": list(TYPE_LEVELS)},
    "format": {"type": "string", "default": "auto", "enum": list(FORMATS)},
    "model": {**oa.QUALITY_TIER, "description": oa.QUALITY_TIER_TEXT},
    "roi": {"type": "string", "example": "0% 0% 100% 100%",
            "description": "Region of interest `x1 y1 x2 y2`, px or %."},
    "crop": _FLAG,
    "crop_margin": {"type": "string", "example": "10%",
                    "description": "1, 2 or 4 values, px (up to 500) or % (up to 50)."},
    "scale": {"type": "string", "example": "original", "description": "`10%`-`100%` or `original`."},
    "position": {"type": "string", "example": "center",
                 "description": "`original`, `center`, or 1-2 percentages."},
    "channels": {"type": "string", "default": "rgba", "enum": list(CHANNELS)},
    "add_shadow": _FLAG,
    "semitransparency": _FLAG,
    "bg_color": {"type": "string", "example": "81d4fa",
                 "description": "Hex (`81d4fa`, `fff`, `81d4fa77`) or a colour name."},
    "bg_image_url": oa.URL,
    "shadow_type": {"type": "string", "default": "none",
                    "enum": ["none", "drop", "auto", "3D", "car"]},
    "shadow_opacity": {"type": "integer", "minimum": 0, "maximum": 100, "default": 50},
}
_ONE_SOURCE = {"oneOf": [{"required": ["image_file"]}, {"required": ["image_file_b64"]},
                         {"required": ["image_url"]}]}
_ONE_TEXT_SOURCE = {"oneOf": [{"required": ["image_file_b64"]}, {"required": ["image_url"]}]}
RESULT = oa.schema("RemoveBgResult", oa.obj(["data"], data=oa.obj(
    ["result_b64"], result_b64=oa.BASE64, foreground_top=oa.INTEGER, foreground_left=oa.INTEGER,
    foreground_width=oa.INTEGER, foreground_height=oa.INTEGER, uncertainty_score=oa.UNCERTAINTY_SCORE)))
_RESULT_HEADERS = {
    "X-Width": oa.header("Width of the result, px.", required=True),
    "X-Height": oa.header("Height of the result, px.", required=True),
    **{f"X-Foreground-{side}": oa.header(f"The subject's bounding box: {side.lower()}, px.")
       for side in ("Top", "Left", "Width", "Height")},
    **oa.uncertainty(),
    **oa.METERED_SUCCESS,
}
_FORBIDDEN = {403: "No API key, or an unknown or revoked one (remove.bg answers both with 403)."}
_REMOVEBG_OPERATION = oa.operation(
    "Remove the background (remove.bg v1.0)",
    security=oa.KEYED,
    body=oa.body(
        multipart={**oa.obj(image_file=oa.BINARY, bg_image_file=oa.BINARY, **_PARAMETERS),
                   **_ONE_SOURCE},
        urlencoded={**oa.obj(**_PARAMETERS), **_ONE_TEXT_SOURCE},
        json={**oa.obj(**_PARAMETERS), **_ONE_TEXT_SOURCE},
        examples={"json": {"image_url": "https://example.com/photo.jpg", "size": "auto",
                           "format": "png"}},
    ),
    responses={
        200: oa.image(
            [formats.mime_of(f) for f in formats.CUTOUT_FORMATS],
            "The result image (PNG, JPEG, WebP, or a zip of `color.jpg` and `alpha.png`); with "
            "`Accept: application/json`, JSON carrying it in base64.",
            headers=_RESULT_HEADERS,
            also={"application/json": {"schema": RESULT}}),
        400: oa.json(ERRORS, "The request or its image cannot be used (codes in the README).",
                     headers=oa.RATE_LIMIT, example={"errors": [{
                         "title": TITLES["missing_source"], "code": "missing_source",
                         "detail": "No image given: send one of image_file, image_file_b64 or "
                                   "image_url."}]}),
        **oa.refusals(ERRORS, 402, 403, 429, 503, descriptions=_FORBIDDEN),
    },
)
ACCOUNT = oa.schema("RemoveBgAccount", oa.obj(["data"], data=oa.obj(["attributes"], attributes=oa.obj(
    ["credits", "api"],
    credits=oa.obj(["total", "subscription", "payg", "enterprise"],
                   total={"type": ["number", "null"]}, subscription={"type": ["number", "null"]},
                   payg={"type": "number"}, enterprise={"type": "number"}),
    api=oa.obj(["free_calls", "sizes"], free_calls=oa.INTEGER, sizes=oa.STRING),
    cutout=REPORT,
))))
_ACCOUNT_OPERATION = oa.operation(
    "The caller's credits (remove.bg v1.0)",
    security=oa.KEYED,
    responses={200: oa.json(ACCOUNT, "Credits left this month.", headers=oa.RATE_LIMIT),
               **oa.refusals(ERRORS, 403, 503, descriptions=_FORBIDDEN)},
)


@router.post("/removebg", **_REMOVEBG_OPERATION)
async def removebg(request: Request) -> Response:
    """Remove the background; parameters and answers as remove.bg's API documents them."""
    limits = services(request).meter.limits
    await authenticate(request)  # 403 before any work, as remove.bg does
    found = await read_input(request)  # a malformed body: BadRequest, 400 bad_request
    sources = [name for name in SOURCES if _given(found, name)]
    if not sources:
        raise RemoveBgError("missing_source", "No image given: send one of image_file, "
                            "image_file_b64 or image_url.")
    if len(sources) > 1:
        raise RemoveBgError("multiple_sources", f"Give exactly one image source, not "
                            f"{' and '.join(sources)}.")
    backgrounds = [name for name in BACKGROUNDS if _given(found, name)]
    if len(backgrounds) > 1:
        raise RemoveBgError("multiple_backgrounds", f"Give at most one background, not "
                            f"{' and '.join(backgrounds)}.")
    options = translate(found.fields)  # refuse bad parameters before downloading anything
    if backgrounds and backgrounds[0] != "bg_color":
        background = await _bytes(request, found, backgrounds[0])
        pipeline.background_header(background, limits)
        options = replace(options, background_image=background)  # the fields, not parsed again
    data = await _bytes(request, found, sources[0])
    header = images.read_header(data, limits)  # priced before the charge, read once
    result = await cut(request, data, options, credits=credits_for(header, options), header=header)
    # JSON only when Accept strictly prefers it to the image (axios's default gets the image).
    as_json = prefers(request.headers.get("accept", ""), "application/json", result.content_type)
    return _success(result, as_json, max_size(header, options))


@router.get("/account", **_ACCOUNT_OPERATION)
async def account(request: Request) -> Response:
    """The caller's credits in remove.bg's shape (plus Cutout's own report under `cutout`).

    credits.total and credits.subscription are the plan's monthly credits still
    unused (null when the plan has no monthly quota); Cutout has no pay-as-you-go
    or enterprise credits and no separate free-call allowance, so those are 0.
    """
    found = await account_report(await authenticate(request), services(request).store)
    remaining = found.credits_remaining
    return JSONResponse({"data": {"attributes": {
        "credits": {"total": remaining, "subscription": remaining, "payg": 0, "enterprise": 0},
        "api": {"free_calls": 0, "sizes": "all"},
        "cutout": found.as_dict(),
    }}})
