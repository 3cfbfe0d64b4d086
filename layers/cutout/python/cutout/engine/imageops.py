"""Image operations on pixel arrays: crop, resize, rotate, mirror, blur, modulate, watermark.

Pure functions, no I/O: each takes an HxWx3 (RGB) or HxWx4 (RGBA) uint8 array
and returns a new one (the input is never modified). The stored-images
dialect (web/imgproc.py) only translates parameters into these calls, so every
operation is implemented once. Geometry is in pixels, (0, 0) the top-left
corner; angles in degrees, positive = clockwise; colours are RGBA tuples.

Semantics follow IMG Processing's documentation (docs.img-processing.com,
api-reference/endpoints/transformation and edition), which describes sharp's
operations: resize `fill` | `contain` | `cover` with a `position`, rotation
clockwise with a background colour, `mirror` horizontal = left-right flip,
`blur` by a Gaussian `sigma`, `modulate` brightness/saturation multipliers,
hue rotation in degrees and an additive lightness.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import compose, images
from .colors import RGBA
from ..errors import InvalidOption

FITS = ("fill", "contain", "cover")
POSITIONS = {
    "center": (0.5, 0.5), "top": (0.5, 0.0), "right": (1.0, 0.5), "bottom": (0.5, 1.0),
    "left": (0.0, 0.5), "top-left": (0.0, 0.0), "top-right": (1.0, 0.0),
    "bottom-left": (0.0, 1.0), "bottom-right": (1.0, 1.0),
}
MIRRORS = ("horizontal", "vertical", "both")
MAX_SIDE = 10_000  # px: the largest width or height an operation may make
MAX_OUTPUT_PIXELS = 25_000_000  # the most pixels an operation may make (the default input limit)
MAX_SIGMA = 1000.0  # sharp's upper bound for blur sigma


def _rgba(pixels: np.ndarray) -> np.ndarray:
    """HxWx4 uint8: RGBA as it is, RGB with an opaque alpha."""
    return pixels if pixels.shape[2] == 4 else compose.rgba(pixels)


def _over(layer: np.ndarray, under: np.ndarray) -> np.ndarray:
    """An RGBA layer (HxWx4 uint8) over `under` (an HxWx4 uint8 layer or one RGBA colour): HxWx4."""
    return compose.subject_on(layer[:, :, :3], layer[:, :, 3], under)


def _same_channels(pixels: np.ndarray, like: np.ndarray, colour: RGBA | None = None) -> np.ndarray:
    """Keep RGB input RGB unless transparency was introduced (an alpha < 255 colour)."""
    if like.shape[2] == 3 and (colour is None or colour[3] == 255) and pixels.shape[2] == 4:
        return np.ascontiguousarray(pixels[:, :, :3])
    return pixels


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_OUTPUT_PIXELS:  # e.g. a 25 MP photo turned 45 degrees
        raise InvalidOption(f"The result would be {width}x{height}: at most "
                            f"{MAX_OUTPUT_PIXELS // 1_000_000} megapixels.", code="invalid_size")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InvalidOption(f"width and height must be between 1 and {MAX_SIDE} pixels.",
                            code="invalid_size")


def check_crop(width: int, height: int, x1: int, y1: int, x2: int, y2: int) -> None:
    """Refuse a crop box (corners in px, x2 and y2 exclusive) that is empty or leaves a
    width x height px image: InvalidOption `invalid_crop`. Needs no pixels, so a caller
    can check before charging."""
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise InvalidOption(
            f"The crop box ({x1}, {y1}) - ({x2}, {y2}) must lie inside the {width}x{height} "
            "image with x1 < x2 and y1 < y2.", code="invalid_crop")


def crop(pixels: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """The rectangle from the top-left corner (x1, y1) to the bottom-right (x2, y2), exclusive.

    Raises InvalidOption when the box is empty or leaves the image (`check_crop`).
    """
    height, width = pixels.shape[:2]
    check_crop(width, height, x1, y1, x2, y2)
    return np.ascontiguousarray(pixels[y1:y2, x1:x2])


def resized_size(src_width: int, src_height: int, width: int | None, height: int | None
                 ) -> tuple[int, int]:
    """The (width, height) px `resize` makes of a src_width x src_height px image: a missing
    side keeps the aspect ratio. Needs no pixels, so a caller can check before charging.

    Raises InvalidOption `invalid_size` when neither side is given, or when the result
    would pass MAX_SIDE px a side or MAX_OUTPUT_PIXELS.
    """
    if width is None:
        if height is None:
            raise InvalidOption("Give width, height or both.", code="invalid_size")
        width = max(1, round(src_width * height / src_height))
    elif height is None:
        height = max(1, round(src_height * width / src_width))
    _check_size(width, height)
    return width, height


def resize(
    pixels: np.ndarray,
    width: int | None,
    height: int | None,
    fit: str = "fill",
    position: str = "center",
    letterbox: RGBA = (0, 0, 0, 255),
) -> np.ndarray:
    """Resize to width x height px (a missing side keeps the aspect ratio: `resized_size`).

    fill: stretch to exactly that size. contain: scale to fit inside it and
    fill the rest with `letterbox` (placed by `position`). cover: scale to cover
    it and cut off what is outside (kept part chosen by `position`).
    Raises InvalidOption for unknown fits/positions or sizes out of 1..MAX_SIDE.
    """
    if fit not in FITS:
        raise InvalidOption(f"fit must be one of {', '.join(FITS)}.", code="invalid_fit")
    if position not in POSITIONS:
        raise InvalidOption(f"position must be one of {', '.join(POSITIONS)}.",
                            code="invalid_position")
    src_h, src_w = pixels.shape[:2]
    width, height = resized_size(src_w, src_h, width, height)
    px, py = POSITIONS[position]
    if fit == "fill":
        return compose.resize(pixels, width, height)
    if fit == "cover":
        return compose.cover(pixels, width, height, (px, py))
    factor = min(width / src_w, height / src_h)
    inner_w, inner_h = max(1, round(src_w * factor)), max(1, round(src_h * factor))
    inner = _rgba(compose.resize(pixels, inner_w, inner_h))
    canvas = compose.solid(letterbox, width, height)
    left, top = round(px * (width - inner_w)), round(py * (height - inner_h))
    canvas[top:top + inner_h, left:left + inner_w] = _over(inner, np.array(letterbox, np.uint8))
    return _same_channels(canvas, pixels, letterbox)


def _quarter_turns(degrees: float) -> int | None:
    """Clockwise quarter turns (0-3) when `degrees` is a multiple of 90, else None."""
    if not math.isfinite(degrees):
        raise InvalidOption("angle must be a finite number.", code="invalid_angle")
    turn = degrees % 360.0
    quarter = round(turn / 90.0)
    return quarter % 4 if abs(turn - quarter * 90.0) < 1e-9 else None


def rotated_size(width: int, height: int, degrees: float) -> tuple[int, int]:
    """The (width, height) px `rotate` makes of a width x height px image turned `degrees`.

    Needs no pixels, so a caller can check before charging. Raises InvalidOption
    `invalid_angle` for a non-finite angle, `invalid_size` when the grown canvas would
    pass MAX_SIDE px a side or MAX_OUTPUT_PIXELS.
    """
    quarters = _quarter_turns(degrees)
    if quarters is not None:
        return (height, width) if quarters % 2 else (width, height)
    # Pillow's `rotate(expand=True)`: the corners turned about the centre, each extent
    # rounded outwards (ceil of the largest, floor of the smallest coordinate).
    rad = math.radians(degrees % 360.0)
    cos, sin = abs(round(math.cos(rad), 15)), abs(round(math.sin(rad), 15))
    half_w, half_h = (width * cos + height * sin) / 2, (width * sin + height * cos) / 2
    size = (math.ceil(width / 2 + half_w) - math.floor(width / 2 - half_w),
            math.ceil(height / 2 + half_h) - math.floor(height / 2 - half_h))
    _check_size(*size)
    return size


def rotate(pixels: np.ndarray, degrees: float, background: RGBA = (0, 0, 0, 255)) -> np.ndarray:
    """Rotate clockwise by `degrees`; the canvas grows to hold the corners, filled with `background`.

    Multiples of 90 degrees are exact (no resampling, no fill). Raises
    InvalidOption before any work when the grown canvas would pass MAX_SIDE
    (`rotated_size`).
    """
    height, width = pixels.shape[:2]
    rotated_size(width, height, degrees)
    quarters = _quarter_turns(degrees)
    if quarters is not None:
        return np.ascontiguousarray(np.rot90(pixels, k=-quarters))  # k<0: clockwise
    turn = degrees % 360.0
    rgba = _rgba(pixels)
    turned = images.pil(rgba).rotate(-turn, resample=Image.Resampling.BICUBIC, expand=True,
                               fillcolor=(0, 0, 0, 0))
    flat = _over(np.asarray(turned), np.array(background, np.uint8))
    return _same_channels(flat, pixels, background)


def mirror(pixels: np.ndarray, mode: str) -> np.ndarray:
    """horizontal: left-right flip (about the vertical axis); vertical: top-bottom; both."""
    if mode not in MIRRORS:
        raise InvalidOption(f"mode must be one of {', '.join(MIRRORS)}.", code="invalid_mode")
    out = pixels
    if mode in ("horizontal", "both"):
        out = out[:, ::-1]
    if mode in ("vertical", "both"):
        out = out[::-1]
    return np.ascontiguousarray(out)


def blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation `sigma` px (0.3..1000, sharp's range)."""
    if not 0.3 <= sigma <= MAX_SIGMA:
        raise InvalidOption(f"sigma must be between 0.3 and {MAX_SIGMA:g}.", code="invalid_sigma")
    return np.asarray(images.pil(pixels).filter(ImageFilter.GaussianBlur(radius=sigma)))


def modulate(
    pixels: np.ndarray,
    brightness: float = 1.0,
    saturation: float = 1.0,
    hue: float = 0.0,
    lightness: float = 0.0,
) -> np.ndarray:
    """Brightness and saturation as multipliers (1 = unchanged), hue rotated by degrees,
    lightness added (0..255 scale, may be negative). Alpha is kept.

    Done in HSV (Pillow's conversion): brightness scales V, saturation scales S,
    hue turns H; lightness is then added to R, G and B.
    """
    for name, value in (("brightness", brightness), ("saturation", saturation)):
        if not 0.0 <= value <= 100.0:
            raise InvalidOption(f"{name} must be between 0 and 100.", code=f"invalid_{name}")
    if not (math.isfinite(hue) and -255.0 <= lightness <= 255.0):
        raise InvalidOption("hue must be a number of degrees and lightness between -255 and 255.",
                            code="invalid_modulate")
    rgb = pixels[:, :, :3]
    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(rgb), "RGB").convert("HSV")).astype(np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + hue % 360.0 * 256.0 / 360.0) % 256.0
    hsv[:, :, 1] *= saturation
    hsv[:, :, 2] *= brightness
    hsv = np.clip(hsv + 0.5, 0, 255).astype(np.uint8)
    out_rgb = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")).astype(np.int16)
    out_rgb = np.clip(out_rgb + round(lightness), 0, 255).astype(np.uint8)
    out = pixels.copy()
    out[:, :, :3] = out_rgb
    return out


def watermark(pixels: np.ndarray, marks: list[tuple[np.ndarray, int, int]]) -> np.ndarray:
    """Lay each (mark, left, top) over the image in order, alpha-blended; parts outside are cut off."""
    out = _rgba(pixels).copy()
    height, width = out.shape[:2]
    for mark, left, top in marks:
        out = _over(compose.crop(_rgba(mark), (-left, -top, width - left, height - top)), out)
    return _same_channels(out, pixels) if pixels.shape[2] == 3 else out


SANDBOX_TEXT = "CUTOUT SANDBOX"


def sandbox_mark(pixels: np.ndarray) -> np.ndarray:
    """A visible mark for sandbox (test_) keys: a translucent white band with dark text
    across the middle third of the image's height (at least 12 px)."""
    rgba = _rgba(pixels)
    height, width = rgba.shape[:2]
    band_h = max(12, height // 8)
    top = (height - band_h) // 2
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle((0, top, width, top + band_h), fill=(255, 255, 255, 160))
    draw.text((width // 2, top + band_h // 2), SANDBOX_TEXT, fill=(0, 0, 0, 255), anchor="mm",
              font_size=max(10, band_h // 2))
    return _same_channels(_over(np.asarray(layer), rgba), pixels)
