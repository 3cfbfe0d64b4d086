"""One call from image bytes to product bytes: decode -> model -> matte -> compose -> encode.

No I/O besides the bytes in and out, no HTTP and no AWS: the web dialects, the
CLI, the S3 trigger and the benchmarks all call `cut()`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import compose, images, matte
from .errors import InvalidOption
from .images import Decoded, Header, Limits
from .model import Segmenter

MODES = ("fg-image", "fg-image-shadow", "fg-mask")


@dataclass(frozen=True)
class Options:
    mode: str = "fg-image"
    format: str = "png"  # png | webp | jpg | zip
    png_level: int = 1
    shadow_opacity: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidOption(f"Unknown mode {self.mode!r}; valid modes are {', '.join(MODES)}.")
        if self.format not in images.OUTPUT_FORMATS:
            raise InvalidOption(
                f"Unknown format {self.format!r}; valid formats are {', '.join(images.OUTPUT_FORMATS)}."
            )


@dataclass(frozen=True)
class Result:
    data: bytes
    content_type: str
    format: str
    width: int
    height: int
    foreground: tuple[int, int, int, int] | None  # left, top, width, height in output pixels


def alpha_for(decoded: Decoded, segmenter: Segmenter) -> np.ndarray:
    """The full-size alpha matte of a decoded image."""
    height, width = decoded.rgb.shape[:2]
    soft = segmenter.predict(decoded.rgb)
    return matte.combine(matte.upsample(soft, width, height), decoded.alpha)


def render(rgb: np.ndarray, alpha: np.ndarray, options: Options) -> np.ndarray:
    """The product's pixels: L for the mask, RGBA otherwise."""
    if options.mode == "fg-mask":
        return alpha
    if options.mode == "fg-image-shadow":
        return compose.with_shadow(rgb, alpha, opacity=options.shadow_opacity)
    return compose.cutout(rgb, alpha)


def encode(pixels: np.ndarray, options: Options) -> tuple[bytes, str]:
    fmt = options.format
    if fmt == "zip":
        if pixels.ndim == 2:
            raise InvalidOption("The zip format needs a colour result, not a mask.")
        return images.encode_zip(pixels[:, :, :3], pixels[:, :, 3], png_level=options.png_level), fmt
    if fmt == "jpg" and pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = compose.flatten(pixels, (255, 255, 255))
    return images.encode(pixels, fmt, png_level=options.png_level), fmt


def cut(
    data: bytes,
    options: Options,
    *,
    segmenter: Segmenter,
    limits: Limits,
    header: Header | None = None,
) -> Result:
    """Remove the background from one encoded image."""
    decoded = images.decode(data, limits, header)
    alpha = alpha_for(decoded, segmenter)
    pixels = render(decoded.rgb, alpha, options)
    body, fmt = encode(pixels, options)
    height, width = pixels.shape[:2]
    return Result(
        data=body,
        content_type=images.CONTENT_TYPES[fmt],
        format=fmt,
        width=width,
        height=height,
        foreground=matte.bounding_box(alpha),
    )
