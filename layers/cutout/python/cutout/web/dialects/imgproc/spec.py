"""The OpenAPI description of the IMG Processing dialect (`/v1/images`, `/v1/public/images`).

Built with web/openapi.py's helpers: each route's body per content type, every
status it answers in IMG Processing's error shape `{type, error, status,
message, errors?}` (bodies.render), the headers each carries
(`X-Image-Processing-Usage` on a 201, the metering headers, `Retry-After`),
and examples. The key is IMG Processing's `x-api-key` header, which is the
shared `ApiKey` scheme (header names are case-insensitive).
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any, Mapping

from .... import imagelib
from ....engine import formats
from ... import openapi as oa
from . import bodies as p

Schema = dict[str, Any]

# IMG Processing's shape (`image_` + 24 alphanumerics), or Cutout's earlier ids (26 characters
# of Crockford base32), which stay valid.
IMAGE_ID_PATTERN = f"^{imagelib.ID_PREFIX}([0-9A-Za-z]{{24}}|[0-9a-z]{{26}})$"
EXAMPLE_ID = "image_0Vd8FKhB7IYFJsAP89l5p1Jz"
IMAGE_ID: Schema = {"type": "string", "pattern": IMAGE_ID_PATTERN, "example": EXAMPLE_ID}

IMAGE_EXAMPLE = {
    "id": EXAMPLE_ID, "name": "product", "url": None,
    "width": 1200, "height": 800, "format": "png", "size": 482113,
    "created_at": "2026-11-30T03:00:00.000Z",
}
IMAGE = oa.schema("ImgProcessingImage", {
    **oa.obj(list(IMAGE_EXAMPLE),
             id={"type": "string", "pattern": f"^{imagelib.ID_PREFIX}"},
             name={"type": "string", "minLength": 1, "maxLength": 30},
             url={"type": ["string", "null"], "format": "uri",
                  "description": "Public URL while published, else null."},
             width=oa.INTEGER, height=oa.INTEGER,
             format={"type": "string", "enum": list(imagelib.STORED)},
             size={"type": "integer", "description": "Bytes of the stored file."},
             created_at={"type": "string", "format": "date-time"}),
    "description": "IMG Processing's image object; every operation makes a new one.",
})
_LINK: Schema = {"type": ["string", "null"], "format": "uri"}
PAGE = oa.schema("ImgProcessingImagePage", {
    **oa.obj(["data", "links"], data={"type": "array", "items": IMAGE},
             links=oa.obj(["previous", "next"], previous=_LINK, next=_LINK)),
    "description": "A page of image objects, newest first; `links` carry the cursors.",
})
ERROR = oa.schema("ImgProcessingError", {
    **oa.obj(["type", "error", "status", "message", "code"], type=oa.STRING, error=oa.STRING,
             status=oa.INTEGER, message=oa.STRING,
             errors={"type": "array", "items": oa.STRING,
                     "description": "Every problem found, for validation errors."},
             code={"type": "string", "description": "Cutout's error code (README)."}),
    "description": "IMG Processing's error: `type` the URL of its kind "
                   "(`https://docs.img-processing.com/errors/validation-error`), `error` its "
                   "title, and Cutout's own `code`.",
})

USAGE = {"X-Image-Processing-Usage": oa.header(
    "Operations this request counted: 1, or 2 for remove-background.", required=True)}
CREATED_HEADERS = {**USAGE, **oa.METERED_SUCCESS}
READ_HEADERS = oa.RATE_LIMIT  # any keyed answer carries the account's window, unchanged
RATE_LIMITED = {**oa.RATE_LIMIT, "Retry-After": oa.RATE_RETRY_AFTER}
UNAVAILABLE = {"Retry-After": oa.header("Seconds to wait before trying again.")}


def error(status: int, code: str, message: str, description: str, *,
          headers: Mapping[str, Schema] | None = None, errors: list[str] | None = None) -> Schema:
    """A refusal in IMG Processing's shape, with an example of `code`."""
    phrase = HTTPStatus(status).phrase
    slug, title = p.VALIDATION if code in ("validation_error", "invalid_image") else \
        (phrase.lower().replace(" ", "-"), phrase)
    example: Schema = {"type": p.ERRORS_URL + slug, "error": title, "status": status,
                       "message": message, "code": code}
    if errors:
        example["errors"] = errors
    return oa.json(ERROR, description, headers=headers, example=example)


NOT_FOUND = error(404, "not_found", f"Image {EXAMPLE_ID} not found.",
                  "No such image for this key's account (another account's looks the same).",
                  headers=READ_HEADERS)

def refusals(*, metered: bool) -> dict[int, Schema]:
    """401 403 (429) 503: the key and account refusals; 429 only where the window is charged."""
    out = {
        401: error(401, "missing_api_key", "Missing API key: send it in the x-api-key header.",
                   "No key, or an unknown one."),
        403: error(403, "insufficient_credits" if metered else "revoked_api_key",
                   "The account's monthly credits are used up." if metered
                   else "This API key has been revoked.",
                   "A revoked key" + (", or the account's monthly credits are used up."
                                      if metered else "."), headers=READ_HEADERS),
        429: error(429, "rate_limit_exceeded", "Rate limit exceeded.",
                   "Over the account's megapixels per minute; retry after `Retry-After` "
                   "(absent for an image heavier than the whole minute: send a smaller one).",
                   headers=RATE_LIMITED),
        503: error(503, "service_unavailable", "The image store is unavailable; retry shortly.",
                   "The key, image or rate-limit store is unreachable; nothing was charged.",
                   headers=UNAVAILABLE),
    }
    if not metered:
        del out[429]
    return out


def invalid(errors: list[str], description: str) -> Schema:
    """422 `validation_error`: every problem in `errors`; or the image is not one (`invalid_image`)."""
    return error(422, "validation_error", "The request is not valid.", description,
                 headers=READ_HEADERS, errors=errors)


def bad_request(code: str, message: str, description: str) -> Schema:
    """400: a refusal that is not a validation error (named in `description`)."""
    return error(400, code, message, description, headers=READ_HEADERS)


def image_id_parameter() -> Schema:
    return {"name": "image_id", "in": "path", "required": True, "schema": IMAGE_ID,
            "description": "An image id, as returned in `id`."}


def created(description: str = "The new image object.") -> Schema:
    return oa.json(IMAGE, description, headers=CREATED_HEADERS, example=IMAGE_EXAMPLE)


# --- creation and access ------------------------------------------------------------------

UPLOAD = oa.operation(
    "Upload an image (IMG Processing)",
    security=oa.KEYED,
    body=oa.body(multipart=oa.obj(
        ["name", "image"], name={"type": "string", "minLength": 1, "maxLength": 30},
        image={**oa.BINARY, "description": "JPEG, PNG or WebP (stored as sent; BMP, TIFF, GIF "
                                           "stored as PNG), at most 20 MB."})),
    responses={
        201: created(),
        400: bad_request("image_too_large", "The image is larger than 20971520 bytes (20 MB).",
                         "A file over 20 MB (`image_too_large`)."),
        422: invalid(["name: must be 1 to 30 characters"],
                     "A missing or bad field (`validation_error`), or a file that is not an "
                     "image (`invalid_image`)."),
        **refusals(metered=True),
    },
)
CREATE_FROM_URL = oa.operation(
    "Create an image from a URL (IMG Processing)",
    security=oa.KEYED,
    body=oa.body(json=oa.obj(["name", "url"],
                             name={"type": "string", "minLength": 1, "maxLength": 30},
                             url={**oa.URL, "maxLength": 2048}),
                 examples={"json": {"name": "product",
                                    "url": "https://example-bucket.s3.amazonaws.com/product.jpg"}}),
    responses={
        201: created(),
        400: bad_request("fetch_failed", "Image download failed: HTTP 404 from example.com.",
                         "A URL that cannot be fetched (`fetch_failed`) or is not on "
                         "CUTOUT_IMAGE_SOURCE_HOSTS (`source_not_allowed`), or a file over 20 MB "
                         "(`image_too_large`)."),
        422: invalid(["url: Field required"],
                     "A bad body (`validation_error`), or a file that is not an image "
                     "(`invalid_image`)."),
        **refusals(metered=True),
    },
)
LIST = oa.operation(
    "List images, newest first (IMG Processing)",
    security=oa.KEYED,
    parameters=[
        oa.query("take", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                 description="Images per page, 1-100."),
        oa.query("from", {"type": "string", "pattern": f"^{imagelib.ID_PREFIX}"},
                 description="The cursor: an image id from `links.next` or `links.previous`."),
    ],
    responses={
        200: oa.json(PAGE, "A page of image objects, newest first.", headers=READ_HEADERS,
                     example={"data": [IMAGE_EXAMPLE], "links": {
                         "previous": None,
                         "next": "https://api.example.com/v1/images?take=1&from="
                                 "image_0Vd8F000000000000000000"}}),
        400: bad_request("untrusted_host", "The Host header 'evil.example' is not one this "
                         "server builds URLs from.", "A Host the links cannot be built from "
                         "(`untrusted_host`: see CUTOUT_PUBLIC_BASE_URL)."),
        422: invalid(["take: must be an integer from 1 to 100"],
                     "`take` or `from` out of range."),
        **refusals(metered=False),
    },
)
_FOUND = {404: NOT_FOUND, **refusals(metered=False)}
GET = oa.operation(
    "Get an image object (IMG Processing)", security=oa.KEYED,
    parameters=[image_id_parameter()],
    responses={200: oa.json(IMAGE, "The image object.", headers=READ_HEADERS,
                            example=IMAGE_EXAMPLE), **_FOUND})
_FILE = oa.image([row.mime for row in imagelib.STORED.values()], "The image's bytes, in its own format.",
                 headers=READ_HEADERS)
_LOCATION = {"Location": oa.header("An expiring URL of the file (no key needed).", oa.STRING,
                                   required=True)}
DOWNLOAD = oa.operation(
    "Download an image's file (IMG Processing)", security=oa.KEYED,
    parameters=[image_id_parameter()],
    responses={200: _FILE,
               307: {"description": "Too large for one synchronous response "
                                    "(CUTOUT_MAX_RESPONSE_BYTES): fetch it from `Location`.",
                     "headers": {**_LOCATION, **READ_HEADERS}},
               **_FOUND})
DELETE = oa.operation(
    "Delete an image (IMG Processing)", security=oa.KEYED,
    parameters=[image_id_parameter()],
    responses={204: {"description": "Deleted; its public URL answers 404 from now on.",
                     "headers": READ_HEADERS}, **_FOUND})
_NO_BODY = oa.body(json=oa.obj(), required=False, examples={"json": {}})


def publication(summary: str, description: str) -> dict[str, Any]:
    """Publish and unpublish: an empty JSON body (the SDK sends `{}`), the image object back."""
    return oa.operation(
        summary, security=oa.KEYED, parameters=[image_id_parameter()], body=_NO_BODY,
        responses={200: oa.json(IMAGE, description, headers=READ_HEADERS,
                                example=IMAGE_EXAMPLE), **_FOUND,
                   **{429: refusals(metered=True)[429]}})


PUBLISH = publication("Publish an image (IMG Processing)",
                      "The image object, `url` its keyless public URL.")
UNPUBLISH = publication("Unpublish an image (IMG Processing)",
                        "The image object, `url` null (the old URL answers 404).")
_CACHE = {"Cache-Control": oa.header("`public, max-age=60`.", oa.STRING, required=True)}
_TOKEN: Schema = {"name": "token", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"},
                  "description": "The token at the end of the image object's `url`."}
_PUBLIC_MOVED: Schema = {"description": "Too large for one synchronous response: fetch it from "
                                        "`Location` (valid 60 s).", "headers": {**_LOCATION, **_CACHE}}
_UNPUBLISHED = "No image is published under this token (unpublished or deleted)."
PUBLIC = oa.operation(
    "A published image, without a key",
    parameters=[_TOKEN],
    responses={
        200: oa.image([row.mime for row in imagelib.STORED.values()], "The published image's bytes.",
                      headers=_CACHE),
        307: _PUBLIC_MOVED,
        404: error(404, "not_found", "Image not found.", _UNPUBLISHED),
        503: refusals(metered=False)[503],
    },
)
# HEAD (link checkers, CDNs): GET's status and headers, never a body.
PUBLIC_HEAD = oa.operation(
    "A published image's headers, without its bytes",
    description="GET's status and headers for the same token, without a body (RFC 9110, 9.3.2).",
    parameters=[_TOKEN],
    responses={
        200: {"description": "GET's headers (Content-Type, Content-Length, Cache-Control); no body.",
              "headers": _CACHE},
        307: _PUBLIC_MOVED,
        404: {"description": _UNPUBLISHED + " No body."},
        503: {"description": "The image store is unavailable; retry after `Retry-After`. No body."},
    },
)


# --- operations ---------------------------------------------------------------------------


def operation(summary: str, model: type[p.Body], example: Schema, *,
              errors: list[str] | None = None) -> dict[str, Any]:
    """POST /v1/images/{image_id}/<operation>: `model`'s JSON body, a new image (201)."""
    return oa.operation(
        summary, security=oa.KEYED, parameters=[image_id_parameter()],
        body=oa.body(json=p.json_schema(model), required=False, examples={"json": example}),
        responses={
            201: created(),
            404: NOT_FOUND,
            422: invalid(errors or ["body: not valid JSON"],
                         "A body that does not match the operation (`validation_error`, "
                         "every problem in `errors`)."),
            **refusals(metered=True),
        })
