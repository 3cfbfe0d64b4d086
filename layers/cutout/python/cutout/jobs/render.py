"""A job's product from image bytes: the engine's pipeline, or a layered PSD."""
from __future__ import annotations

from dataclasses import dataclass

from ..engine import images, matte, pipeline, psd, segment
from ..metering import Meter
from . import CONTENT_TYPES, JobOptions

# The input's format -> the output's when the job names none (Adobe: "same as the input").
_SAME_AS_INPUT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class Product:
    data: bytes
    media_type: str
    extension: str
    width: int
    height: int


def output_format(options: JobOptions, header: images.Header) -> str:
    """psd for the layered mode, the asked format, else the input's (PNG for other inputs)."""
    if options.mode == "layered":
        return "psd"
    return options.format or _SAME_AS_INPUT.get(header.format, "png")


def make(data: bytes, options: JobOptions, *, meter: Meter, header: images.Header,
         png_level: int = 1) -> Product:
    """Cut one image as `options` say. Raises the engine's InputErrors for bad input.

    The job was charged when it was accepted, so the cut goes through the metering
    door unmetered (account None); the PSD path decodes and mattes with the same engine.
    """
    fmt = output_format(options, header)
    if fmt == "psd":
        decoded = images.decode(data, meter.limits, header)
        alpha = segment.matte_of(decoded.rgb, decoded.alpha, meter.segmenter)
        layout_options = pipeline.Options(crop=options.trim)
        rgb, alpha = pipeline.layout(decoded.rgb, alpha, layout_options, matte.bounding_box(alpha))
        body = psd.encode_layered(rgb, alpha, options.background_color)
        return Product(body, psd.CONTENT_TYPE, "psd", alpha.shape[1], alpha.shape[0])
    result = meter.cut(data, pipeline.Options(
        mode=options.mode, format=fmt, png_level=png_level, crop=options.trim,
        background_color=options.background_color, decontaminate=options.color_decontamination,
    ), account=None).result
    return Product(result.data, CONTENT_TYPES[result.format], result.format, result.width,
                   result.height)
