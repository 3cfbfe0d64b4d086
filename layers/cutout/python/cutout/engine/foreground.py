"""Colour decontamination: the subject's own colour at its soft edge, without the old background's.

A pixel with 0 < alpha < 1 is a mix, I = alpha F + (1 - alpha) B. A cut-out
that keeps I as its colour carries the old background B into every new
composite (a green fringe from a green wall). Blur-fusion foreground
estimation (Forte and Pitie, "Approximate Fast Foreground Colour Estimation",
ICIP 2021, their reference code's `FB_blur_fusion_foreground_estimator_2`)
solves for F with box filters only: local means of the foreground and of the
background, weighted by alpha and 1 - alpha, then the residual of the
compositing equation added back, first with a wide window (90 px) and again
with a narrow one (6 px). Our one change: the residual's part that points
toward the local background colour is dropped (`_solve`), because the model's
matte is often more opaque than the photo just outside the subject. This is
what remove.bg's ZIP "edge colour correction" and Adobe's
`colorDecontamination` provide.
"""
from __future__ import annotations

import numpy as np

from . import bands, lowres
from ..types import RGB, Alpha, Bounds

# The paper's window radii, in pixels of its test photos (Composition-1k, long
# sides near 2000 px), scaled with the photo's long side. The narrow pass works
# on a copy about the model's own resolution (320x320 = 102k pixels), where the
# matte's edge detail is; the wide pass, smooth over ~90 px, on a smaller one.
WIDE_RADIUS, NARROW_RADIUS, REFERENCE_SIDE = 90, 6, 2000
WORK_PIXELS, WIDE_WORK_PIXELS = 120_000, 20_000
# The weight of each local mean's prior (see _blurred): above the float32 box sums' rounding
# noise (~3e-5 after a cumulative sum), below the alpha mass of any window at a real edge.
_PRIOR = np.float32(3e-4)
# Edge pixels solved per slice: enough that NumPy's per-call cost (some 30 calls per
# slice) is small, few enough that the slice's temporaries stay in cache. Slicing
# by rows instead (a few rows, ~2,700 edge pixels at 12 MP) took 35 ms there, this 10.
EDGE_CHUNK = 1 << 14
# Pixels scanned for edge pixels at a time when solving: the block's index list (8 bytes
# per edge pixel) and sample_planes' per-row table stay a few MB whatever the matte,
# where one list for the whole photo took 8 bytes per pixel of a matte soft everywhere
# (+100 MB at 12 MP).
SOLVE_BLOCK_PIXELS = 1 << 18
# Rows one solve may span at most (blocks are gathered until EDGE_CHUNK pixels or this):
# sample_planes interpolates the field once per row a slice spans.
SOLVE_ROWS = 256


def _blurred(f: lowres.Float, b: lowres.Float, alpha: lowres.Float, radius: int
             ) -> tuple[lowres.Float, lowres.Float]:
    """Alpha-weighted local means of the foreground and background colours (3xHxW planes each).

    f, b: 3xHxW; alpha: HxW. The three sums (alpha, alpha F, (1 - alpha) B) share
    one box filter over 7 planes. Each mean leans on a prior with weight `_PRIOR`:
    the cell's own F for the foreground, the foreground mean for the background. So
    a window with no foreground weight (a faint strand between the subsampled grid's
    rows) keeps its own colour instead of reading as a black foreground, and one
    with no background pushes nothing away.
    """
    sums = lowres.box(np.concatenate([alpha[None], f * alpha, b * (1 - alpha)]), radius, axes=(1, 2))
    mean_a = sums[0]
    mean_f = (sums[1:4] + f * _PRIOR) / (mean_a + _PRIOR)
    mean_b = (sums[4:7] + mean_f * _PRIOR) / ((1 - mean_a) + _PRIOR)
    return mean_f, mean_b


def _window(first: int, stop: int, margin: int, size: int) -> tuple[int, int]:
    """The grid range [first, stop) widened by `margin` cells each side, within 0..size."""
    return max(0, first - margin), min(size, stop + margin)


def _solve(image: lowres.Float, alpha: lowres.Float, mean_f: lowres.Float, mean_b: lowres.Float
           ) -> lowres.Float:
    """F = mean_f + alpha r, clipped to 0..1: the paper's equation, r kept from pointing at the background.

    image, mean_f, mean_b: 3x... planes; alpha: the planes' shape without the 3.
    r = I - alpha mean_f - (1 - alpha) mean_b is the compositing equation's residual.
    Its part along mean_b - mean_f, where positive, is dropped: it is what a matte
    more opaque than the photo leaves (a background pixel the matte half-keeps reads
    as foreground plus background colour), so adding it back paints the old
    background into the estimate. On the shared sets' composites with Cutout's own
    matte this removes 49-56% of the spill (34-43% with the paper's equation) and
    lowers the colour error; with the true matte, whose residual is only the
    photo's texture, the colour error rises by a level (docs/performance.md, stop 20).
    """
    residual: lowres.Float = image - mean_b
    residual -= (mean_f - mean_b) * alpha  # I - alpha F - (1 - alpha) B
    toward_b: lowres.Float = mean_b - mean_f
    along = (residual * toward_b).sum(axis=0)
    length = (toward_b * toward_b).sum(axis=0)
    np.maximum(along, 0, out=along)
    along /= np.maximum(length, np.float32(1e-12))  # no background pull where F and B agree
    residual -= toward_b * along
    residual *= alpha
    residual += mean_f
    return np.clip(residual, 0, 1, out=residual)


def _soft(alpha: Alpha, top: int, bottom: int, left: int = 0, right: int | None = None) -> np.ndarray:
    """Which pixels of alpha[top:bottom, left:right] are soft, 0 < alpha < 255 (bool)."""
    return (alpha[top:bottom, left:right] - np.uint8(1)) < 254


def _edge_box(alpha: Alpha) -> Bounds | None:
    """The bounds of the soft pixels, or None; found in bands.

    Memory stays a few rows' worth whatever the matte (a bool per column at most).
    """
    height, width = alpha.shape

    Rows = tuple[int, int, int, int]  # first row, last row, first column, last column

    def find(top: int, bottom: int) -> Rows | None:
        rows = max(1, SOLVE_BLOCK_PIXELS // width)  # a block's temporaries: a few hundred kB
        box: Rows | None = None
        for r in range(top, bottom, rows):
            block = _soft(alpha, r, min(r + rows, bottom))
            lines: np.ndarray = np.any(block, axis=1)
            if not lines.any():
                continue
            columns: np.ndarray = np.any(block, axis=0)
            here = (r + int(lines.argmax()), r + len(lines) - 1 - int(lines[::-1].argmax()),
                    int(columns.argmax()), width - 1 - int(columns[::-1].argmax()))
            box = here if box is None else (box[0], here[1], min(box[2], here[2]), max(box[3], here[3]))
        return box

    boxes = [b for b in bands.map_rows(find, height, width) if b is not None]
    if not boxes:
        return None
    return (min(b[2] for b in boxes), boxes[0][0], max(b[3] for b in boxes) + 1, boxes[-1][1] + 1)


def decontaminate(rgb: RGB, alpha: Alpha, strength: float = 1.0) -> RGB:
    """The photo with its soft-edge pixels recoloured to their estimated foreground colour.

    rgb: HxWx3 uint8; alpha: HxW uint8 (0..255), the same height and width;
    strength 0..1 blends from the photo's colour (0) to the estimate (1). Only pixels
    with 0 < alpha < 255 change; solid and invisible pixels keep the photo's colour.
    Returns a new HxWx3 uint8 array, or `rgb` itself when nothing changes (strength 0,
    no soft pixel). The local means are taken on subsampled copies (`WORK_PIXELS`,
    `WIDE_WORK_PIXELS`), only inside the bounding box of the soft pixels plus each
    pass's window (a box mean needs nothing farther away, so the result is the
    whole-image computation's), and the equation solved at full resolution, in row
    bands, at the soft pixels only, found block by block (`SOLVE_BLOCK_PIXELS`), so
    memory beyond the copy stays fixed whatever the matte. Raises nothing for valid arrays.
    """
    if strength <= 0:
        return rgb
    box = _edge_box(alpha)
    if box is None:
        return rgb
    left, top, right, bottom = box
    first_row, last_row, first_col, last_col = top, bottom - 1, left, right - 1
    height, width = alpha.shape
    rgb = np.ascontiguousarray(rgb)

    scale = max(height, width) / REFERENCE_SIDE
    # at most ~WORK_PIXELS cells along a very long side too (a 1-pixel-high panorama)
    step = max(lowres.step_for(width, height, WORK_PIXELS), -(-max(height, width) // WORK_PIXELS))
    wide_step = step * lowres.step_for(width // step or 1, height // step or 1,
                                       WIDE_WORK_PIXELS)
    narrow_r = lowres.radius_at(step, NARROW_RADIUS * scale)
    wide_r = lowres.radius_at(wide_step, WIDE_RADIUS * scale)
    # The narrow grid's cells the edge pixels' bilinear samples read, plus the
    # narrow window; the wide grid's cells that this window resamples, plus the wide one.
    h, w = -(-height // step), -(-width // step)
    ny = _window(first_row // step, min(h, last_row // step + 2), narrow_r, h)
    nx = _window(first_col // step, min(w, last_col // step + 2), narrow_r, w)
    wh, ww = -(-height // wide_step), -(-width // wide_step)
    wy = _window(ny[0] * step // wide_step, min(wh, (ny[1] - 1) * step // wide_step + 2), wide_r, wh)
    wx = _window(nx[0] * step // wide_step, min(ww, (nx[1] - 1) * step // wide_step + 2), wide_r, ww)

    def grid(pixels: np.ndarray, rows: tuple[int, int], columns: tuple[int, int], s: int) -> lowres.Float:
        """Every s-th pixel of the window, as float32 0..1 planes (3xhxw for colour)."""
        cells = pixels[rows[0] * s:(rows[1] - 1) * s + 1:s, columns[0] * s:(columns[1] - 1) * s + 1:s]
        return lowres.unit(np.ascontiguousarray(np.moveaxis(cells, 2, 0)) if cells.ndim == 3 else cells)

    small_image = grid(rgb, wy, wx, wide_step)
    mean_f, mean_b = _blurred(small_image, small_image, grid(alpha, wy, wx, wide_step), wide_r)
    image, a = grid(rgb, ny, nx, step), grid(alpha, ny, nx, step)
    origin, to_origin = (wy[0], wx[0]), (ny[0], nx[0])
    means = lowres.resample(np.concatenate([mean_f, mean_b]), wide_step, step, a.shape, origin,
                            to_origin, axes=(1, 2))
    first = _solve(image, a, means[:3], means[3:])
    mean_f, mean_b = _blurred(first, means[3:], a, narrow_r)
    fields = np.concatenate([mean_f, mean_b])  # 6 planes, sampled with one gather per corner
    out = np.empty_like(rgb)
    flat_rgb, flat_alpha, flat_out = rgb.reshape(-1), alpha.reshape(-1), out.reshape(-1)
    weight = np.float32(min(strength, 1.0))

    def band(top: int, bottom: int) -> None:
        out[top:bottom] = rgb[top:bottom]
        lines = max(1, SOLVE_BLOCK_PIXELS // width)
        span = min(width, max(1, SOLVE_BLOCK_PIXELS // lines))  # a block's columns (all but in panoramas)
        pending: list[np.ndarray] = []  # blocks' edge pixels gathered for one solve
        count, since = 0, 0

        def flush() -> None:
            idx = np.concatenate(pending) if len(pending) > 1 else pending[0]
            for lo in range(0, idx.size, EDGE_CHUNK):
                solve(idx[lo:lo + EDGE_CHUNK])
            pending.clear()

        for r in range(max(top, first_row), min(bottom, last_row + 1), lines):
            end = min(r + lines, bottom)
            for c in range(first_col, last_col + 1, span):
                in_rows, in_cols = np.nonzero(_soft(alpha, r, end, c, min(c + span, last_col + 1)))
                if in_rows.size:
                    if not pending:
                        since = r
                    pending.append((in_rows + r) * width + (in_cols + c))  # flat, ascending
                    count += in_rows.size
                if pending and (count >= EDGE_CHUNK or end - since >= SOLVE_ROWS):
                    flush()
                    count = 0
        if pending:
            flush()

    def solve(idx: np.ndarray) -> None:
        """Recolour the edge pixels at these flat indices (ascending; a slice, see EDGE_CHUNK)."""
        rows = idx // width
        cols = idx - rows * width
        channels = idx * 3
        i = np.stack([np.take(flat_rgb, channels + c) for c in range(3)]).astype(np.float32)
        i *= np.float32(1 / 255)
        av = np.take(flat_alpha, idx).astype(np.float32) * np.float32(1 / 255)
        means = lowres.sample_planes(fields, rows - ny[0] * step, cols - nx[0] * step, step)
        f = _solve(i, av, means[:3], means[3:])
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
