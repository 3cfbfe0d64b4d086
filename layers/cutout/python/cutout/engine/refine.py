"""Edge refinement: snap the upsampled matte to the photo's colour edges where it is undecided.

The model sees 320x320 pixels, so on a 12 MP photo its outline is a ramp
about a dozen pixels wide that ignores the photo's real edges. A guided filter
(He, Sun and Tang, "Guided Image Filtering", TPAMI 2013, the colour-guide
version of their section 3.5) fits the matte, in each window, as a linear
function of the photo's R, G and B, so the matte's transition moves onto the
colour edge and becomes as sharp (or as soft, in hair) as the photo's.
Only the undecided band changes (0 < alpha < 255 after the matte's contrast
curve), so solid subject and clear background stay as they were: issue 15
records that a grey-guide filter over the whole mask lost IoU on every set.
The coefficients are computed on a small copy and sampled at the band's pixels
(the fast guided filter, He and Sun 2015; engine/lowres.py).
Measured on the shared sets in docs/performance.md; an option, off by default.
"""
from __future__ import annotations

import numpy as np

from . import bands, lowres
from ..types import RGB, Alpha

MODEL_SIDE = 320  # the model's input side: the matte's real resolution
RADIUS_MODEL_PIXELS = 2.0  # window radius in model pixels: the width of the matte's ramp
WORK_PIXELS = 250_000  # the subsampled copy the coefficients are computed on
EPS = 1e-3  # regularisation (intensities 0..1): colour steps under ~0.03 do not count as edges


def _coefficients(image: lowres.Float, p: lowres.Float, radius: int, eps: float
                  ) -> tuple[lowres.Float, lowres.Float]:
    """Window means of the guided filter's a (hxwx3) and b (hxw): q = a . I + b."""
    mean_i = lowres.box(image, radius)
    mean_p = lowres.box(p, radius)
    cov_ip = lowres.box(image * p[:, :, None], radius) - mean_i * mean_p[:, :, None]
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    products = np.stack([image[:, :, i] * image[:, :, j] for i, j in pairs], axis=2)
    means = lowres.box(products, radius)
    sigma = np.empty(image.shape[:2] + (3, 3), dtype=np.float32)
    for k, (i, j) in enumerate(pairs):
        sigma[:, :, i, j] = sigma[:, :, j, i] = means[:, :, k] - mean_i[:, :, i] * mean_i[:, :, j]
    sigma += np.float32(eps) * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sigma, cov_ip[:, :, :, None])[:, :, :, 0].astype(np.float32)
    b = mean_p - (a * mean_i).sum(axis=2)
    return lowres.box(a, radius), lowres.box(b, radius)


def refine(rgb: RGB, alpha: Alpha, eps: float = EPS) -> Alpha:
    """The matte with its undecided band (0 < alpha < 255) refit to the photo's colour edges.

    rgb: HxWx3 uint8 guide; alpha: HxW uint8 matte (0..255) upsampled from the
    model. Returns a new HxW uint8 matte; pixels at 0 or 255 are unchanged.
    Window radius: `RADIUS_MODEL_PIXELS` model pixels, so the same share of the
    subject at any resolution. Raises nothing for valid arrays.
    """
    height, width = alpha.shape
    step = lowres.step_for(width, height, WORK_PIXELS)
    image, p = lowres.unit(rgb[::step, ::step]), lowres.unit(alpha[::step, ::step])
    radius = lowres.radius_at(step, RADIUS_MODEL_PIXELS * max(height, width) / MODEL_SIDE)
    mean_a, mean_b = _coefficients(image, p, radius, eps)
    out = np.empty_like(alpha)

    def band(top: int, bottom: int) -> None:
        out[top:bottom] = alpha[top:bottom]
        rows, cols = np.nonzero((alpha[top:bottom] - np.uint8(1)) < 254)  # 0 < alpha < 255
        if rows.size == 0:
            return
        rows += top
        i = rgb[rows, cols].astype(np.float32) * np.float32(1 / 255)
        q = (lowres.sample(mean_a, rows, cols, step) * i).sum(axis=1) + lowres.sample(mean_b, rows, cols, step)
        out[rows, cols] = np.clip(q * 255 + 0.5, 0, 255).astype(np.uint8)

    bands.map_rows(band, height, width)
    return out
