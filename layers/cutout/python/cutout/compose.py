"""Alpha + image -> the product the caller asked for. Pure array functions."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA with straight (unpremultiplied) colour; fully transparent pixels are black."""
    rgba = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    rgba[:, :, :3] = rgb
    rgba[:, :, 3] = alpha
    rgba[alpha == 0, :3] = 0  # invisible anyway, and compresses far better
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


def flatten(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Drop transparency by compositing over an opaque colour (for JPEG output)."""
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    out = rgba[:, :, :3] * a + np.array(colour, dtype=np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
