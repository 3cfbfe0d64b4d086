"""One call from image bytes to product bytes: decode -> model -> matte -> layout -> compose -> encode.

The model and matte steps are engine/segment.py's.

No I/O besides the bytes in and out, no HTTP and no AWS: the web dialects, the
CLI, the S3 trigger and the benchmarks all call `cut()`. Every output option
(size, region of interest, crop, scale, position, background, shadow, format)
is implemented here once; dialects only translate their parameter names into
`Options`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from . import colors, compose, confidence, foreground, formats, geometry, images, matte, tiers
from ..errors import ImageTooLarge, InvalidImage, InvalidOption
from ..types import RGB, Alpha, Box, Bounds
from .images import Header, Limits
from .model import Segmenter
from .segment import soft_and_matte

MODES = ("fg-image", "fg-image-shadow", "fg-mask")
FORMATS = ("auto",) + formats.CUTOUT_FORMATS  # `auto`: see resolve_format


@dataclass(frozen=True)
class Options:
    """What to make of one image; every field is dialect-neutral.

    mode: fg-image (cut-out), fg-image-shadow (cut-out on a drop shadow), fg-mask (alpha matte).
    format: png | jpg | webp | zip | auto (PNG when the result has transparency or is too
        large for JPEG, else JPG).
    max_megapixels: the output is downscaled to fit (aspect kept); None = no limit.
    background_color / background_image: an RGBA colour or encoded image bytes put behind the
        subject (the image is scaled to cover the canvas); at most one of the two.
    roi: only this region of the input may hold the subject; the rest becomes background.
    crop / crop_margin: trim the canvas to the subject's bounding box plus a margin.
    scale: the subject's size relative to the canvas (0.1..1), None = as it is.
    position: (x, y) fractions (0.5, 0.5 = centred), None = where it is.
    require_foreground: refuse (segment.NoForeground) instead of returning an empty cut-out.
    model: the quality tier (tiers.TIERS): `fast`, the deployment's model; `fast-tta`, the
        same with a second pass on the subject's close-up averaged in; `quality`, the
        large model; `quality-tta`, the large model with the mirrored pass averaged in.
    decontaminate: 0..1, how far soft-edge colours move from the photo's (0) to the
        estimated foreground colour without the old background (1, the default;
        engine/foreground.py); not used for masks. remove.bg's edge colour correction
        and Adobe's `colorDecontamination` (default 1); about 5 ms at 1 MP and 22 ms
        at 12 MP (docs/performance.md). Not applied to an image with its own alpha.
    refine_edges: refit the matte's undecided band to the photo's colour edges
        (engine/refine.py); off by default (docs/performance.md has the figures).
    binary_mask: the matte cut at half opacity into 0 and 255 before the product is made
        (a hard-edged mask or cut-out: Adobe v1's `mask.format: binary`); off: soft, 0..255.
    """

    mode: str = "fg-image"
    format: str = "png"
    png_level: int = 1
    shadow_opacity: float = 0.5
    max_megapixels: float | None = None
    background_color: colors.RGBA | None = None
    background_image: bytes | None = field(default=None, repr=False)
    roi: geometry.Region | None = None
    crop: bool = False
    crop_margin: geometry.Margin = geometry.NO_MARGIN
    scale: float | None = None
    position: tuple[float, float] | None = None
    require_foreground: bool = False
    model: str = tiers.DEFAULT_TIER
    decontaminate: float = 1.0
    refine_edges: bool = False
    binary_mask: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidOption(f"Unknown mode {self.mode!r}; valid modes are {', '.join(MODES)}.")
        if self.format not in FORMATS:
            raise InvalidOption(
                f"Unknown format {self.format!r}; valid formats are {', '.join(FORMATS)}.",
                code="invalid_format",
            )
        if self.mode == "fg-mask" and self.format == "zip":
            raise InvalidOption("The zip format needs a colour result, not a mask.", code="invalid_format")
        if self.background_color is not None and self.background_image is not None:
            raise InvalidOption("Give one background: a colour or an image, not both.",
                                code="multiple_backgrounds")
        if self.model not in tiers.TIERS:
            raise InvalidOption(f"Unknown model {self.model!r}; valid models are {', '.join(tiers.TIERS)}.",
                                code="invalid_model")
        if not 0.0 <= self.shadow_opacity <= 1.0:
            raise InvalidOption("Shadow opacity must be between 0 and 1.", code="invalid_shadow_opacity")
        if self.max_megapixels is not None and not self.max_megapixels > 0:  # NaN too
            raise InvalidOption("The megapixel limit must be positive.", code="invalid_size")
        if self.scale is not None and not 0.0 < self.scale <= 1.0:
            raise InvalidOption("Scale must be above 0% and at most 100%.", code="invalid_scale")
        if self.position is not None and not all(0.0 <= p <= 1.0 for p in self.position):
            raise InvalidOption("Position must be between 0% and 100%.", code="invalid_position")
        if not 0.0 <= self.decontaminate <= 1.0:
            raise InvalidOption("Colour decontamination must be between 0 and 1.",
                                code="invalid_decontaminate")


@dataclass(frozen=True)
class Result:
    data: bytes
    content_type: str
    format: str
    width: int
    height: int
    foreground: Box | None  # the subject's bounding box in output pixels
    uncertainty: float  # 0 (sure) .. 1 (doubtful): how undecided the model's mask is (engine/confidence.py)


def preflight(options: Options, header: Header) -> None:
    """The checks that need the image's size but no pixels: run them before charging."""
    if options.roi is not None:
        options.roi.resolve(header.width, header.height)


@contextmanager
def _as_background() -> Iterator[None]:
    """A refusal of a background image says so: the photo is not the one refused."""
    try:
        yield
    except (InvalidImage, ImageTooLarge) as exc:
        exc.message = f"The background image: {exc.message}"
        exc.args = (exc.message,)
        raise


def background_header(data: bytes, limits: Limits) -> Header:
    """A background image's header, checked against the limits without decoding (before any
    charge). Raises InvalidImage or ImageTooLarge naming the background image."""
    with _as_background():
        return images.read_header(data, limits)


def background_layer(data: bytes, limits: Limits) -> np.ndarray:
    """Decode a background image to RGBA (under the same limits as any input). Raises
    InvalidImage or ImageTooLarge naming the background image."""
    with _as_background():
        decoded = images.decode(data, limits)
    return compose.rgba(decoded.rgb, decoded.alpha)


def _fit(megapixels: float | None, rgb: RGB, alpha: Alpha | None) -> tuple[RGB, Alpha | None]:
    """Downscale the image and its alpha (if any) to the largest size within `megapixels`."""
    height, width = rgb.shape[:2]
    if megapixels is None:
        return rgb, alpha
    new_w, new_h = images.fit_within(width, height, megapixels)
    if (new_w, new_h) == (width, height):
        return rgb, alpha
    return compose.resize(rgb, new_w, new_h), (
        None if alpha is None else compose.resize(alpha, new_w, new_h))


def _scale_box(box: Bounds, sx: float, sy: float, width: int, height: int) -> Bounds:
    left, top, right, bottom = box
    return (max(0, math.floor(left * sx)), max(0, math.floor(top * sy)),
            min(width, max(math.floor(left * sx) + 1, math.ceil(right * sx))),
            min(height, max(math.floor(top * sy) + 1, math.ceil(bottom * sy))))


# A crop window may hold at most this many times the image pixel limit: the most a margin
# in percent (at most 50% a side) makes of an image within the limit. A margin in pixels
# around a thin subject could otherwise make a canvas of any size (500 px around a
# 2,000,000x1 strip: 681 megapixels, 2.5 GB).
MAX_CROP_WINDOW_FACTOR = 4


def layout(
    rgb: np.ndarray, alpha: np.ndarray, options: Options, box: Box | None,
    max_megapixels: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the subject (`box`: left, top, width, height) plus margin, then scale and position it.

    `max_megapixels`: the image pixel limit; a crop window over MAX_CROP_WINDOW_FACTOR
    times it raises InvalidOption (`invalid_crop_margin`) before it is allocated.
    """
    if box is None:
        return rgb, alpha  # nothing to crop to or to move
    if options.crop:
        left, top, box_w, box_h = box
        m_top, m_right, m_bottom, m_left = options.crop_margin.resolve(box_w, box_h)
        window = (left - m_left, top - m_top, left + box_w + m_right, top + box_h + m_bottom)
        window_w, window_h = window[2] - window[0], window[3] - window[1]
        if max_megapixels is not None and \
                window_w * window_h > MAX_CROP_WINDOW_FACTOR * max_megapixels * 1_000_000:
            raise InvalidOption(
                f"The crop_margin makes the result {window_w}x{window_h} px "
                f"({window_w * window_h / 1e6:.1f} megapixels); at most "
                f"{MAX_CROP_WINDOW_FACTOR * max_megapixels:g} are allowed: use a smaller margin.",
                code="invalid_crop_margin")
        rgb, alpha = compose.crop(rgb, window), compose.crop(alpha, window)
        box = (m_left, m_top, box_w, box_h)
    if options.scale is not None or options.position is not None:
        rgb, alpha = compose.place(rgb, alpha, box, scale=options.scale, position=options.position)
    return rgb, alpha


def render(
    rgb: np.ndarray, alpha: np.ndarray, options: Options, background: np.ndarray | None = None
) -> np.ndarray:
    """The product's pixels: L for the mask, RGBA otherwise (over the background, if any).

    background: an HxWx4 uint8 layer or one RGBA colour (see compose.subject_on).
    """
    if options.binary_mask:
        alpha = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    if options.mode == "fg-mask":
        return alpha
    if options.mode == "fg-image-shadow":
        product = compose.with_shadow(rgb, alpha, opacity=options.shadow_opacity)
    elif background is not None:
        # Straight from the photo: where alpha is 0 the colour never shows, so the
        # cut-out's black fill is not needed (same pixels, one 12 MP pass less).
        return compose.subject_on(rgb, alpha, background)
    else:
        product = compose.cutout(rgb, alpha)
    if background is not None:
        product = compose.on_background(product, background)
    return product


def _background(options: Options, limits: Limits, width: int, height: int) -> np.ndarray | None:
    if options.background_color is not None:
        return np.array(options.background_color, dtype=np.uint8)  # one colour under every pixel
    if options.background_image is not None:
        return compose.cover(background_layer(options.background_image, limits), width, height)
    return None


def resolve_format(pixels: np.ndarray, fmt: str) -> str:
    """`auto` means PNG for a mask, a result with transparency or one wider or taller
    than JPEG holds (its `formats` row's `max_side`), else JPG."""
    if fmt != "auto":
        return fmt
    if pixels.ndim == 2 or (pixels.shape[2] == 4 and int(pixels[:, :, 3].min()) < 255):
        return "png"
    jpeg = formats.get("jpg")
    return "png" if jpeg.max_side is not None and max(pixels.shape[:2]) > jpeg.max_side else "jpg"


def encode(pixels: np.ndarray, options: Options, colour: np.ndarray | None = None) -> tuple[bytes, str]:
    """Encode the product; `colour` (the photo's RGB) fills the ZIP's colour layer where it is clear.

    With `options.decontaminate` the colour layer's soft-edge pixels are the
    decontaminated colours (remove.bg's "edge colour correction"); decontamination
    leaves clear pixels as the photo's.
    """
    fmt = resolve_format(pixels, options.format)
    if fmt == "zip":  # Options refuses zip for a mask, so pixels are RGBA here
        rgb, alpha = pixels[:, :, :3], pixels[:, :, 3]
        if colour is not None:
            # Invisible pixels keep the photo's colours: the JPEG then has no hard
            # edges around the subject to ring at, so the parts compose cleanly.
            rgb = np.where((alpha == 0)[:, :, None], colour, rgb)
        return images.encode_zip(rgb, alpha, png_level=options.png_level), fmt
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
    """Remove the background from one encoded image and make the product `options` asks for.

    `segmenter` is the model of `options.model`'s tier (the caller picks it:
    `metering.Meter` does); the tier's flip augmentation is applied here.
    """
    decoded = images.decode(data, limits, header)
    rgb, source_alpha = decoded.rgb, decoded.alpha
    del decoded  # the photo's pixels go as soon as a step replaces them (decontamination's copy)
    height, width = rgb.shape[:2]
    roi = options.roi.resolve(width, height) if options.roi is not None else None
    if not options.crop:
        # The canvas is the whole photo, so shrink it first: the model sees the
        # same 320x320 input either way, and every later step costs less.
        rgb, source_alpha = _fit(options.max_megapixels, rgb, source_alpha)
        # the canvas is final (scale and position keep it): a format that cannot hold it
        # is refused now, not after the model and the full-size steps
        images.check_side(options.format, rgb.shape[1], rgb.shape[0])
        if roi is not None:
            roi = _scale_box(roi, rgb.shape[1] / width, rgb.shape[0] / height, rgb.shape[1], rgb.shape[0])
    tier = tiers.TIERS[options.model]
    soft, alpha = soft_and_matte(rgb, source_alpha, segmenter, roi, options.require_foreground,
                                 options.refine_edges, flip=tier.flip, close_up=tier.two_scale)
    if options.mode != "fg-mask" and options.decontaminate > 0 and source_alpha is None:
        # On the whole canvas, before any crop or move: the estimate reads each
        # edge pixel's neighbourhood, which a crop would cut. An image with its own
        # transparency keeps its colours: its edges are the file's (straight alpha),
        # not a photo's mix of subject and background.
        rgb = foreground.decontaminate(rgb, alpha, options.decontaminate)
    box = matte.bounding_box(alpha)
    laid_rgb, laid_alpha = layout(rgb, alpha, options, box, limits.max_megapixels)
    if options.crop:
        laid_rgb, fitted = _fit(options.max_megapixels, laid_rgb, laid_alpha)
        assert fitted is not None  # an alpha in, an alpha out
        laid_alpha = fitted
    if laid_alpha is not alpha:  # the canvas changed: find the subject on the new one
        box = matte.bounding_box(laid_alpha)
    rgb, alpha = laid_rgb, laid_alpha
    out_h, out_w = alpha.shape
    pixels = render(rgb, alpha, options, _background(options, limits, out_w, out_h))
    body, fmt = encode(pixels, options, colour=rgb)
    return Result(
        data=body,
        content_type=formats.mime_of(fmt),
        format=fmt,
        width=out_w,
        height=out_h,
        foreground=box,
        uncertainty=confidence.uncertainty(soft),
    )
