"""Alpha + image -> the product the caller asked for. Pure array functions."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from . import bands
from ..types import RGB, RGBA, Alpha


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA with straight (unpremultiplied) colour; fully transparent pixels are black."""
    height, width = alpha.shape
    rgba = np.empty((height, width, 4), dtype=np.uint8)

    def band(top: int, bottom: int) -> None:
        rows = rgba[top:bottom]
        rows[:, :, :3] = rgb[top:bottom]
        rows[:, :, 3] = alpha[top:bottom]
        # Black where invisible (it compresses far better): each pixel as one
        # uint32 times 0 or 1, 1.4x faster than multiplying the three colour
        # bytes (and 3.8x faster than boolean-mask indexing) at 12 MP, same pixels.
        pixels = rows.view(np.uint32).reshape(bottom - top, width)
        pixels *= alpha[top:bottom] != 0

    bands.map_rows(band, height, width)
    return rgba


def shadow_matte(
    alpha: np.ndarray, *, offset: float = 0.02, blur: float = 0.015, opacity: float = 0.5
) -> np.ndarray:
    """A soft shadow of the subject: its alpha moved down and right, blurred and faded.

    offset and blur are fractions of the image's larger side, so the look does not
    depend on resolution. Computed at reduced size because a blurred shadow has no
    fine detail to lose.
    """
    height, width = alpha.shape
    side = max(width, height)
    scale = min(1.0, 512 / side)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(alpha).resize(small_size, Image.Resampling.BILINEAR)
    shift = round(offset * side * scale)
    moved = Image.new("L", small_size, 0)
    moved.paste(small, (shift // 2, shift))
    soft = moved.filter(ImageFilter.GaussianBlur(radius=max(1.0, blur * side * scale)))
    full = np.asarray(soft.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return full * (opacity / 255.0)


def over(
    rgb: np.ndarray, alpha: np.ndarray, under_rgb: np.ndarray, under_alpha: np.ndarray
) -> np.ndarray:
    """Porter-Duff 'over': the subject (rgb, alpha 0..255) over a layer (alpha 0..1)."""
    a = alpha.astype(np.float32) / 255.0
    b = under_alpha * (1.0 - a)
    out_a = a + b
    safe = np.where(out_a > 0, out_a, 1.0)[:, :, None]
    colour = (rgb * a[:, :, None] + under_rgb * b[:, :, None]) / safe
    rgba = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    rgba[:, :, :3] = np.clip(colour + 0.5, 0, 255)
    rgba[:, :, 3] = np.clip(out_a * 255.0 + 0.5, 0, 255)
    return rgba


def with_shadow(rgb: np.ndarray, alpha: np.ndarray, *, opacity: float = 0.5) -> np.ndarray:
    """The cut-out standing on a soft black drop shadow (RGBA)."""
    shade = shadow_matte(alpha, opacity=opacity)
    return over(rgb, alpha, np.zeros(3, dtype=np.float32), shade)


def flatten(rgba: RGBA, colour: tuple[int, int, int]) -> RGB:
    """Drop transparency by compositing HxWx4 over an opaque colour (for JPEG output): HxWx3."""
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    out = rgba[:, :, :3] * a + np.array(colour, dtype=np.float32) * (1.0 - a)
    flat: RGB = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return flat


# --- canvas geometry: resize, crop, place ------------------------------------------


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """An L, RGB or RGBA array resized to width x height (LANCZOS: outputs are for people)."""
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    mode = "L" if pixels.ndim == 2 else ("RGBA" if pixels.shape[2] == 4 else "RGB")
    img = Image.fromarray(pixels, mode)
    return np.asarray(img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0))


def crop(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The (left, top, right, bottom) part of an array; parts outside the array are zeros.

    Zeros are transparent black, so a margin that reaches past the photo's edge
    becomes empty canvas instead of being silently cut off.
    """
    left, top, right, bottom = box
    height, width = pixels.shape[:2]
    out = np.zeros((bottom - top, right - left) + pixels.shape[2:], dtype=pixels.dtype)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = pixels[y0:y1, x0:x1]
    return out


def place(
    rgb: np.ndarray,
    alpha: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    scale: float | None = None,
    position: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resize and move the subject (the pixels in box = left, top, width, height) on its canvas.

    scale: the subject's size relative to the canvas (1.0 = as large as fits), None = unchanged.
    position: (x, y) fractions of the free space left of / above the subject (0.5, 0.5 =
    centred), None = keep the subject's centre where it was.
    """
    height, width = alpha.shape
    left, top, box_w, box_h = box
    factor = 1.0 if scale is None else scale * min(width / box_w, height / box_h)
    new_w, new_h = max(1, round(box_w * factor)), max(1, round(box_h * factor))
    if position is None:
        x = round(left + box_w / 2 - new_w / 2)
        y = round(top + box_h / 2 - new_h / 2)
    else:
        x = round(position[0] * (width - new_w))
        y = round(position[1] * (height - new_h))
    subject_rgb = resize(np.ascontiguousarray(rgb[top : top + box_h, left : left + box_w]), new_w, new_h)
    subject_alpha = resize(np.ascontiguousarray(alpha[top : top + box_h, left : left + box_w]), new_w, new_h)
    # Paste by cropping the canvas-sized window out of the subject's own frame.
    window = (-x, -y, width - x, height - y)
    return crop(subject_rgb, window), crop(subject_alpha, window)


# --- backgrounds ------------------------------------------------------------------------


def solid(colour: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """A width x height RGBA layer of one colour."""
    layer = np.empty((height, width, 4), dtype=np.uint8)
    layer[:, :] = colour
    return layer


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale an RGBA image to cover width x height (aspect kept), then crop the centre.

    Like CSS `background-size: cover`: no empty bands and no distortion.
    """
    src_h, src_w = image.shape[:2]
    factor = max(width / src_w, height / src_h)
    scaled_w, scaled_h = max(width, math.ceil(src_w * factor)), max(height, math.ceil(src_h * factor))
    scaled = resize(image, scaled_w, scaled_h)
    left, top = (scaled_w - width) // 2, (scaled_h - height) // 2
    return np.ascontiguousarray(scaled[top : top + height, left : left + width])


def on_background(product: np.ndarray, background: np.ndarray) -> np.ndarray:
    """An RGBA product (cut-out, maybe with shadow) laid over an RGBA background layer."""
    under_alpha = background[:, :, 3].astype(np.float32) / 255.0
    return over(product[:, :, :3], product[:, :, 3], background[:, :, :3].astype(np.float32), under_alpha)
