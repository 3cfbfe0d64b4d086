"""IMG Processing's operations: POST /v1/images/{image_id}/<operation>.

Each one parses its body (bodies.py), finds the image (404 before any charge),
plans the work (400 before any charge), then charges through the metering door
(`processing.run`: 1 operation, remove-background 2) and decodes the stored
file once, applies engine/imageops (or the cut-out pipeline), encodes and
stores the new image. IMG Processing's AI endpoints answer 422.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .... import imagelib
from ....engine import imageops, pipeline
from ....stores import ImageRecord
from ...auth import authenticate
from ...errors import shown
from ...processing import run, services, uncertainty_header
from . import bodies as p
from . import created, library, limits, path_id, router
from . import spec

UNSUPPORTED = ("imagine", "classify", "visualize", "extract-text", "extract-formatted-text")
OPERATIONS = ("remove-background", "convert", "resize", "crop", "rotate", "mirror", "blur",
              "modulate", "watermark")


@router.post("/imagine", include_in_schema=False)
async def imagine(request: Request) -> Response:
    return await unsupported(request)


# --- operations ------------------------------------------------------------------------------

Pixels = np.ndarray
Step = Callable[[Pixels], Pixels]


@dataclass(frozen=True)
class Edit:
    """What an operation will do to the pixels, decided (and checked) before anything is charged."""

    step: Step
    format: str  # jpeg | png | webp of the new image
    quality: int = 90


Planner = Callable[[Any, ImageRecord], Edit]


async def operate(request: Request, model: type[p.Named], plan: Planner
                  ) -> Response:
    """Parse, find the image (404 before any charge), plan (400 before any charge), then
    charge 1 operation and decode -> step -> encode -> store in a worker thread."""
    png_level = services(request).meter.png_level
    caller = await authenticate(request)
    body = p.parse(model, await request.body())
    record = await run_in_threadpool(library(request).get, caller.account.id, path_id(request))
    chosen = plan(body, record)
    data = await run_in_threadpool(library(request).read, record)
    lim = limits(request)

    def work() -> ImageRecord:
        pixels = chosen.step(imagelib.decode(data, lim, imagelib.header_of(record, data)))
        if caller.account.sandbox:
            pixels = imageops.sandbox_mark(pixels)
        out = imagelib.encode(pixels, chosen.format, chosen.quality, png_level)
        height, width = pixels.shape[:2]
        return library(request).save(caller.account.id, body.name or record.name, out,
                                     chosen.format, width, height)

    new = await run(request, imagelib.header_of(record), work, credits=1)
    return created(request, new, 1)


def _op(name: str, model: type[p.Named], example: dict[str, Any], summary: str
        ) -> Callable[[Planner], Planner]:
    """Register POST /v1/images/{image_id}/<name>: `model` body, `plan` decides the Edit."""
    def register(plan: Planner) -> Planner:
        async def route(request: Request) -> Response:
            return await operate(request, model, plan)

        route.__name__ = name.replace("-", "_")
        route.__doc__ = summary
        router.post(f"/{{image_id}}/{name}", status_code=201,
                    **spec.operation(summary, model, example))(route)
        return plan

    return register


@_op("convert", p.Convert, {"format": "webp", "quality": 80},
     "Convert to jpeg, png or webp (quality 1-100, default 100)")
def _convert(body: p.Convert, record: ImageRecord) -> Edit:
    fmt = "jpeg" if body.format == "jpg" else body.format
    return Edit(lambda px: px, fmt, body.quality)


@_op("resize", p.Resize, {"width": 800, "height": 600, "fit": "contain", "position": "center",
                          "letterbox_color": "white"},
     "Resize: fit fill (default), contain (letterboxed) or cover (cropped) at a position")
def _resize(body: p.Resize, record: ImageRecord) -> Edit:
    colour = p.colour(body.letterbox_color, "letterbox_color")
    with p.invalid_fields("width, height"):
        width, height = imageops.resized_size(record.width, record.height, body.width, body.height)
    return Edit(lambda px: imageops.resize(px, width, height, body.fit, body.position, colour),
                record.format)


@_op("crop", p.Crop, {"x1": 10, "y1": 10, "x2": 410, "y2": 310}, "Crop to the box (x1, y1)-(x2, y2)")
def _crop(body: p.Crop, record: ImageRecord) -> Edit:
    with p.invalid_fields("x1, y1, x2, y2"):
        imageops.check_crop(record.width, record.height, body.x1, body.y1, body.x2, body.y2)
    return Edit(lambda px: imageops.crop(px, body.x1, body.y1, body.x2, body.y2), record.format)


@_op("rotate", p.Rotate, {"angle": 90, "unit": "degrees", "background_color": "#000000"},
     "Rotate clockwise by angle (degrees or radians), corners filled with background_color")
def _rotate(body: p.Rotate, record: ImageRecord) -> Edit:
    degrees = math.degrees(body.angle) if body.unit == "radians" else body.angle
    colour = p.colour(body.background_color, "background_color")
    with p.invalid_fields("angle"):
        imageops.rotated_size(record.width, record.height, degrees)  # before any charge
    return Edit(lambda px: imageops.rotate(px, degrees, colour), record.format)


@_op("mirror", p.Mirror, {"mode": "horizontal"},
     "Mirror: horizontal (left-right), vertical (top-bottom) or both")
def _mirror(body: p.Mirror, record: ImageRecord) -> Edit:
    return Edit(lambda px: imageops.mirror(px, body.mode), record.format)


@_op("blur", p.Blur, {"sigma": 5}, "Gaussian blur with standard deviation sigma (0.3-1000 px)")
def _blur(body: p.Blur, record: ImageRecord) -> Edit:
    return Edit(lambda px: imageops.blur(px, body.sigma), record.format)


@_op("modulate", p.Modulate, {"brightness": 1.2, "saturation": 0.8, "hue": 90, "lightness": 10},
     "Modulate brightness, saturation (multipliers), hue (degrees) and lightness (added)")
def _modulate(body: p.Modulate, record: ImageRecord) -> Edit:
    return Edit(lambda px: imageops.modulate(
        px, 1.0 if body.brightness is None else body.brightness,
        1.0 if body.saturation is None else body.saturation, body.hue or 0.0,
        body.lightness or 0.0), record.format)


@router.post("/{image_id}/remove-background", status_code=201, **spec.operation(
    "Remove the background: a new PNG with transparency (2 operations)", p.Named,
    {"name": "product-cutout"}))
async def remove_background(request: Request) -> Response:
    """Remove the background: a new PNG with transparency; counts as 2 operations.

    X-Uncertainty-Score says how doubtful the cut-out is (0 sure .. 1 doubtful).
    """
    meter = services(request).meter
    caller = await authenticate(request)
    body = p.parse(p.Named, await request.body())
    record = await run_in_threadpool(library(request).get, caller.account.id, path_id(request))
    data = await run_in_threadpool(library(request).read, record)
    lim = limits(request)
    options = pipeline.Options(mode="fg-image", format="png", png_level=meter.png_level)

    scores: list[pipeline.Result] = []

    def work() -> ImageRecord:
        result = pipeline.cut(data, options, segmenter=meter.segmenter, limits=lim,
                              header=imagelib.header_of(record, data))
        scores.append(result)
        out = result.data
        if caller.account.sandbox:  # the one extra decode, for sandbox keys only
            marked = imageops.sandbox_mark(imagelib.decode(out, lim))
            out = imagelib.encode(marked, "png", png_level=meter.png_level)
        return library(request).save(caller.account.id, body.name or record.name, out, "png",
                                     result.width, result.height)

    new = await run(request, imagelib.header_of(record), work, credits=2)
    response = created(request, new, 2)
    response.headers.update(uncertainty_header(scores[0]))
    return response


@router.post("/{image_id}/watermark", status_code=201, **spec.operation(
    "Lay up to 5 of your other images over this one", p.Watermarks,
    {"watermarks": [{"id": "image_0Vd8FKhB7IYFJsAP89l5p1K0", "left": 20, "top": 20}]}))
async def watermark(request: Request) -> Response:
    """Lay up to 5 of your other images over this one at (left, top) px."""
    png_level = services(request).meter.png_level
    caller = await authenticate(request)
    body = p.parse(p.Watermarks, await request.body())
    lib = library(request)
    record = await run_in_threadpool(lib.get, caller.account.id, path_id(request))
    marks = [await run_in_threadpool(lib.get, caller.account.id, m.id) for m in body.watermarks]
    blobs = [await run_in_threadpool(lib.read, r) for r in [record, *marks]]
    lim = limits(request)

    def work() -> ImageRecord:
        base = imagelib.decode(blobs[0], lim, imagelib.header_of(record, blobs[0]))
        layers = [(imagelib.decode(d, lim, imagelib.header_of(r, d)), m.left, m.top)
                  for r, d, m in zip(marks, blobs[1:], body.watermarks)]
        pixels = imageops.watermark(base, layers)
        if caller.account.sandbox:
            pixels = imageops.sandbox_mark(pixels)
        out = imagelib.encode(pixels, record.format, png_level=png_level)
        return lib.save(caller.account.id, body.name or record.name, out, record.format,
                        record.width, record.height)

    new = await run(request, imagelib.header_of(record), work, credits=1)
    return created(request, new, 1)


@router.post("/{image_id}/{operation}", include_in_schema=False)
async def unsupported(request: Request) -> Response:
    """AI endpoints of IMG Processing that Cutout does not offer: 422, never a bare 404."""
    operation = request.path_params.get("operation", "imagine")
    await authenticate(request)
    if operation in UNSUPPORTED:
        raise p.Unsupported(
            f"The {operation} endpoint is not available on this server: Cutout implements "
            f"IMG Processing's storage and image operations ({', '.join(OPERATIONS)}), not "
            "text-to-image or image analysis.")
    raise imagelib.ImageNotFound(
        f"Unknown operation {shown(operation)}; available: {', '.join(OPERATIONS)}, publish, "
        "unpublish.")
