"""A job's product from image bytes: the engine's pipeline, or a layered PSD."""
from __future__ import annotations

from dataclasses import dataclass

from ..engine import formats, images, matte, pipeline, psd, segment
from ..metering import Meter
from . import JobOptions


@dataclass(frozen=True)
class Product:
    data: bytes
    media_type: str
    extension: str
    width: int  # px
    height: int  # px


def make(data: bytes, options: JobOptions, *, meter: Meter, header: images.Header) -> Product:
    """Cut one image (its checked `header` read once, by the worker) as `options` say.

    The job was charged when it was accepted, so the cut goes through the metering
    door unmetered (account None), in a slot of the door's workload like every cut; the
    PSD path decodes and mattes with the same model, in a slot too. Raises the
    engine's InputErrors for bad input (PsdUnsupported for a PSD too large).
    """
    fmt = formats.get(options.output_format(header.format))
    if fmt.name == "psd":
        def layered() -> Product:
            decoded = images.decode(data, meter.limits, header)
            alpha = segment.matte_of(decoded.rgb, decoded.alpha, meter.segmenter)
            rgb, alpha = pipeline.layout(decoded.rgb, alpha, pipeline.Options(crop=options.crop),
                                         matte.bounding_box(alpha))
            body = psd.encode_layered(rgb, alpha, options.background_color)
            return Product(body, fmt.mime, fmt.extension, alpha.shape[1], alpha.shape[0])

        return meter.run(header, layered, account=None)
    result = meter.cut(data, options.cut(fmt.name), account=None, header=header).result
    row = formats.get(result.format)
    return Product(result.data, row.mime, row.extension, result.width, result.height)
