"""Smooth per-pixel fields computed on a subsampled copy of the image, read back at full resolution.

The edge steps (refine, foreground) need local means over windows many pixels
wide. Those means are smooth, so they are computed on every `step`-th pixel of
each `step`-th row (nearest-neighbour subsampling, free in NumPy, as in He and
Sun's fast guided filter, arXiv:1505.00996, 2015), with box filters by
cumulative sums, and sampled bilinearly at the few full-resolution pixels that
need them (the matte's edge band). The cost then hardly grows with the photo's
size, only with the edge's length.
"""
from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]


def step_for(width: int, height: int, pixels: int) -> int:
    """The subsampling step that leaves at most about `pixels` pixels (1: the photo is small)."""
    return max(1, math.ceil(math.sqrt(width * height / pixels)))


def unit(pixels: np.ndarray) -> Float:
    """uint8 0..255 as float32 0..1 (any shape)."""
    out: Float = pixels.astype(np.float32) * np.float32(1 / 255)
    return out


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


def sample(field: Float, rows: np.ndarray, cols: np.ndarray, step: float) -> Float:
    """Bilinear samples of a subsampled field (hxw or hxwxC) at full-resolution pixels.

    field[j, i] holds full pixel (j * step, i * step); rows, cols: full-resolution
    pixel coordinates (any shape N). Returns N or NxC float32.
    """
    h, w = field.shape[:2]
    y = np.clip(rows * np.float32(1 / step), 0, h - 1).astype(np.float32)
    x = np.clip(cols * np.float32(1 / step), 0, w - 1).astype(np.float32)
    y0, x0 = y.astype(np.intp), x.astype(np.intp)
    # float32 weights (an intp operand would make them, and all that follows, float64)
    fy, fx = y - y0.astype(np.float32), x - x0.astype(np.float32)
    down = np.where(y0 + 1 < h, w, 0)  # the next row's offset, 0 on the last row
    right = (x0 + 1 < w).astype(np.intp)
    flat = field.reshape(h * w, -1)
    i00 = y0 * w + x0
    fy, fx = fy[:, None], fx[:, None]  # one weight per pixel, for every channel
    # np.take gathers whole rows several times faster than fancy indexing does
    p00, p01 = np.take(flat, i00, axis=0), np.take(flat, i00 + right, axis=0)
    p10, p11 = np.take(flat, i00 + down, axis=0), np.take(flat, i00 + down + right, axis=0)
    top = p00 + (p01 - p00) * fx
    result: Float = top + (p10 + (p11 - p10) * fx - top) * fy
    return result if field.ndim == 3 else result[:, 0]


def resample(field: Float, step: int, to_step: int, shape: tuple[int, int]) -> Float:
    """A field on a `step` grid resampled (bilinear) onto a finer `to_step` grid of shape (h, w).

    Separable: rows are interpolated, then columns, each a gather of whole lines.
    """
    out = field
    for axis, n in enumerate(shape):
        size = out.shape[axis]
        pos = np.clip(np.arange(n) * (to_step / step), 0, size - 1).astype(np.float32)
        lo = pos.astype(np.intp)
        hi = np.minimum(lo + 1, size - 1)
        weight_shape = [1] * out.ndim
        weight_shape[axis] = n
        frac = (pos - lo).reshape(weight_shape)
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def radius_at(step: int, full_radius: float) -> int:
    """A window radius of `full_radius` full-resolution pixels, on a grid of `step`."""
    return max(1, round(full_radius / step))
