"""Names for the array shapes that flow through the engine (checked by mypy as NumPy dtypes).

The shapes are in the names and docstrings, not in the types: NumPy's typing
checks dtypes, not dimensions.
"""
from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

RGB: TypeAlias = npt.NDArray[np.uint8]
"""An image, HxWx3 uint8, channels R, G, B, rows top to bottom."""

RGBA: TypeAlias = npt.NDArray[np.uint8]
"""An image with transparency, HxWx4 uint8 (straight, not premultiplied, alpha)."""

Alpha: TypeAlias = npt.NDArray[np.uint8]
"""An alpha matte, HxW uint8: 0 transparent (background) .. 255 opaque (subject)."""

SoftMask: TypeAlias = npt.NDArray[np.float32]
"""The model's output, SxS float32 in 0..1 at the model's input size S (320 for U^2-Net)."""

Box: TypeAlias = tuple[int, int, int, int]
"""A rectangle in pixels by its size: (left, top, width, height), e.g. the subject's bounding box."""

Bounds: TypeAlias = tuple[int, int, int, int]
"""A rectangle in pixels by its edges: (left, top, right, bottom), right and bottom exclusive
(Pillow's box order), e.g. a crop window or a region of interest."""
