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
"""
from __future__ import annotations

import numpy as np

from . import bands, lowres
from ..types import RGB, Alpha

# The paper's window radii, in pixels of its test photos (Composition-1k, long
# sides near 2000 px), scaled with the photo's long side. The narrow pass works
# on a copy about the model's own resolution (320x320 = 102k pixels), where the
# matte's edge detail is; the wide pass, smooth over ~90 px, on a smaller one.
WIDE_RADIUS, NARROW_RADIUS, REFERENCE_SIDE = 90, 6, 2000
WORK_PIXELS, WIDE_WORK_PIXELS = 120_000, 20_000
_EPS = np.float32(1e-5)


def _blurred(f: lowres.Float, b: lowres.Float, alpha: lowres.Float, radius: int
             ) -> tuple[lowres.Float, lowres.Float]:
    """Alpha-weighted local means of the foreground and background colours (HxWx3 each)."""
    a = alpha[:, :, None]
    mean_a = lowres.box(a, radius)
    mean_f = lowres.box(f * a, radius) / (mean_a + _EPS)
    mean_b = lowres.box(b * (1 - a), radius) / ((1 - mean_a) + _EPS)
    return mean_f, mean_b


def _solve(image: lowres.Float, alpha: lowres.Float, mean_f: lowres.Float, mean_b: lowres.Float
           ) -> lowres.Float:
    """F = mean_f + alpha (I - alpha mean_f - (1 - alpha) mean_b), clipped to 0..1 (the paper's eq.)."""
    f: lowres.Float = np.clip(mean_f + alpha * (image - alpha * mean_f - (1 - alpha) * mean_b), 0, 1)
    return f


def decontaminate(rgb: RGB, alpha: Alpha, strength: float = 1.0) -> RGB:
    """The photo with its soft-edge pixels recoloured to their estimated foreground colour.

    rgb: HxWx3 uint8; alpha: HxW uint8 (0..255); strength 0..1 blends from the
    photo's colour (0, returned as is) to the estimate (1). Only pixels with
    0 < alpha < 255 change; solid and invisible pixels keep the photo's colour.
    Returns a new HxWx3 uint8 array. The local means are taken on subsampled copies
    (`WORK_PIXELS`, `WIDE_WORK_PIXELS`) and the equation solved at full
    resolution, in row bands, at the edge pixels only. Raises nothing for valid arrays.
    """
    if strength <= 0:
        return rgb
    height, width = alpha.shape
    scale = max(height, width) / REFERENCE_SIDE
    step = lowres.step_for(width, height, WORK_PIXELS)
    wide_step = step * lowres.step_for(width // step or 1, height // step or 1,
                                       WIDE_WORK_PIXELS)
    small_image = lowres.unit(rgb[::wide_step, ::wide_step])
    mean_f, mean_b = _blurred(small_image, small_image, lowres.unit(alpha[::wide_step, ::wide_step]),
                              lowres.radius_at(wide_step, WIDE_RADIUS * scale))
    image, a = lowres.unit(rgb[::step, ::step]), lowres.unit(alpha[::step, ::step])
    mean_f = lowres.resample(mean_f, wide_step, step, a.shape)
    mean_b = lowres.resample(mean_b, wide_step, step, a.shape)
    first = _solve(image, a[:, :, None], mean_f, mean_b)
    mean_f, mean_b = _blurred(first, mean_b, a, lowres.radius_at(step, NARROW_RADIUS * scale))
    fields = np.concatenate([mean_f, mean_b], axis=2)
    out = np.empty_like(rgb)
    weight = np.float32(min(strength, 1.0))

    def band(top: int, bottom: int) -> None:
        out[top:bottom] = rgb[top:bottom]
        rows, cols = np.nonzero((alpha[top:bottom] - np.uint8(1)) < 254)  # 0 < alpha < 255
        if rows.size == 0:
            return
        rows += top
        i = rgb[rows, cols].astype(np.float32) * np.float32(1 / 255)
        av = (alpha[rows, cols].astype(np.float32) * np.float32(1 / 255))[:, None]
        means = lowres.sample(fields, rows, cols, step)  # one gather for both: N x 6
        f = _solve(i, av, means[:, :3], means[:, 3:])
        out[rows, cols] = np.clip((i + weight * (f - i)) * 255 + 0.5, 0, 255).astype(np.uint8)

    bands.map_rows(band, height, width)
    return out
