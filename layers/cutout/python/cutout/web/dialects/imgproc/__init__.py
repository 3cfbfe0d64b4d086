"""The IMG Processing dialect: stored images under /v1/images.

Code written against IMG Processing's API (or its Node SDK) works with only
the base URL changed: the same paths, field names, defaults, image object and
error shape. These modules only translate: pixels are changed by
engine/imageops and the pipeline, images kept by imagelib, and every 201 goes
through the metering door (`processing.run`), counting 1 operation
(remove-background 2) as credits against the caller's megapixel window and
monthly quota.

    bodies.py      request bodies (pydantic), the error shape (`render`)
    spec.py        the OpenAPI description of every route
    routes.py      creation (upload, from a URL) and access (list, get, download,
                   delete, publish, the public URL)
    operations.py  POST /v1/images/{image_id}/<operation>
"""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ....engine import images
from ....imagelib import ImageLibrary
from ....stores import ImageRecord
from ... import origin
from ...delivery import ResultTooLarge
from ...dialect import Dialect
from ...processing import services
from . import bodies

PREFIX = "/v1/images"
USAGE_HEADER = "X-Image-Processing-Usage"


def too_large(message: str) -> dict[str, Any]:
    """Where IMG Processing's clients read a Lambda 413's message (its `error`, the status
    phrase, is left out: in the merged body `error` is Azure's object)."""
    return {"type": bodies.ERRORS_URL + bodies.problem(413)[0], "status": 413, "message": message,
            "code": ResultTooLarge.code}


PUBLIC_PREFIX = "/v1/public/images"
DIALECT = Dialect("IMG Processing", key="imgproc", render=bodies.render, too_large=too_large,
                  expose_headers=(USAGE_HEADER,),
                  # the token of a published image's URL is its only key: never logged
                  secret_paths=(PUBLIC_PREFIX + "/",))
# The key (`x-api-key`) is declared per route in spec.py (the shared ApiKey scheme).
router = DIALECT.router(prefix=PREFIX, tags=["IMG Processing"])
public_router = DIALECT.router(prefix=PUBLIC_PREFIX, tags=["IMG Processing"])


def library(request: Request) -> ImageLibrary:
    return services(request).images


def limits(request: Request) -> images.Limits:
    """Decoding limits of this dialect: the deployment's megapixels, IMG Processing's 20 MB."""
    return images.Limits(services(request).settings.max_megapixels, bodies.MAX_UPLOAD_BYTES)


def image_object(request: Request, record: ImageRecord) -> dict[str, Any]:
    url = origin.url_for(request, "public_image", token=record.token) if record.token else None
    return {"id": record.id, "name": record.name, "url": url, "width": record.width,
            "height": record.height, "format": record.format, "size": record.size,
            "created_at": record.created_at}


def created(request: Request, record: ImageRecord, operations: int) -> JSONResponse:
    return JSONResponse(image_object(request, record), status_code=201,
                        headers={USAGE_HEADER: str(operations)})


def path_id(request: Request) -> str:
    """The `{image_id}` of the path (not a FastAPI parameter, which FastAPI would declare a
    second time: spec.py declares it, with the id's pattern; other text answers 404)."""
    found: str = request.path_params["image_id"]
    return found


from . import routes, operations  # noqa: E402,F401  (registers the routes, in this order)
