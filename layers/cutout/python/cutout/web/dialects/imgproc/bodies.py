"""IMG Processing's request bodies and error shape: parse, validate, render.

Bodies are pydantic models with IMG Processing's field names, limits and
defaults (docs.img-processing.com/api-reference/endpoints/*; the official Node
SDK sends exactly these fields, dropping unset ones, and `{}` when none).
Refusals are `{"type", "error", "status", "message"}` plus `errors: [...]`
for validation, which the SDK's IMGProcessingAPIError reads.
"""
from __future__ import annotations

import unicodedata
from contextlib import contextmanager
from http import HTTPStatus
from typing import Annotated, Any, Iterator, Literal, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ....engine import colors, imageops
from ....errors import AccessError, CutoutError, ImageTooLarge, InputError, InvalidImage, InvalidOption
from ... import errors as web_errors
from ...inputs import BadRequest, parse_json

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # IMG Processing's upload limit
MAX_NAME = 30
# Characters that show nothing on their own: spaces and separators (Z*), format characters
# (Cf: zero-width space, joiners, BOM), combining marks without a base (Mn, Me), and the
# blank letters of Hangul and Braille and the Mongolian vowel separator.
INVISIBLE_CATEGORIES = ("Zs", "Zl", "Zp", "Cf", "Mn", "Me")
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def clean_name(value: Any) -> Any:
    """An image name as stored: NFC (the same visible name typed as NFC or NFD gets the same
    verdict and the same length), stripped; raises ValueError for control characters and
    for names with nothing visible. Length is checked after this (1-30 characters)."""
    if not isinstance(value, str):
        return value
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        return name  # the length rule answers
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError("must not contain control characters")
    if all(unicodedata.category(c) in INVISIBLE_CATEGORIES or c in BLANK_LETTERS for c in name):
        raise ValueError(f"must be 1 to {MAX_NAME} visible characters")
    return name


NameText = Annotated[str, BeforeValidator(clean_name), Field(min_length=1, max_length=MAX_NAME)]
Name = Field(default=None, description="Name of the new image (1-30 characters); default: the "
                                       "source's name.")
Side = Field(default=None, ge=1, le=imageops.MAX_SIDE)


class Invalid(InputError):
    """A body that does not match the endpoint's schema; `errors` lists every problem."""

    code = "validation_error"

    def __init__(self, errors: list[str], message: str = "The request is not valid.") -> None:
        super().__init__(message)
        self.errors = errors


class Unsupported(InputError):
    """An IMG Processing endpoint Cutout does not offer (text-to-image and AI analyses)."""

    code = "unsupported_operation"


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateFromUrl(Body):
    name: NameText
    url: str = Field(min_length=1, max_length=2048)


class Named(Body):
    name: NameText | None = Name


class Convert(Named):
    format: Literal["jpeg", "jpg", "png", "webp"]
    quality: int = Field(default=100, ge=1, le=100, description="1-100; applies to JPEG and WebP.")


class Resize(Named):
    width: int | None = Side
    height: int | None = Side
    fit: Literal["fill", "contain", "cover"] = "fill"
    position: Literal[tuple(imageops.POSITIONS)] = "center"  # type: ignore[valid-type]
    letterbox_color: str = "#000000"


class Crop(Named):
    x1: int = Field(ge=0)
    y1: int = Field(ge=0)
    x2: int = Field(ge=1)
    y2: int = Field(ge=1)


class Rotate(Named):
    angle: float
    unit: Literal["degrees", "radians"] = "degrees"
    background_color: str = "#000000"


class Mirror(Named):
    mode: Literal["horizontal", "vertical", "both"]


class Blur(Named):
    sigma: float = Field(default=20, ge=0.3, le=imageops.MAX_SIGMA,
                         description="The Gaussian's standard deviation in px; default 20 (IMG "
                                     "Processing's).")


class Modulate(Named):
    brightness: float | None = Field(default=None, ge=0, le=100)
    saturation: float | None = Field(default=None, ge=0, le=100)
    hue: int | None = Field(default=None, description="Degrees, a whole number (IMG Processing "
                                                       "refuses a fractional hue).")
    lightness: float | None = Field(default=None, ge=-255, le=255)


class Watermark(Body):
    id: str
    left: int = 0
    top: int = 0


class Watermarks(Named):
    watermarks: list[Watermark] = Field(min_length=1, max_length=5)


M = TypeVar("M", bound=Body)
SEND_JSON = ("Send a JSON object with Content-Type: application/json (`{}` when no field is "
             "needed); images are uploaded as multipart/form-data to /v1/images/upload.")


def parse(model: type[M], raw: bytes) -> M:
    """The JSON body as `model` (an empty body counts as `{}`; nulls as absent); raises Invalid."""
    try:
        data = parse_json(raw or b"{}")  # not JSON, or nested too deeply
    except BadRequest as exc:
        raise Invalid([f"body: {exc.message} {SEND_JSON}"]) from None
    if not isinstance(data, dict):
        raise Invalid([f"body: must be a JSON object. {SEND_JSON}"])
    try:
        return model.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise Invalid([f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                       for e in exc.errors()]) from None


def colour(text: str, field: str) -> colors.RGBA:
    """A CSS colour name, hex code or `transparent`; raises Invalid naming the field."""
    if text.strip().lower() == "transparent":
        return (0, 0, 0, 0)
    with invalid_fields(field):
        parsed = colors.parse(text)
    return parsed


@contextmanager
def invalid_fields(fields: str) -> Iterator[None]:
    """The engine's InvalidOption (a check made before charging) as Invalid naming `fields`:
    `validation_error`, the engine's message in `errors`."""
    try:
        yield
    except InvalidOption as exc:
        raise Invalid([f"{fields}: {exc.message}"]) from None


def check_name(name: str | None) -> str:
    """A multipart upload's `name`, as `clean_name` and the bodies' length rule say; raises
    Invalid."""
    try:
        cleaned = clean_name(name)
    except ValueError as exc:
        raise Invalid([f"name: {exc}"]) from None
    if not isinstance(cleaned, str) or not 1 <= len(cleaned) <= MAX_NAME:
        raise Invalid([f"name: must be 1 to {MAX_NAME} characters"])
    return cleaned


# --- errors ----------------------------------------------------------------------------

# Cutout's statuses -> the ones IMG Processing uses (its SDK knows 400/401/403/404/422/429):
# a missing or unknown key is 401, a revoked key or spent monthly credits 403.
AUTHENTICATION = ("missing_api_key", "invalid_api_key", "conflicting_api_keys")
# IMG Processing's problem types are URLs of its error pages; the two its SDK's README and
# tests show are `.../errors/validation-error` ("Validation Error", 422: bad fields, and an
# upload that is not an image) and `.../errors/not-found` ("Not Found", 404). Every other
# status gets the same pattern from its HTTP phrase (`.../errors/too-many-requests`).
ERRORS_URL = "https://docs.img-processing.com/errors/"
VALIDATION = ("validation-error", "Validation Error")


def validation(exc: CutoutError) -> bool:
    """A refusal IMG Processing answers as a validation error (422, `errors` listing why)."""
    return isinstance(exc, (Invalid, InvalidOption, InvalidImage))


def status_of(exc: CutoutError) -> int:
    """Cutout's status (web/errors.py), reshaped: a validation error 422, an image over the
    limits 400, 402 -> 403, an unknown key 401, an unsupported endpoint 422."""
    if isinstance(exc, AccessError) and exc.code in AUTHENTICATION:
        return 401
    if validation(exc) or isinstance(exc, Unsupported):
        return 422
    if isinstance(exc, ImageTooLarge):
        return 400
    status = web_errors.status_of(exc)
    return 403 if status == 402 else status


def problem(status: int) -> tuple[str, str]:
    """An error's `type` slug (after ERRORS_URL) and `error` title, from its HTTP status."""
    phrase = HTTPStatus(status).phrase
    return phrase.lower().replace(" ", "-"), phrase


def render(exc: CutoutError) -> JSONResponse:
    """Any refusal in IMG Processing's shape `{type, error, status, message, errors?}`, plus
    Cutout's own `code`, with the error's own headers (rate limits).

    An engine InvalidOption (a value only the operation itself can refuse: a hue of
    1e400, a WebP wider than 16383 px) and an upload that is not an image are validation
    errors like any bad parameter."""
    status = status_of(exc)
    slug, title = VALIDATION if validation(exc) else problem(status)
    code = "validation_error" if isinstance(exc, InvalidOption) else exc.code
    body: dict[str, Any] = {"type": ERRORS_URL + slug, "error": title, "status": status,
                            "message": exc.message, "code": code}
    if isinstance(exc, Invalid):
        body["errors"] = exc.errors
    elif validation(exc):
        body["errors"] = [exc.message]
    return JSONResponse(body, status_code=status, headers=web_errors.headers_of(exc))


# --- OpenAPI (spec.py) ----------------------------------------------------------


def json_schema(model: type[Body]) -> dict[str, Any]:
    """`model`'s JSON schema with its $defs inlined (the spec's components stay untouched)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined
