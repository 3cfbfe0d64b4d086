"""Pillow's resize in tiles, so that time and memory follow the output's pixels whatever its shape.

Pillow precomputes every output line's filter taps (7 doubles each when
enlarging) for the whole call: one call 25 million lines long (a 25 MP image one
pixel high or wide) held ~1.2 GB of them. Here an output longer than `SEGMENT`
lines either way is made in tiles, each resized from the box that maps it onto
the source; Pillow takes a tile's taps from the whole source, not just its box,
so tiles join without seams (a line may differ from a one-piece resize by a level
or two: the rounding of its filter centre). Smaller outputs are one call, as before.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

SEGMENT = 1 << 16  # output lines per call: a tap table of at most ~3.7 MB

Box = tuple[float, float, float, float]


def spans(start: int, stop: int) -> list[tuple[int, int]]:
    """[start, stop) cut into consecutive ranges of at most `SEGMENT`."""
    return [(first, min(first + SEGMENT, stop)) for first in range(start, stop, SEGMENT)]


def resize(image: Image.Image, width: int, height: int, box: Box | None = None,
           reducing_gap: float | None = None, lut: list[int] | None = None,
           method: Image.Resampling = Image.Resampling.LANCZOS) -> np.ndarray:
    """`box` of `image` (left, top, right, bottom in source pixels; all of it by default)
    resized to width x height with `method`: an HxW (one band) or HxWxC uint8 array.

    reducing_gap: Pillow's, for large reductions (a box reduction first). lut: a
    256-entry table every output value goes through (`Image.point`, a C lookup).
    Raises nothing for sizes of at least 1 x 1.
    """

    def piece(size: tuple[int, int], part: Box | None) -> np.ndarray:
        resized = image.resize(size, method, box=part, reducing_gap=reducing_gap)
        return np.asarray(resized if lut is None else resized.point(lut))

    if width <= SEGMENT and height <= SEGMENT:
        return piece((width, height), box)
    left, top, right, bottom = box or (0.0, 0.0, float(image.width), float(image.height))
    step_x, step_y = (right - left) / width, (bottom - top) / height
    bands = len(image.getbands())
    out = np.empty((height, width) if bands == 1 else (height, width, bands), np.uint8)
    for y0, y1 in spans(0, height):
        for x0, x1 in spans(0, width):
            out[y0:y1, x0:x1] = piece((x1 - x0, y1 - y0),
                                      (left + x0 * step_x, top + y0 * step_y, left + x1 * step_x, top + y1 * step_y))
    return out
