"""Smooth per-pixel fields computed on a small copy of the image, read back at full resolution.

The edge steps (refine, foreground) need local means over windows tens of
pixels wide. Those means are smooth, so they are computed on a copy of at most
`WORK_PIXELS` (box filters by cumulative sums, NumPy only) and sampled
bilinearly at the few full-resolution pixels that need them (the matte's edge
band), as in He and Sun's fast guided filter (arXiv:1505.00996, 2015). The cost
then no longer grows with the photo's size, only with the edge's length.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..types import RGB, Alpha

WORK_PIXELS = 500_000
Float = npt.NDArray[np.float32]


def work_size(width: int, height: int, pixels: int = WORK_PIXELS) -> tuple[int, int]:
    """The (width, height) of the working copy: the photo's own size if small, else scaled to `pixels`."""
    if width * height <= pixels:
        return width, height
    factor = (pixels / (width * height)) ** 0.5
    return max(1, round(width * factor)), max(1, round(height * factor))


def shrink(rgb: RGB, alpha: Alpha, size: tuple[int, int]) -> tuple[Float, Float]:
    """The photo (HxWx3) and matte (HxW) at `size`, as float32 in 0..1 (area-averaged)."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        small_rgb, small_alpha = rgb, alpha
    else:
        small_rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))
        small_alpha = np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.BOX))
    return (small_rgb.astype(np.float32) * np.float32(1 / 255),
            small_alpha.astype(np.float32) * np.float32(1 / 255))


def box(x: Float, radius: int) -> Float:
    """Mean over the (2r+1)x(2r+1) window around each pixel, clipped at the borders.

    x: HxW or HxWxC float32. Near a border the mean is over the pixels inside
    the image (the window's in-image count), so ratios of two box means (the
    blur-fusion estimator, the guided filter) stay unbiased there.
    """
    out = x
    for axis in (0, 1):
        n = out.shape[axis]
        summed = np.cumsum(out, axis=axis, dtype=np.float32)
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 0)
        summed = np.pad(summed, pad)
        idx = np.arange(n)
        lo, hi = np.clip(idx - radius, 0, n), np.clip(idx + radius + 1, 0, n)
        count = (hi - lo).astype(np.float32)
        shape = [1] * out.ndim
        shape[axis] = n
        out = (np.take(summed, hi, axis=axis) - np.take(summed, lo, axis=axis)) / count.reshape(shape)
    return out


def sample(field: Float, rows: np.ndarray, cols: np.ndarray, full: tuple[int, int]) -> Float:
    """Bilinear samples of a small field (hxw or hxwxC) at full-resolution pixels.

    rows, cols: integer pixel coordinates in the full image of height, width = full.
    Returns one value (or C values) per pixel: N or NxC float32. Pixel centres
    are aligned, as Pillow's resize aligns them.
    """
    height, width = full
    h, w = field.shape[:2]
    y = np.clip((rows + 0.5) * (h / height) - 0.5, 0, h - 1).astype(np.float32)
    x = np.clip((cols + 0.5) * (w / width) - 0.5, 0, w - 1).astype(np.float32)
    y0, x0 = y.astype(np.intp), x.astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = y - y0, x - x0
    if field.ndim == 3:
        fy, fx = fy[:, None], fx[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    result: Float = top * (1 - fy) + bottom * fy
    return result


def radius_at(size: tuple[int, int], full_radius: float, reference_side: int) -> int:
    """A window radius given in pixels of a `reference_side`-pixel photo, at a working `size`."""
    return max(1, round(full_radius * max(size) / reference_side))
