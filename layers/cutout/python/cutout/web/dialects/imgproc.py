"""The IMG Processing dialect: stored images under /v1/images, operations by id.

Code written against IMG Processing's API (or its Node SDK) works with only
the base URL changed: the same paths, field names, defaults, image object and
error shape (web/imgproc_params.py). This module only translates: pixels are
changed by imageops / pipeline, images kept by imagelib, and every 201 goes
through the metering door (`Engine.run`), counting 1 operation (remove-background
2) as credits against the caller's megapixel window and monthly quota.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import numpy as np
from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from ... import imagelib
from ...engine import imageops, images, pipeline
from ...errors import CutoutError, FetchError, ImageTooLarge
from ...imagelib import ImageLibrary
from ...stores import ImageRecord
from .. import fetch
from ..auth import Caller, authenticate
from ..processing import Engine
from . import imgproc_params as p

PREFIX = "/v1/images"
USAGE_HEADER = "X-Image-Processing-Usage"
UNSUPPORTED = ("imagine", "classify", "visualize", "extract-text", "extract-formatted-text")
MAX_OUTPUT_PIXELS = 25_000_000  # what a resize may make: the engine's default input limit
OPERATIONS = ("remove-background", "convert", "resize", "crop", "rotate", "mirror", "blur",
              "modulate", "watermark")
# Declared for the OpenAPI page; authenticate() reads the header itself, so the
# refusal comes in this dialect's shape.
api_key = APIKeyHeader(name="x-api-key", scheme_name="x-api-key", auto_error=False,
                       description="Your key (`cutout keys create`, live_... or test_...).")
router = APIRouter(prefix=PREFIX, tags=["IMG Processing"], dependencies=[Security(api_key)])
public_router = APIRouter(prefix="/v1/public/images", tags=["IMG Processing"])


def library(request: Request) -> ImageLibrary:
    return request.app.state.image_library


def limits(engine: Engine) -> images.Limits:
    """Decoding limits of this dialect: the engine's megapixels, IMG Processing's 20 MB."""
    return images.Limits(engine.settings.max_megapixels, p.MAX_UPLOAD_BYTES)


def image_object(request: Request, record: ImageRecord) -> dict[str, Any]:
    url = str(request.url_for("public_image", token=record.token)) if record.token else None
    return {"id": record.id, "name": record.name, "url": url, "width": record.width,
            "height": record.height, "format": record.format, "size": record.size,
            "created_at": record.created_at}


def created(request: Request, record: ImageRecord, operations: int) -> JSONResponse:
    return JSONResponse(image_object(request, record), status_code=201,
                        headers={USAGE_HEADER: str(operations)})


async def _caller(request: Request) -> Caller:
    return await authenticate(request)


# --- creation --------------------------------------------------------------------------------


async def _store_new(request: Request, caller: Caller, name: str, data: bytes) -> JSONResponse:
    """Check, charge 1 operation, store: JPEG, PNG and WebP as sent, other formats as PNG."""
    engine: Engine = request.app.state.engine
    lim = limits(engine)
    header = images.read_header(data, lim)
    fmt = imagelib.STORED_FORMATS.get(header.format)

    def work() -> ImageRecord:
        body, kind = data, fmt
        if kind is None:  # BMP, TIFF, GIF...: kept as PNG
            body, kind = imagelib.encode(imagelib.decode(data, lim, header), "png"), "png"
        return library(request).save(caller.account.id, name, body, kind, header.width,
                                     header.height)

    record = await engine.run(header, work, caller=caller, credits=1)
    return created(request, record, 1)


@router.post("/upload", status_code=201, responses=p.image_responses(), openapi_extra={
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["name", "image"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 30},
                       "image": {"type": "string", "format": "binary",
                                 "description": "JPEG, PNG or WebP (others stored as PNG), "
                                                "at most 20 MB."}}}}}}})
async def upload(request: Request) -> Response:
    """Upload an image (multipart `name` + `image`); 201 with the new image object."""
    try:
        caller = await _caller(request)
        ctype = request.headers.get("content-type", "").lower()
        if not ctype.startswith("multipart/form-data"):
            raise p.Invalid(["body: send multipart/form-data with the fields name and image"])
        try:
            form = await request.form(max_files=1, max_fields=8,
                                      max_part_size=p.MAX_UPLOAD_BYTES + 1024)
        except Exception as exc:  # Starlette's MultiPartException and friends: a bad body
            raise p.Invalid([f"body: {exc}"]) from None
        try:
            image = form.get("image")
            name = form.get("name")
            if image is None or isinstance(image, str):
                raise p.Invalid(["image: a file is required"])
            data = await image.read(p.MAX_UPLOAD_BYTES + 1)
        finally:
            await form.close()
        name = p.check_name(name if isinstance(name, str) else None)
        if len(data) > p.MAX_UPLOAD_BYTES:
            raise ImageTooLarge(f"The image is larger than {p.MAX_UPLOAD_BYTES} bytes (20 MB).")
        return await _store_new(request, caller, name, data)
    except CutoutError as exc:
        return p.error_response(exc)


def allowed_source(url: str, hosts: tuple[str, ...]) -> None:
    """CUTOUT_IMAGE_SOURCE_HOSTS: host patterns such as `*.s3.amazonaws.com` (empty: any)."""
    if not hosts:
        return
    host = (urlsplit(url).hostname or "").lower()
    if not any(fnmatch.fnmatchcase(host, pattern) for pattern in hosts):
        raise FetchError(f"Images may only be created from these hosts: {', '.join(hosts)}.",
                         code="source_not_allowed")


@router.post("", status_code=201, responses=p.image_responses(),
             openapi_extra=p.json_body(p.CreateFromUrl, {
                 "name": "product", "url": "https://example-bucket.s3.amazonaws.com/product.jpg"}))
async def create_from_url(request: Request) -> Response:
    """Create an image from a URL (SSRF-guarded download; CUTOUT_IMAGE_SOURCE_HOSTS may restrict it)."""
    engine: Engine = request.app.state.engine
    try:
        caller = await _caller(request)
        body = p.parse(p.CreateFromUrl, await request.body())
        cfg = engine.settings
        allowed_source(body.url, cfg.image_source_hosts)
        fetched = await run_in_threadpool(
            fetch.fetch, body.url, max_bytes=p.MAX_UPLOAD_BYTES, timeout=cfg.fetch_timeout,
            max_redirects=cfg.fetch_max_redirects, allow_hosts=cfg.fetch_allow_hosts)
        return await _store_new(request, caller, body.name.strip(), fetched.data)
    except CutoutError as exc:
        return p.error_response(exc)


@router.post("/imagine", include_in_schema=False)
async def imagine(request: Request) -> Response:
    return await unsupported(request, "", "imagine")


# --- access ----------------------------------------------------------------------------------


@router.get("", responses={200: {"description": "A page of image objects, newest first.",
                                 "content": {"application/json": {"example": {
                                     "data": [p.IMAGE_EXAMPLE], "links": {
                                         "previous": None,
                                         "next": "https://api.example.com/v1/images?take=1&from="
                                                 "image_01jd5x2k0000000000000000"}}}}},
                           **p.ERRORS})
async def list_images(request: Request) -> Response:
    """Images newest first: `take` 1-100 (default 10), `from` an image id (the cursor)."""
    try:
        caller = await _caller(request)
        # The Node SDK's ky may send an unset parameter as the text "undefined".
        query = {k: v for k, v in request.query_params.items() if v not in ("", "undefined")}
        raw_take = query.get("take", "10")
        start = query.get("from")
        if not raw_take.isdigit() or not 1 <= int(raw_take) <= 100:
            raise p.Invalid(["take: must be an integer from 1 to 100"])
        if start is not None and not start.startswith(imagelib.ID_PREFIX):
            raise p.Invalid(["from: must be an image id (image_...)"])
        take = int(raw_take)
        page = await run_in_threadpool(library(request).page, caller.account.id, take, start)
    except CutoutError as exc:
        return p.error_response(exc)
    base = str(request.url_for("list_images"))

    def link(cursor: str | None) -> str | None:
        return f"{base}?{urlencode({'take': take, 'from': cursor})}" if cursor else None

    return JSONResponse({"data": [image_object(request, r) for r in page.records],
                         "links": {"previous": link(page.previous), "next": link(page.next)}})


async def _record(request: Request, image_id: str) -> tuple[Caller, ImageRecord]:
    caller = await _caller(request)
    record = await run_in_threadpool(library(request).get, caller.account.id, image_id)
    return caller, record


@router.get("/{image_id}", responses=p.image_responses(200))
async def get_image(request: Request, image_id: str) -> Response:
    """The image object."""
    try:
        _, record = await _record(request, image_id)
    except CutoutError as exc:
        return p.error_response(exc)
    return JSONResponse(image_object(request, record))


@router.get("/{image_id}/download", responses={
    200: {"description": "The image file.",
          "content": {t: {"schema": {"type": "string", "format": "binary"}}
                      for t in imagelib.CONTENT_TYPES.values()}}, **p.ERRORS})
async def download(request: Request, image_id: str) -> Response:
    """The image's bytes with its content type (needs the key; publish to share)."""
    try:
        _, record = await _record(request, image_id)
        data = await run_in_threadpool(library(request).read, record)
    except CutoutError as exc:
        return p.error_response(exc)
    return Response(data, media_type=imagelib.CONTENT_TYPES[record.format])


@router.delete("/{image_id}", status_code=204, responses={204: {"description": "Deleted."},
                                                          **p.ERRORS})
async def delete_image(request: Request, image_id: str) -> Response:
    """Delete the image's bytes and record (its public URL stops working)."""
    try:
        caller = await _caller(request)
        await run_in_threadpool(library(request).delete, caller.account.id, image_id)
    except CutoutError as exc:
        return p.error_response(exc)
    return Response(status_code=204)


@router.post("/{image_id}/publish", responses=p.image_responses(200))
async def publish(request: Request, image_id: str) -> Response:
    """Give the image a public URL that works without a key (served by this API)."""
    try:
        caller = await _caller(request)
        record = await run_in_threadpool(library(request).publish, caller.account.id, image_id)
    except CutoutError as exc:
        return p.error_response(exc)
    return JSONResponse(image_object(request, record))


@router.post("/{image_id}/unpublish", responses=p.image_responses(200))
async def unpublish(request: Request, image_id: str) -> Response:
    """Make `url` null again; the old public URL answers 404 from now on."""
    try:
        caller = await _caller(request)
        record = await run_in_threadpool(library(request).unpublish, caller.account.id, image_id)
    except CutoutError as exc:
        return p.error_response(exc)
    return JSONResponse(image_object(request, record))


@public_router.get("/{token}", name="public_image", responses={
    200: {"description": "The published image."}, 404: p.ERRORS[404]})
async def public_image(request: Request, token: str) -> Response:
    """A published image, without a key; 404 once unpublished or deleted."""
    try:
        record, data = await run_in_threadpool(library(request).public, token)
    except CutoutError as exc:
        return p.error_response(exc)
    return Response(data, media_type=imagelib.CONTENT_TYPES[record.format],
                    headers={"Cache-Control": "public, max-age=60"})


# --- operations ------------------------------------------------------------------------------

Pixels = np.ndarray
Step = Callable[[Pixels], Pixels]


@dataclass(frozen=True)
class Plan:
    """What an operation will do, decided (and checked) before anything is charged."""

    step: Step
    format: str  # jpeg | png | webp of the new image
    quality: int = 90


async def operate(request: Request, image_id: str, model: type[p.Body],
                  plan: Callable[[Any, ImageRecord], Plan]) -> Response:
    """Parse, find the image (404 before any charge), plan (400 before any charge), then
    charge 1 operation and decode -> step -> encode -> store in a worker thread."""
    engine: Engine = request.app.state.engine
    try:
        caller = await _caller(request)
        body = p.parse(model, await request.body())
        record = await run_in_threadpool(library(request).get, caller.account.id, image_id)
        chosen = plan(body, record)
        data = await run_in_threadpool(library(request).read, record)
        lim = limits(engine)

        def work() -> ImageRecord:
            pixels = chosen.step(imagelib.decode(data, lim, imagelib.header_of(record)))
            if caller.account.sandbox:
                pixels = imageops.sandbox_mark(pixels)
            out = imagelib.encode(pixels, chosen.format, chosen.quality,
                                  engine.settings.png_compress_level)
            height, width = pixels.shape[:2]
            return library(request).save(caller.account.id, body.name or record.name, out,
                                         chosen.format, width, height)

        new = await engine.run(imagelib.header_of(record), work, caller=caller, credits=1)
    except CutoutError as exc:
        return p.error_response(exc)
    return created(request, new, 1)


def _op(name: str, model: type[p.Body], example: dict[str, Any], summary: str):
    def register(plan: Callable[[Any, ImageRecord], Plan]):
        async def route(request: Request, image_id: str) -> Response:
            return await operate(request, image_id, model, plan)

        route.__name__ = name.replace("-", "_")
        route.__doc__ = summary
        router.post(f"/{{image_id}}/{name}", status_code=201, responses=p.image_responses(),
                    openapi_extra=p.json_body(model, example), summary=summary)(route)
        return plan

    return register


@_op("convert", p.Convert, {"format": "webp", "quality": 80},
     "Convert to jpeg, png or webp (quality 1-100, default 100)")
def _convert(body: p.Convert, record: ImageRecord) -> Plan:
    fmt = "jpeg" if body.format == "jpg" else body.format
    return Plan(lambda px: px, fmt, body.quality)


@_op("resize", p.Resize, {"width": 800, "height": 600, "fit": "contain", "position": "center",
                          "letterbox_color": "white"},
     "Resize: fit fill (default), contain (letterboxed) or cover (cropped) at a position")
def _resize(body: p.Resize, record: ImageRecord) -> Plan:
    if body.width is None and body.height is None:
        raise p.Invalid(["width, height: give at least one"])
    colour = p.colour(body.letterbox_color, "letterbox_color")
    width = body.width or max(1, round(record.width * body.height / record.height))
    height = body.height or max(1, round(record.height * width / record.width))
    if width > imageops.MAX_SIDE or height > imageops.MAX_SIDE or width * height > MAX_OUTPUT_PIXELS:
        raise p.Invalid([f"width, height: {width}x{height} is larger than this server makes "
                         f"(at most {MAX_OUTPUT_PIXELS // 1_000_000} megapixels, "
                         f"{imageops.MAX_SIDE} px a side)"])
    return Plan(lambda px: imageops.resize(px, width, height, body.fit, body.position, colour),
                record.format)


@_op("crop", p.Crop, {"x1": 10, "y1": 10, "x2": 410, "y2": 310}, "Crop to the box (x1, y1)-(x2, y2)")
def _crop(body: p.Crop, record: ImageRecord) -> Plan:
    if not (body.x1 < body.x2 <= record.width and body.y1 < body.y2 <= record.height):
        raise p.Invalid([f"x1, y1, x2, y2: the box must lie inside the {record.width}x"
                         f"{record.height} image with x1 < x2 and y1 < y2"])
    return Plan(lambda px: imageops.crop(px, body.x1, body.y1, body.x2, body.y2), record.format)


@_op("rotate", p.Rotate, {"angle": 90, "unit": "degrees", "background_color": "#000000"},
     "Rotate clockwise by angle (degrees or radians), corners filled with background_color")
def _rotate(body: p.Rotate, record: ImageRecord) -> Plan:
    degrees = math.degrees(body.angle) if body.unit == "radians" else body.angle
    colour = p.colour(body.background_color, "background_color")
    return Plan(lambda px: imageops.rotate(px, degrees, colour), record.format)


@_op("mirror", p.Mirror, {"mode": "horizontal"},
     "Mirror: horizontal (left-right), vertical (top-bottom) or both")
def _mirror(body: p.Mirror, record: ImageRecord) -> Plan:
    return Plan(lambda px: imageops.mirror(px, body.mode), record.format)


@_op("blur", p.Blur, {"sigma": 5}, "Gaussian blur with standard deviation sigma (0.3-1000 px)")
def _blur(body: p.Blur, record: ImageRecord) -> Plan:
    return Plan(lambda px: imageops.blur(px, body.sigma), record.format)


@_op("modulate", p.Modulate, {"brightness": 1.2, "saturation": 0.8, "hue": 90, "lightness": 10},
     "Modulate brightness, saturation (multipliers), hue (degrees) and lightness (added)")
def _modulate(body: p.Modulate, record: ImageRecord) -> Plan:
    return Plan(lambda px: imageops.modulate(
        px, 1.0 if body.brightness is None else body.brightness,
        1.0 if body.saturation is None else body.saturation, body.hue or 0.0,
        body.lightness or 0.0), record.format)


@router.post("/{image_id}/remove-background", status_code=201, responses=p.image_responses(),
             openapi_extra=p.json_body(p.Named, {"name": "product-cutout"}))
async def remove_background(request: Request, image_id: str) -> Response:
    """Remove the background: a new PNG with transparency; counts as 2 operations."""
    engine: Engine = request.app.state.engine
    try:
        caller = await _caller(request)
        body = p.parse(p.Named, await request.body())
        record = await run_in_threadpool(library(request).get, caller.account.id, image_id)
        data = await run_in_threadpool(library(request).read, record)
        lim = limits(engine)
        options = pipeline.Options(mode="fg-image", format="png",
                                   png_level=engine.settings.png_compress_level)

        def work() -> ImageRecord:
            result = pipeline.cut(data, options, segmenter=engine.segmenter, limits=lim,
                                  header=imagelib.header_of(record))
            out = result.data
            if caller.account.sandbox:  # the one extra decode, for sandbox keys only
                marked = imageops.sandbox_mark(imagelib.decode(out, lim))
                out = imagelib.encode(marked, "png", png_level=engine.settings.png_compress_level)
            return library(request).save(caller.account.id, body.name or record.name, out, "png",
                                         result.width, result.height)

        new = await engine.run(imagelib.header_of(record), work, caller=caller, credits=2)
    except CutoutError as exc:
        return p.error_response(exc)
    return created(request, new, 2)


@router.post("/{image_id}/watermark", status_code=201, responses=p.image_responses(),
             openapi_extra=p.json_body(p.Watermarks, {"watermarks": [
                 {"id": "image_01jd5x2m3k8qz4w7t9v6r5p3n3", "left": 20, "top": 20}]}))
async def watermark(request: Request, image_id: str) -> Response:
    """Lay up to 5 of your other images over this one at (left, top) px."""
    engine: Engine = request.app.state.engine
    try:
        caller = await _caller(request)
        body = p.parse(p.Watermarks, await request.body())
        lib = library(request)
        record = await run_in_threadpool(lib.get, caller.account.id, image_id)
        marks = [await run_in_threadpool(lib.get, caller.account.id, m.id) for m in body.watermarks]
        blobs = [await run_in_threadpool(lib.read, r) for r in [record, *marks]]
        lim = limits(engine)

        def work() -> ImageRecord:
            base = imagelib.decode(blobs[0], lim, imagelib.header_of(record))
            layers = [(imagelib.decode(d, lim, imagelib.header_of(r)), m.left, m.top)
                      for r, d, m in zip(marks, blobs[1:], body.watermarks)]
            pixels = imageops.watermark(base, layers)
            if caller.account.sandbox:
                pixels = imageops.sandbox_mark(pixels)
            out = imagelib.encode(pixels, record.format, png_level=engine.settings.png_compress_level)
            return lib.save(caller.account.id, body.name or record.name, out, record.format,
                            record.width, record.height)

        new = await engine.run(imagelib.header_of(record), work, caller=caller, credits=1)
    except CutoutError as exc:
        return p.error_response(exc)
    return created(request, new, 1)


@router.post("/{image_id}/{operation}", include_in_schema=False)
async def unsupported(request: Request, image_id: str, operation: str) -> Response:
    """AI endpoints of IMG Processing that Cutout does not offer: 422, never a bare 404."""
    try:
        await _caller(request)
        if operation in UNSUPPORTED:
            raise p.Unsupported(
                f"The {operation} endpoint is not available on this server: Cutout implements "
                f"IMG Processing's storage and image operations ({', '.join(OPERATIONS)}), not "
                "text-to-image or image analysis.")
        raise imagelib.ImageNotFound(
            f"Unknown operation {operation!r}; available: {', '.join(OPERATIONS)}, publish, "
            "unpublish.")
    except CutoutError as exc:
        return p.error_response(exc)
