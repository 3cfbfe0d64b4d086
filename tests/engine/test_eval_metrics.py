"""`make eval`'s added figures: boundary MAE, rembg's reference row and the spill metric."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cutout.engine import quality, spill


def test_edge_band_is_five_pixels_each_side_of_the_outline() -> None:
    truth = np.zeros((40, 40), np.uint8)
    truth[:, 20:] = 255
    band = quality.edge_band(truth)
    assert band[0].nonzero()[0].tolist() == list(range(15, 25))  # 5 px out, 5 px in


def test_boundary_mae_counts_only_the_band() -> None:
    truth = np.zeros((40, 40), np.uint8)
    truth[:, 20:] = 255
    alpha = truth.copy()
    alpha[:, 0:5] = 255  # wrong far from the edge: MAE, not boundary
    alpha[:, 18:20] = 255  # 2 of the band's 10 columns wrong
    scored = quality.score(alpha, truth)
    assert scored.boundary == pytest.approx(0.2)
    assert scored.mae == pytest.approx(7 / 40)


def test_reference_reads_the_shared_readme_else_the_copy(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "| set | u2netp MAE | IoU | F | u2net MAE | IoU | F |\n|---|---|---|---|---|---|---|\n"
        "| mine | 0.1 | 0.2 | 0.3 | 0.4 | 0.5 | 0.6 |\n")
    assert quality.reference(tmp_path / "mine") == quality.Scores(0.1, 0.2, 0.3)
    assert quality.reference(tmp_path / "davis345") == quality.Scores(0.0349, 0.7279, 0.7998)
    assert quality.reference(tmp_path / "unknown") is None


def test_spill_with_the_true_matte_is_mostly_removed_by_decontamination() -> None:
    rng = np.random.default_rng(3)
    height, width = 240, 320
    yy, xx = np.mgrid[0:height, 0:width]
    photo = np.empty((height, width, 3), np.uint8)
    photo[..., 0] = 180 + rng.integers(0, 20, (height, width))
    photo[..., 1] = 120
    photo[..., 2] = 90
    truth = np.where(np.hypot(xx - 160, yy - 120) < 80, 255, 0).astype(np.uint8)
    off, on, error_off, error_on = spill.case(photo, truth, spill.BACKDROPS[0], None)
    assert off > 10  # levels of green left at the edge without decontamination
    assert on < 0.3 * off
    assert error_on < 0.5 * error_off  # the colours come closer to the truth, not only less green
    assert spill.case(photo, np.zeros_like(truth), spill.BACKDROPS[0], None) is None
