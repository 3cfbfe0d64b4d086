"""From a photo to its alpha matte: the model's pass(es), the tiers' augmentations, the full-size matte.

`soft_and_matte` is the step `pipeline.cut` calls between decoding and layout;
the evaluation, the jobs' mask and PSD products and the benchmarks call the
pieces directly.
"""
from __future__ import annotations

import numpy as np

from . import matte, refine, two_scale
from ..errors import InputError
from ..types import RGB, Alpha, Bounds, SoftMask
from .model import Segmenter


class NoForeground(InputError):
    """The model found nothing that looks like a subject (only raised when asked to)."""

    code = "unknown_foreground"


# The model's raw output peaks above 0.5 on every photo of the shared evaluation
# sets but below 0.06 on blank, flat or gradient images; Segmenter.run's min-max
# scaling hides that difference, so "is there a subject" is asked before it.
MIN_PEAK = 0.2


def predict(segmenter: Segmenter, rgb: np.ndarray, flip: bool = False) -> tuple[np.ndarray, float]:
    """The soft mask (SxS float32, 0..1, S the model's input size) and the raw output's peak.

    With `flip` the model also sees the mirrored input (the same tensor reversed
    along its width) and the two masks, each min-max scaled, are averaged: the
    mask of a mirrored photo is then exactly the mirror of the photo's mask.
    Costs a second model pass.
    """
    tensor = segmenter.prepare(rgb)
    soft, peak = segmenter.run_with_peak(tensor)
    if flip:
        mirrored, mirrored_peak = segmenter.run_with_peak(np.ascontiguousarray(tensor[..., ::-1]))
        soft += mirrored[:, ::-1]
        soft *= 0.5
        peak = max(peak, mirrored_peak)
    return soft, peak


def _predict(segmenter: Segmenter, rgb: np.ndarray, require_foreground: bool, flip: bool = False
             ) -> np.ndarray:
    """The soft mask; when a subject is required, refuse an image whose raw peak is too low."""
    if not require_foreground and not flip:
        return segmenter.predict(rgb)
    soft, peak = predict(segmenter, rgb, flip)
    if require_foreground and peak < MIN_PEAK:
        raise NoForeground("Could not identify foreground in image: nothing in it was recognised "
                           "as a subject.")
    return soft


def full_matte(soft: SoftMask, rgb: RGB, refine_edges: bool = False,
               close_up: two_scale.Predict | None = None) -> Alpha:
    """The soft mask (SxS float 0..1) as the photo's full-size alpha (HxW uint8), maybe refined.

    close_up(crop) -> the model's soft mask of an RGB crop; given, a second pass on
    the subject's box is averaged in (two_scale.refine) before any edge refinement.
    """
    height, width = rgb.shape[:2]
    alpha = matte.upsample(soft, width, height)
    if close_up is not None:
        alpha = two_scale.refine(rgb, soft, alpha, close_up)
    return refine.refine(rgb, alpha) if refine_edges else alpha


def soft_and_matte(
    rgb: np.ndarray,
    source_alpha: np.ndarray | None,
    segmenter: Segmenter,
    roi: Bounds | None = None,
    require_foreground: bool = False,
    refine_edges: bool = False,
    flip: bool = False,
    close_up: bool = False,
) -> tuple[SoftMask, Alpha]:
    """The model's soft mask and the full-size alpha; with a region of interest the model sees only it.

    An image with its own alpha is shown to the model laid on a backdrop (`matte.model_view`);
    the result keeps what that alpha made transparent transparent (`matte.combine`).
    `flip`: average in the mirrored pass (see `predict`). `close_up`: average in a
    second pass on the subject's box (engine/two_scale.py; inside the region of
    interest when there is one). The soft mask is always the first pass's.
    """
    def model(crop: RGB) -> SoftMask:  # the tier's second pass, if any
        return _predict(segmenter, crop, False, flip)

    rgb = matte.model_view(rgb, source_alpha)
    height, width = rgb.shape[:2]
    if roi is None or roi == (0, 0, width, height):
        soft = _predict(segmenter, rgb, require_foreground, flip)
        alpha = full_matte(soft, rgb, refine_edges, model if close_up else None)
    else:
        left, top, right, bottom = roi
        region = np.ascontiguousarray(rgb[top:bottom, left:right])
        soft = _predict(segmenter, region, require_foreground, flip)
        alpha = np.zeros((height, width), dtype=np.uint8)
        alpha[top:bottom, left:right] = full_matte(soft, region, refine_edges,
                                                   model if close_up else None)
    alpha = matte.combine(alpha, source_alpha)
    if require_foreground and matte.bounding_box(alpha) is None:
        raise NoForeground("Could not identify foreground in image: the subject is fully transparent.")
    return soft, alpha


def matte_of(
    rgb: np.ndarray,
    source_alpha: np.ndarray | None,
    segmenter: Segmenter,
    roi: Bounds | None = None,
    require_foreground: bool = False,
    flip: bool = False,
) -> np.ndarray:
    """The full-size alpha matte; with a region of interest the model sees only that region.

    `flip`: average in the mirrored pass (see `predict`).
    """
    return soft_and_matte(rgb, source_alpha, segmenter, roi, require_foreground, flip=flip)[1]
