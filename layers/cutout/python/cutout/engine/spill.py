"""The spill metric: how much of an old, saturated background a cut-out carries to a new one.

A real subject (a shared set's photo and its truth mask, the mask feathered to
a soft edge) is composited onto a saturated colour, cut out by Cutout, laid on
a neutral grey and compared with the true composite of the same subject on
grey. In the feathered edge band, the part of the difference that points from
grey toward the old colour is spill; its mean is reported in levels (0..255)
with colour decontamination off and on (engine/foreground.py). So that a
change cannot score by pushing colours away from the old backdrop (any
direction but the true one), the same band's mean absolute colour error
against the true composite (all channels, all directions) is reported too.
With the model's matte the figure also holds the matte's own errors (a pixel the matte
calls solid keeps its colour); with the true, feathered matte it measures the
decontamination alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageFilter

from . import foreground
from ..types import RGB, Alpha

BACKDROPS = ((0, 200, 0), (220, 0, 220))  # green screen and magenta: saturated, unlike skin or sky
NEUTRAL = (128, 128, 128)
FEATHER = 2.0  # Gaussian radius (px) that softens the binary truth into a matte with a soft edge


@dataclass(frozen=True)
class Spill:
    """Means over the edge bands, in levels (0..255), decontamination off and on; composites counted.

    off, on: spill (toward the old backdrop); error_off, error_on: mean absolute
    colour error against the true composite on grey (per channel, any direction).
    """

    off: float
    on: float
    count: int
    error_off: float
    error_on: float


def _over(rgb: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    out: np.ndarray = rgb.astype(np.float32) * a + np.asarray(colour, np.float32) * (1.0 - a)
    return out


def case(photo: RGB, truth: np.ndarray, backdrop: tuple[int, int, int],
         matte: Callable[[RGB], Alpha] | None) -> tuple[float, float, float, float] | None:
    """(spill off, spill on, error off, error on) in levels for one photo and truth on one backdrop.

    photo: HxWx3 uint8; truth: HxW uint8. Spill: the mean over the edge band of
    the cut-out-on-grey's difference from the true composite on grey, along the
    direction from grey toward the backdrop, negative parts counted as 0. Error:
    the mean absolute difference per channel in the same band.

    `matte(rgb) -> alpha` is the cut-out's matte (the pipeline's); None uses the
    true feathered matte. Returns None when the truth has no edge.
    """
    binary = Image.fromarray(np.where(truth >= 128, 255, 0).astype(np.uint8))
    feathered = np.asarray(binary.filter(ImageFilter.GaussianBlur(FEATHER)))
    band = (feathered > 0) & (feathered < 255)
    if not band.any():
        return None
    composite = np.clip(_over(photo, feathered, backdrop) + 0.5, 0, 255).astype(np.uint8)
    target = _over(photo, feathered, NEUTRAL)[band]
    direction = np.asarray(backdrop, np.float32) - np.asarray(NEUTRAL, np.float32)
    direction /= np.linalg.norm(direction)
    alpha = feathered if matte is None else matte(composite)
    spills, errors = [], []
    for subject in (composite, foreground.decontaminate(composite, alpha)):
        difference = _over(subject, alpha, NEUTRAL)[band] - target
        spills.append(float(np.clip(difference @ direction, 0, None).mean()))
        errors.append(float(np.abs(difference).mean()))
    return spills[0], spills[1], errors[0], errors[1]


def measure(samples: Iterable[tuple[RGB, np.ndarray]], matte: Callable[[RGB], Alpha] | None) -> Spill:
    """Mean spill over (photo HxWx3 uint8, truth HxW uint8) samples, each on every backdrop.

    matte: as in `case` (None: the true matte). The samples are read lazily
    (cli/evaluation.py reads them from a dataset folder). Raises ValueError when no
    sample has an edge.
    """
    results = []
    for photo, truth in samples:
        for backdrop in BACKDROPS:
            result = case(photo, truth, backdrop, matte)
            if result is not None:
                results.append(result)
    if not results:
        raise ValueError("no sample with a foreground edge")
    off, on, error_off, error_on = (float(m) for m in np.mean(results, axis=0))
    return Spill(off, on, len(results), error_off, error_on)
