"""Colour decontamination: the subject's own colour at its soft edge, without the old background's.

A pixel with 0 < alpha < 1 is a mix, I = alpha F + (1 - alpha) B. A cut-out
that keeps I as its colour carries the old background B into every new
composite (a green fringe from a green wall). Blur-fusion foreground
estimation (Forte and Pitie, "Approximate Fast Foreground Colour Estimation",
ICIP 2021, their reference code's `FB_blur_fusion_foreground_estimator_2`)
solves for F with box filters only: local means of the foreground and of the
background, weighted by alpha and 1 - alpha, then the residual of the
compositing equation added back, first with a wide window (90 px) and again
with a narrow one (6 px). This is what remove.bg's ZIP "edge colour
correction" and Adobe's `colorDecontamination` provide.

A model's matte is often too hard: it calls a mixed pixel near the subject's
outline opaque (alpha 255), or more opaque than it is, and that pixel keeps
the old background's colour. So the opacity used for the colour estimate
(never the matte, which is not changed) is also read from each pixel's colour:
its place on the line between the local foreground and background colours
(`line_alpha`, Bayesian matting's estimate for known F and B). Opaque pixels
within `INSIDE_RADIUS` of background take that opacity; soft ones the smaller
of the matte's and the line's plus `SOFT_GAP`. Both passes of means use it, so
the mixed pixels no longer pull the local foreground colour toward the old
background, and the opaque pixels it calls mixed are unmixed like soft ones.
"""
from __future__ import annotations

import numpy as np

from . import bands, lowres, matte
from ..types import RGB, Alpha

# The paper's window radii, in pixels of its test photos (Composition-1k, long
# sides near 2000 px), scaled with the photo's long side. The narrow pass works
# on a copy about the model's own resolution (320x320 = 102k pixels), where the
# matte's edge detail is; the wide pass, smooth over ~90 px, on a smaller one.
WIDE_RADIUS, NARROW_RADIUS, REFERENCE_SIDE = 90, 6, 2000
WORK_PIXELS, WIDE_WORK_PIXELS = 120_000, 20_000
_EPS = np.float32(1e-5)
# How far inside the matte's edge opaque pixels may be unmixed: 4 model pixels
# (320 across) at the reference side, scaled like the radii (the model's outline
# is seldom off by more). A pixel within INSIDE_MARGIN of F along the F-B line
# (texture, noise) counts as opaque; where |F - B| < MIN_CONTRAST (0..1 units,
# ~25 levels) the line says nothing. A soft pixel's opacity is lowered to the
# line's only beyond SOFT_GAP (where the matte is soft it is mostly right).
# Radius and margins chosen a priori, SOFT_GAP (0 / 0.2 / 0.4) on composites of
# scikit-image's sample photos so that the colour error against the truth does
# not rise (never on the evaluation photos).
INSIDE_RADIUS, INSIDE_MARGIN, MIN_CONTRAST, SOFT_GAP = 25, 0.1, 0.1, 0.4
_REACH = np.float32(1e-3)  # a background share below this within the inside radius counts as none
# Pixels per slice of the full-resolution passes: their temporaries stay in the CPU's cache.
CHUNK_PIXELS = 1 << 16


def _blurred(f: lowres.Float, b: lowres.Float, alpha: lowres.Float, radius: int
             ) -> tuple[lowres.Float, lowres.Float]:
    """Alpha-weighted local means of the foreground and background colours (3xHxW planes each).

    f, b: 3xHxW; alpha: HxW. The three sums (alpha, alpha F, (1 - alpha) B)
    share one box filter over 7 planes.
    """
    sums = lowres.box(np.concatenate([alpha[None], f * alpha, b * (1 - alpha)]), radius, axes=(1, 2))
    mean_a = sums[0]
    mean_f = sums[1:4] / (mean_a + _EPS)
    mean_b = sums[4:] / ((1 - mean_a) + _EPS)
    return mean_f, mean_b


def line_alpha(image: lowres.Float, mean_f: lowres.Float, mean_b: lowres.Float) -> lowres.Float:
    """Each pixel's opacity read from its colour: its place on the local F-B colour line, 0..1 (float32).

    image, mean_f, mean_b: 3x... float32 planes (0..1); returns the planes' shape
    without the 3. Bayesian matting's estimate for known F and B (Chuang, Curless,
    Salesin and Szeliski, "A Bayesian Approach to Digital Matting", CVPR 2001:
    alpha = (I - B).(F - B) / |F - B|^2), the colour line model of Levin,
    Lischinski and Weiss (CVPR 2006) with the line through the local means. A
    pixel within `INSIDE_MARGIN` of F (texture, noise) counts as opaque: alpha is
    that projection divided by 1 - INSIDE_MARGIN, clipped. Where F and B are
    closer than `MIN_CONTRAST` the line says nothing, and alpha is 1.
    """
    d = mean_f - mean_b
    contrast = np.einsum("c...,c...->...", d, d)
    along = np.einsum("c...,c...->...", image - mean_b, d)
    a: lowres.Float = along / (contrast * np.float32(1 - INSIDE_MARGIN) + _EPS)
    np.clip(a, 0, 1, out=a)
    a[contrast < np.float32(MIN_CONTRAST * MIN_CONTRAST)] = 1
    return a


def _window(first: int, stop: int, margin: int, size: int) -> tuple[int, int]:
    """The grid range [first, stop) widened by `margin` cells each side, within 0..size."""
    return max(0, first - margin), min(size, stop + margin)


def _colour_alpha(image: lowres.Float, alpha: lowres.Float, mean_f: lowres.Float, mean_b: lowres.Float,
                  reach: lowres.Float) -> tuple[lowres.Float, np.ndarray]:
    """The opacity used for the colour estimate on a grid, and where the colour line calls a pixel mixed.

    image, mean_f, mean_b: 3xhxw float32; alpha, reach (the background's share
    within `INSIDE_RADIUS`): hxw. Where background is in reach, an opaque pixel
    takes the colour line's opacity and a soft one the smaller of its own and the
    line's plus `SOFT_GAP`; elsewhere the matte's. Returns (hxw float32, hxw bool).
    """
    line = line_alpha(image, mean_f, mean_b)
    near = (reach > _REACH) & (reach < 1 - _REACH)
    colour = np.where(alpha == 1, line, np.minimum(alpha, line + np.float32(SOFT_GAP)))
    return np.where(near, colour, alpha), line < 1


def _solve(image: lowres.Float, alpha: lowres.Float, mean_f: lowres.Float, mean_b: lowres.Float
           ) -> lowres.Float:
    """F = mean_f + alpha (I - alpha mean_f - (1 - alpha) mean_b), clipped to 0..1 (the paper's eq.).

    image, mean_f, mean_b: 3x... planes; alpha: the planes' shape without the 3.
    """
    # expanded, F = (1 - alpha^2) mean_f + alpha I - alpha (1 - alpha) mean_b: fewer whole-array passes
    f: lowres.Float = mean_f * (1 - alpha * alpha)
    f += np.multiply(image, alpha, dtype=np.float32)
    f -= mean_b * (alpha * (1 - alpha))
    return np.clip(f, 0, 1, out=f)


def decontaminate(rgb: RGB, alpha: Alpha, strength: float = 1.0) -> RGB:
    """The photo with its edge pixels recoloured to their estimated foreground colour.

    rgb: HxWx3 uint8; alpha: HxW uint8 (0..255); strength 0..1 blends from the
    photo's colour (0, returned as is) to the estimate (1). Pixels with
    0 < alpha < 255 change, and opaque ones within `INSIDE_RADIUS` of background
    whose colour lies on the way to the background's (`line_alpha` < 1); clear
    pixels and the rest of the opaque ones keep the photo's colour. The matte is
    not changed. Returns a new HxWx3 uint8 array. The local means are taken on subsampled copies
    (`WORK_PIXELS`, `WIDE_WORK_PIXELS`), only inside the bounding box of the edge
    pixels plus each pass's window (a box mean needs nothing farther away, so the
    result is the whole-image computation's; with no soft pixel, the opaque
    pixels' box), and the equation solved at full resolution, in row bands, at
    the edge pixels only. Raises nothing for valid arrays.
    """
    if strength <= 0:
        return rgb
    height, width = alpha.shape
    rgb = np.ascontiguousarray(rgb)
    out = np.empty_like(rgb)

    def find(top: int, bottom: int) -> np.ndarray:
        out[top:bottom] = rgb[top:bottom]
        rows = max(1, CHUNK_PIXELS // width)  # a few rows at a time, their temporaries in cache
        found = [np.flatnonzero((alpha[r:r + rows] - np.uint8(1)) < 254) + r * width  # 0 < alpha < 255
                 for r in range(top, bottom, rows)]
        return np.concatenate(found)

    edge = np.concatenate(bands.map_rows(find, height, width))  # flat indices, in row order
    if edge.size:
        cols = edge % width
        first_row, last_row = int(edge[0]) // width, int(edge[-1]) // width
        first_col, last_col = int(cols.min()), int(cols.max())
    else:  # a binary matte: its opaque pixels' box (their edge is a hard one)
        box = matte.bounding_box(alpha, 255)
        if box is None:
            return out
        first_col, first_row = box[0], box[1]
        last_col, last_row = box[0] + box[2] - 1, box[1] + box[3] - 1

    scale = max(height, width) / REFERENCE_SIDE
    step = lowres.step_for(width, height, WORK_PIXELS)
    wide_step = step * lowres.step_for(width // step or 1, height // step or 1,
                                       WIDE_WORK_PIXELS)
    narrow_r = lowres.radius_at(step, NARROW_RADIUS * scale)
    wide_r = lowres.radius_at(wide_step, WIDE_RADIUS * scale)
    # The narrow grid's cells the edge pixels' bilinear samples read, plus the
    # narrow window; the wide grid's cells that this window resamples, plus the wide one.
    h, w = -(-height // step), -(-width // step)
    inside_r = lowres.radius_at(step, INSIDE_RADIUS * scale)
    margin = max(narrow_r, inside_r)
    ny = _window(first_row // step, min(h, last_row // step + 2), margin, h)
    nx = _window(first_col // step, min(w, last_col // step + 2), margin, w)
    wh, ww = -(-height // wide_step), -(-width // wide_step)
    wy = _window(ny[0] * step // wide_step, min(wh, (ny[1] - 1) * step // wide_step + 2), wide_r, wh)
    wx = _window(nx[0] * step // wide_step, min(ww, (nx[1] - 1) * step // wide_step + 2), wide_r, ww)

    def grid(pixels: np.ndarray, rows: tuple[int, int], columns: tuple[int, int], s: int) -> lowres.Float:
        """Every s-th pixel of the window, as float32 0..1 planes (3xhxw for colour)."""
        cells = pixels[rows[0] * s:(rows[1] - 1) * s + 1:s, columns[0] * s:(columns[1] - 1) * s + 1:s]
        return lowres.unit(np.ascontiguousarray(np.moveaxis(cells, 2, 0)) if cells.ndim == 3 else cells)

    # The wide pass twice: the second with the opacity the colour line gives the
    # pixels near the edge (`_colour_alpha`), so that the mixed pixels a too hard
    # matte calls opaque no longer pull the local foreground colour toward the old background.
    small_image, small_alpha = grid(rgb, wy, wx, wide_step), grid(alpha, wy, wx, wide_step)
    mean_f, mean_b = _blurred(small_image, small_image, small_alpha, wide_r)
    reach = lowres.box(1 - small_alpha, lowres.radius_at(wide_step, INSIDE_RADIUS * scale))
    small_alpha, _ = _colour_alpha(small_image, small_alpha, mean_f, mean_b, reach)
    mean_f, mean_b = _blurred(small_image, small_image, small_alpha, wide_r)
    image, a = grid(rgb, ny, nx, step), grid(alpha, ny, nx, step)
    origin, to_origin = (wy[0], wx[0]), (ny[0], nx[0])
    means = lowres.resample(np.concatenate([mean_f, mean_b]), wide_step, step, a.shape, origin,
                            to_origin, axes=(1, 2))
    wide_f, wide_b = means[:3], means[3:]
    reach = lowres.box(1 - a, inside_r)  # the background's share within the inside radius
    opaque = a == 1
    a, mixed = _colour_alpha(image, a, wide_f, wide_b, reach)
    first = _solve(image, a, wide_f, wide_b)
    mean_f, mean_b = _blurred(first, wide_b, a, narrow_r)
    # One gather per corner: opaque pixels read planes 0..6, soft ones 4..9.
    fields = np.concatenate([wide_b, reach[None], mean_f, mean_b])
    # The cells whose opaque pixels may carry background: background in reach, and an
    # opaque sample and a mixed one in or beside them. Only their pixels are read.
    beside = lowres.box(np.stack([opaque, mixed]).astype(np.float32), 1, axes=(1, 2)) > 0
    inside = _inside((reach > _REACH) & beside[0] & beside[1], alpha, (ny[0], nx[0]), step)
    flat_rgb, flat_alpha, flat_out = rgb.reshape(-1), alpha.reshape(-1), out.reshape(-1)
    weight = np.float32(min(strength, 1.0))

    def band(top: int, bottom: int) -> None:
        lines = max(1, CHUNK_PIXELS // width)  # a few rows at a time, their temporaries in cache
        for row in range(top, bottom, lines):
            span = (row * width, min(bottom, row + lines) * width)
            for pixels, solid in ((edge, False), (inside, True)):
                lo, hi = np.searchsorted(pixels, span)
                if hi > lo:
                    solve(pixels[lo:hi], solid)

    def solve(idx: np.ndarray, solid: bool) -> None:
        """Recolour the edge pixels at these flat indices (ascending, a few rows' worth).

        solid: they are the opaque pixels just inside the edge (else the soft ones).
        """
        rows = idx // width
        cols = idx - rows * width
        channels = idx * 3
        i = np.stack([np.take(flat_rgb, channels + c) for c in range(3)]).astype(np.float32)
        i *= np.float32(1 / 255)
        rows, cols = rows - ny[0] * step, cols - nx[0] * step
        if solid:
            sampled = lowres.sample_planes(fields[:7], rows, cols, step)
            mb, mf = sampled[:3], sampled[4:7]
            av = line_alpha(i, mf, mb)
            av[sampled[3] <= _REACH] = 1  # no background within reach: B is not known
            keep = np.flatnonzero(av < 1)  # the others keep their colour
            i, mf, mb, av, channels = i[:, keep], mf[:, keep], mb[:, keep], av[keep], channels[keep]
        else:
            sampled = lowres.sample_planes(fields[4:], rows, cols, step)
            mf, mb = sampled[:3], sampled[3:]
            av = np.take(flat_alpha, idx).astype(np.float32) * np.float32(1 / 255)
        f = _solve(i, av, mf, mb)
        if weight < 1:  # blend towards the photo's colour: i + weight (f - i)
            f -= i
            f *= weight
            f += i
        f *= 255
        f += 0.5  # rounded; f is within 0..1 (a blend of two colours that are), so no clip
        colour = f.astype(np.uint8)
        for c in range(3):
            flat_out[channels + c] = colour[c]

    bands.map_rows(band, height, width)
    return out


def _inside(near: np.ndarray, alpha: Alpha, origin: tuple[int, int], step: int) -> np.ndarray:
    """Flat indices (ascending) of the opaque pixels (alpha 255) in the grid cells marked `near`.

    near: hxw bool on the narrow grid whose cell [j, i] starts at full pixel
    ((origin[0] + j) * step, (origin[1] + i) * step) and spans step x step pixels;
    alpha: HxW uint8. Built without a loop over rows: each grid row's run of cell
    columns is repeated for each of its `step` pixel rows.
    """
    height, width = alpha.shape
    cy, cx = np.nonzero(near)  # grouped by grid row, columns ascending
    offsets = np.arange(step)
    columns = (((cx + origin[1]) * step)[:, None] + offsets).ravel()  # every cell's pixel columns
    counts = np.bincount(cy, minlength=near.shape[0]) * step  # pixel columns per grid row
    starts = np.cumsum(counts) - counts
    used = np.flatnonzero(counts)
    # one segment per (grid row, pixel row within it): that grid row's columns on that pixel row
    seg_rows = (((used + origin[0]) * step)[:, None] + offsets).ravel()
    seg_starts, seg_lengths = np.repeat(starts[used], step), np.repeat(counts[used], step)
    seg = np.repeat(np.arange(seg_rows.size), seg_lengths)
    within = np.arange(seg.size) - np.repeat(np.cumsum(seg_lengths) - seg_lengths, seg_lengths)
    rows, cols = seg_rows[seg], columns[seg_starts[seg] + within]
    idx = (rows * width + cols)[(rows < height) & (cols < width)]
    return idx[np.take(alpha.reshape(-1), idx) == 255]
