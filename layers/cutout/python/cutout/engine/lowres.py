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
# Box windows up to this radius are summed from shifted copies, wider ones by cumulative sums
# (a cumsum costs about as much as eight whole-array additions).
SHIFTED_SUMS_UP_TO = 4


def step_for(width: int, height: int, pixels: int) -> int:
    """The subsampling step that leaves at most about `pixels` pixels (1: the photo is small)."""
    return max(1, math.ceil(math.sqrt(width * height / pixels)))


def unit(pixels: np.ndarray) -> Float:
    """uint8 0..255 as float32 0..1 (any shape)."""
    out: Float = pixels.astype(np.float32) * np.float32(1 / 255)
    return out


def box(x: Float, radius: int, axes: tuple[int, int] = (0, 1)) -> Float:
    """Mean over the (2r+1)x(2r+1) window around each pixel, clipped at the borders.

    x: HxW or HxWxC float32 (or CxHxW planes with axes=(1, 2)). Near a border the mean is over the pixels inside
    the image (the window's in-image count), so ratios of two box means (the
    blur-fusion estimator, the guided filter) stay unbiased there.
    """
    out = x
    for axis in axes:
        n = out.shape[axis]

        def along(index: slice | np.ndarray) -> tuple[slice | np.ndarray, ...]:
            return (slice(None),) * axis + (index,)

        idx = np.arange(n)
        lo, hi = np.maximum(idx - radius, 0), np.minimum(idx + radius + 1, n)
        if radius <= SHIFTED_SUMS_UP_TO:
            # a narrow window: its few shifted copies added up (whole contiguous lines, no cumsum)
            window = out.astype(np.float32, copy=True)
            for d in range(1, min(radius, n - 1) + 1):
                window[along(slice(d, None))] += out[along(slice(0, n - d))]
                window[along(slice(0, n - d))] += out[along(slice(d, None))]
        else:
            summed = np.empty(out.shape[:axis] + (n + 1,) + out.shape[axis + 1:], np.float32)
            summed[along(slice(0, 1))] = 0
            np.cumsum(out, axis=axis, dtype=np.float32, out=summed[along(slice(1, None))])
            window = np.empty(out.shape, np.float32)
            # lines whose window lies inside: one slice difference; the clipped ones gathered
            start, stop = min(radius, n), max(min(radius, n), n - radius)
            window[along(slice(start, stop))] = (summed[along(slice(start + radius + 1, stop + radius + 1))]
                                                 - summed[along(slice(start - radius, stop - radius))])
            rest = np.r_[0:start, stop:n]
            window[along(rest)] = np.take(summed, hi[rest], axis=axis) - np.take(summed, lo[rest], axis=axis)
        shape = [1] * out.ndim
        shape[axis] = n
        window /= (hi - lo).astype(np.float32).reshape(shape)
        out = window
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


def sample_planes(planes: Float, rows: np.ndarray, cols: np.ndarray, step: float) -> Float:
    """`sample` for a field stored as C planes (CxHxW float32), at pixels in row-major order; CxN float32.

    rows must be sorted (ascending), as flat indices in row-major order give them.
    The field is first interpolated once per full-resolution row in rows[0]..rows[-1],
    then along each row at the pixels: two gathers per pixel instead of four.
    Channels first keeps every NumPy inner loop N long (a trailing axis of 3 or 6
    makes each ufunc call step through N tiny loops, several times slower).
    """
    c, h, w = planes.shape
    x = np.clip(cols * np.float32(1 / step), 0, w - 1).astype(np.float32)
    x0 = x.astype(np.intp)
    fx = x - x0.astype(np.float32)
    first, start = int(rows[0]), int(x0.min())
    stop = min(w, int(x0.max()) + 2)  # the columns the pixels read
    line = np.arange(first, int(rows[-1]) + 1)
    y = np.clip(line * np.float32(1 / step), 0, h - 1).astype(np.float32)
    y0 = y.astype(np.intp)
    fy = (y - y0.astype(np.float32))[:, None]
    above, below = planes[:, y0, start:stop], planes[:, np.minimum(y0 + 1, h - 1), start:stop]
    lines = (above + (below - above) * fy).reshape(c, -1)  # C x (rows * columns)
    left = (rows - first) * (stop - start) + (x0 - start)
    p0, p1 = np.take(lines, left, axis=1), np.take(lines, left + (x0 + 1 < w), axis=1)
    result: Float = p0 + (p1 - p0) * fx
    return result


def resample(field: Float, step: int, to_step: int, shape: tuple[int, int],
             origin: tuple[int, int] = (0, 0), to_origin: tuple[int, int] = (0, 0),
             axes: tuple[int, int] = (0, 1)) -> Float:
    """A field on a `step` grid resampled (bilinear) onto a finer `to_step` grid of shape (h, w).

    field[j, i] holds full pixel ((origin[0] + j) * step, (origin[1] + i) * step),
    and output [j, i] full pixel ((to_origin[0] + j) * to_step, ...): either may be
    a window of its whole grid. Positions outside the field take its edge values.
    `axes`: the field's row and column axes ((1, 2) for CxHxW planes).
    Separable: columns are interpolated, then rows.
    """
    out = field
    for k in (1, 0):  # columns first, on the smaller array; then whole rows
        axis, n = axes[k], shape[k]
        size = out.shape[axis]
        full = (np.arange(n) + to_origin[k]) * to_step
        pos = np.clip(full / step - origin[k], 0, size - 1).astype(np.float32)
        lo = pos.astype(np.intp)
        hi = np.minimum(lo + 1, size - 1)
        weight_shape = [1] * out.ndim
        weight_shape[axis] = n
        frac = (pos - lo.astype(np.float32)).reshape(weight_shape)  # float32, like the field
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def radius_at(step: int, full_radius: float) -> int:
    """A window radius of `full_radius` full-resolution pixels, on a grid of `step`."""
    return max(1, round(full_radius / step))
