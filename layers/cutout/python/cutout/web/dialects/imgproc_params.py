"""IMG Processing's request bodies and error shape: parse, validate, render.

Bodies are pydantic models with IMG Processing's field names, limits and
defaults (docs.img-processing.com/api-reference/endpoints/*; the official Node
SDK sends exactly these fields, dropping unset ones, and `{}` when none).
Refusals are `{"type", "error", "status", "message"}` plus `errors: [...]`
for validation, which the SDK's IMGProcessingAPIError reads.
"""
from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Literal, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...engine import colors, imageops
from ...errors import AccessError, CutoutError, InputError, InvalidImage, InvalidOption
from .. import errors as web_errors

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
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid(["body: not valid JSON"]) from None
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
    try:
        return colors.parse(text)
    except InvalidOption as exc:
        raise Invalid([f"{field}: {exc.message}"]) from None


def check_name(name: str | None) -> str:
    if name is None or not 1 <= len(name.strip()) <= 30:
        raise Invalid(["name: must be 1 to 30 characters"])
    return name.strip()


# --- errors ----------------------------------------------------------------------------

# Cutout's statuses -> the ones IMG Processing uses (its SDK knows 400/401/403/404/422/429):
# a missing or unknown key is 401, a revoked key or spent monthly credits 403.
AUTHENTICATION = ("missing_api_key", "invalid_api_key")


def status_of(exc: CutoutError) -> int:
    """Cutout's status (web/errors.py), reshaped: 413 -> 400, 402 -> 403, an unknown key 401,
    an undecodable image or an unsupported endpoint 422."""
    if isinstance(exc, AccessError) and exc.code in AUTHENTICATION:
        return 401
    if isinstance(exc, (InvalidImage, Unsupported)):
        return 422
    status = web_errors.status_of(exc)
    return {413: 400, 402: 403}.get(status, status)


def error_response(exc: CutoutError) -> JSONResponse:
    """Any refusal in IMG Processing's shape, with the error's own headers (rate limits)."""
    status = status_of(exc)
    body: dict[str, Any] = {"type": exc.code, "error": HTTPStatus(status).phrase,
                            "status": status, "message": exc.message}
    if isinstance(exc, Invalid):
        body["errors"] = exc.errors
    elif isinstance(exc, InvalidOption):
        body["errors"] = [exc.message]
    return JSONResponse(body, status_code=status, headers=exc.headers)


def access_body(exc: AccessError) -> dict[str, Any]:
    """For app.state.access_renderers: the same shape for refusals raised outside a route."""
    status = status_of(exc)
    return {"type": exc.code, "error": HTTPStatus(status).phrase, "status": status,
            "message": exc.message}


# --- OpenAPI ---------------------------------------------------------------------------

IMAGE_EXAMPLE = {
    "id": "image_01jd5x2m3k8qz4w7t9v6r5p3n2", "name": "product", "url": None,
    "width": 1200, "height": 800, "format": "png", "size": 482113,
    "created_at": "2026-11-30T03:00:00.000Z",
}
IMAGE_SCHEMA = {
    "type": "object",
    "required": list(IMAGE_EXAMPLE),
    "properties": {
        "id": {"type": "string", "pattern": "^image_"},
        "name": {"type": "string", "minLength": 1, "maxLength": 30},
        "url": {"type": ["string", "null"], "description": "Public URL while published, else null."},
        "width": {"type": "integer"}, "height": {"type": "integer"},
        "format": {"type": "string", "enum": ["jpeg", "png", "webp"]},
        "size": {"type": "integer", "description": "Bytes of the stored file."},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
ERROR_SCHEMA = {
    "type": "object", "required": ["type", "error", "status"],
    "properties": {"type": {"type": "string"}, "error": {"type": "string"},
                   "status": {"type": "integer"}, "message": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "string"}}},
}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    example = {"type": code, "error": HTTPStatus(status).phrase, "status": status, "message": message}
    return {"description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": ERROR_SCHEMA, "example": example}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error(400, "validation_error", "The request is not valid."),
    401: _error(401, "missing_api_key", "Missing API key: send it in the x-api-key header."),
    404: _error(404, "not_found", "Image image_01jd5x2m3k8qz4w7t9v6r5p3n2 not found."),
    429: _error(429, "rate_limit_exceeded", "Rate limit exceeded."),
}


def image_responses(status: int = 201, headers: dict[str, Any] | None = None
                    ) -> dict[int | str, dict[str, Any]]:
    usage = {"X-Image-Processing-Usage": {"description": "Operations this request counted.",
                                          "schema": {"type": "integer"}}} if status == 201 else {}
    return {status: {"description": "The image object.", "headers": {**usage, **(headers or {})},
                     "content": {"application/json": {"schema": IMAGE_SCHEMA,
                                                       "example": IMAGE_EXAMPLE}}},
            **ERRORS}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its $defs inlined (the spec's components stay untouched)."""
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


def json_body(model: type[Body], example: dict[str, Any]) -> dict[str, Any]:
    """openapi_extra declaring `model` as the JSON request body, with an example."""
    return {"requestBody": {"required": False, "content": {"application/json": {
        "schema": _inline(model.model_json_schema()), "example": example}}}}
