"""Where the subject and the background are in the sample photos, and how to check a matte."""
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
