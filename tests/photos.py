"""Where the subject and the background are in the sample photos, how to check a matte, and a
synthetic scene whose true foreground colours are known (for edge colour correction)."""
from __future__ import annotations

import numpy as np

# (top, bottom, left, right) regions, in pixels of the original photos.
SUBJECT = {
    "astronaut": [(60, 110, 200, 270), (300, 480, 120, 300)],  # face, torso
    "coffee": [(100, 300, 200, 400)],  # the cup
}
BACKGROUND = {
    "astronaut": [(0, 60, 380, 500), (0, 60, 20, 150)],  # backdrop above the shoulders
    "coffee": [(0, 400, 540, 600), (0, 400, 0, 40)],  # table at both sides
}


def assert_subject_found(alpha: np.ndarray, photo: str) -> None:
    """Alpha must be high on the subject and low on the background."""
    for top, bottom, left, right in SUBJECT[photo]:
        assert alpha[top:bottom, left:right].mean() > 230, f"{photo}: subject not opaque"
    for top, bottom, left, right in BACKGROUND[photo]:
        assert alpha[top:bottom, left:right].mean() < 25, f"{photo}: background not removed"


def disc_scene(height: int = 480, width: int = 640, ramp: float = 4.0):
    """A smooth orange-brown subject (a disc with a soft edge `ramp` px wide) over saturated green.

    The default ramp is two model pixels (320 px across) wide, like an upsampled matte's.

    Returns (composite HxWx3 uint8, alpha HxW uint8, true foreground HxWx3 uint8).
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    fg = np.empty((height, width, 3), np.uint8)
    fg[..., 0] = 190 + 30 * np.sin(xx / 150)
    fg[..., 1] = 110 + 20 * np.cos(yy / 120)
    fg[..., 2] = 60
    distance = np.hypot(xx - width / 2, yy - height / 2)
    a = np.clip((0.3 * min(width, height) - distance) / ramp + 0.5, 0, 1)
    alpha = (a * 255 + 0.5).astype(np.uint8)
    green = np.array([0, 220, 0], np.float64)
    composite = np.clip(fg * a[..., None] + green * (1 - a[..., None]) + 0.5, 0, 255).astype(np.uint8)
    return composite, alpha, fg
