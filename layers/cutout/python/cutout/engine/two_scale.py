"""Two-scale inference: a second model pass on a close-up of the subject, averaged in.

The model sees every photo squashed to its 320x320 input, so a subject that
fills a quarter of the frame gets a quarter of the model's pixels. After the
pass over the whole photo, the subject's box (soft mask >= 0.5, grown by
`MARGIN` of its size on each side for context) is cut from the photo and passed
through the model again; inside the box the two full-size mattes are averaged,
outside it the first pass stands. This is multi-scale test-time augmentation
(as in Simonyan and Zisserman 2015's multi-scale evaluation), the second scale
chosen by the first pass rather than fixed. The margin and the averaging rule
were chosen before measuring; `bench/two_scale.py` measures it against one pass,
flip TTA and keeping the close-up alone (docs/performance.md).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import matte
from ..types import RGB, Alpha, Bounds, SoftMask

MARGIN = 0.2  # of the subject box's width and height, on each side

Predict = Callable[[RGB], SoftMask]  # an RGB crop -> the model's SxS soft mask of it


def subject_box(soft: SoftMask, width: int, height: int, margin: float = MARGIN
                ) -> Bounds | None:
    """(left, top, right, bottom) in photo pixels of the subject in `soft`, grown by `margin`.

    soft: the model's SxS mask (float, 0..1) of a width x height photo; the
    subject is where soft >= 0.5. The box is clipped to the photo. None when
    nothing reaches 0.5.
    """
    size_y, size_x = soft.shape
    rows = np.flatnonzero((soft >= 0.5).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((soft[rows[0]:rows[-1] + 1] >= 0.5).any(axis=0))
    left, right = cols[0] / size_x * width, (cols[-1] + 1) / size_x * width
    top, bottom = rows[0] / size_y * height, (rows[-1] + 1) / size_y * height
    grow_x, grow_y = margin * (right - left), margin * (bottom - top)
    return (max(0, int(left - grow_x)), max(0, int(top - grow_y)),
            min(width, math.ceil(right + grow_x)), min(height, math.ceil(bottom + grow_y)))


def average_in(alpha: Alpha, close_up: Alpha, box: Bounds) -> Alpha:
    """`alpha` (HxW uint8, the whole photo's) with `close_up` (the box's own matte) averaged in.

    Rounds half up: (a + b + 1) // 2. Pixels outside the box are `alpha`'s.
    """
    left, top, right, bottom = box
    out = np.array(alpha)
    inside = out[top:bottom, left:right].astype(np.uint16)
    inside += close_up
    inside += 1
    out[top:bottom, left:right] = inside >> 1
    return out


def refine(rgb: RGB, soft: SoftMask, alpha: Alpha, predict: Predict) -> Alpha:
    """The two-scale matte of `rgb` (HxWx3 uint8) from its first pass (`soft`, `alpha`).

    predict(rgb crop) -> the model's SxS soft mask of that crop. When the box is
    the whole photo the second pass would see the same input, so it is skipped.
    """
    height, width = rgb.shape[:2]
    box = subject_box(soft, width, height)
    if box is None or box == (0, 0, width, height):
        return alpha
    left, top, right, bottom = box
    close = matte.upsample(predict(np.ascontiguousarray(rgb[top:bottom, left:right])),
                           right - left, bottom - top)
    return average_in(alpha, close, box)
