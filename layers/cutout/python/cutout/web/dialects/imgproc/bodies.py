"""IMG Processing's request bodies and error shape: parse, validate, render.

Bodies are pydantic models with IMG Processing's field names, limits and
defaults (docs.img-processing.com/api-reference/endpoints/*; the official Node
SDK sends exactly these fields, dropping unset ones, and `{}` when none).
Refusals are `{"type", "error", "status", "message"}` plus `errors: [...]`
for validation, which the SDK's IMGProcessingAPIError reads.
"""
from __future__ import annotations

from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, Iterator, Literal, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ....engine import colors, imageops
from ....errors import AccessError, CutoutError, ImageTooLarge, InputError, InvalidImage, InvalidOption
from ... import errors as web_errors
from ...inputs import BadRequest, parse_json

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # IMG Processing's upload limit
Name = Field(default=None, min_length=1, max_length=30,
             description="Name of the new image (1-30 characters); default: the source's name.")
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
    name: str = Field(min_length=1, max_length=30)
    url: str = Field(min_length=1, max_length=2048)


class Named(Body):
    name: str | None = Name


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
    sigma: float = Field(ge=0.3, le=imageops.MAX_SIGMA)


class Modulate(Named):
    brightness: float | None = Field(default=None, ge=0, le=100)
    saturation: float | None = Field(default=None, ge=0, le=100)
    hue: float | None = None
    lightness: float | None = Field(default=None, ge=-255, le=255)


class Watermark(Body):
    id: str
    left: int = 0
    top: int = 0


class Watermarks(Named):
    watermarks: list[Watermark] = Field(min_length=1, max_length=5)


M = TypeVar("M", bound=Body)


def parse(model: type[M], raw: bytes) -> M:
    """The JSON body as `model` (an empty body counts as `{}`; nulls as absent); raises Invalid."""
    try:
        data = parse_json(raw or b"{}")  # not JSON, or nested too deeply
    except BadRequest as exc:
        raise Invalid([f"body: {exc.message}"]) from None
    if not isinstance(data, dict):
        raise Invalid(["body: must be a JSON object"])
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
    if name is None or not 1 <= len(name.strip()) <= 30:
        raise Invalid(["name: must be 1 to 30 characters"])
    return name.strip()


# --- errors ----------------------------------------------------------------------------

# Cutout's statuses -> the ones IMG Processing uses (its SDK knows 400/401/403/404/422/429):
# a missing or unknown key is 401, a revoked key or spent monthly credits 403.
AUTHENTICATION = ("missing_api_key", "invalid_api_key")


def status_of(exc: CutoutError) -> int:
    """Cutout's status (web/errors.py), reshaped: an image over the limits 400, 402 -> 403,
    an unknown key 401, an undecodable image or an unsupported endpoint 422."""
    if isinstance(exc, AccessError) and exc.code in AUTHENTICATION:
        return 401
    if isinstance(exc, (InvalidImage, Unsupported)):
        return 422
    if isinstance(exc, ImageTooLarge):
        return 400
    status = web_errors.status_of(exc)
    return 403 if status == 402 else status


def render(exc: CutoutError) -> JSONResponse:
    """Any refusal in IMG Processing's shape, with the error's own headers (rate limits).

    An engine InvalidOption (a value only the operation itself can refuse: a hue of
    1e400, a WebP wider than 16383 px) is a `validation_error` like any bad parameter."""
    status = status_of(exc)
    code = "validation_error" if isinstance(exc, InvalidOption) else exc.code
    body: dict[str, Any] = {"type": code, "error": HTTPStatus(status).phrase,
                            "status": status, "message": exc.message}
    if isinstance(exc, Invalid):
        body["errors"] = exc.errors
    elif isinstance(exc, InvalidOption):
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
