"""`make eval`'s added figures: boundary MAE and the spill metric (rembg's reference row: tests/cli)."""
from __future__ import annotations

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


def test_evaluate_scores_in_memory_samples_per_variant() -> None:
    """No folder, no files: samples are (bytes, truth) pairs, `predict` is any function."""
    truth = np.zeros((20, 20), np.uint8)
    truth[:, 10:] = 255
    empty = np.zeros((20, 20), np.uint8)  # no foreground: skipped
    samples = [(b"right", truth), (b"wrong", truth), (b"skip", empty)]

    def predict(data: bytes):
        perfect = truth if data != b"wrong" else 255 - truth
        return {"first": perfect, "blank": np.zeros_like(truth)}, {b"right": 0.1, b"wrong": 0.9}.get(data, 0.5)

    report = quality.evaluate(iter(samples), predict)
    assert report.count == 2 and set(report.means) == {"first", "blank"}
    assert report.means["first"].iou == pytest.approx(0.5) and report.means["first"].mae == pytest.approx(0.5)
    assert report.means["blank"].iou == 0 and report.means["blank"].mae == pytest.approx(0.5)
    assert report.rank_correlation == pytest.approx(1.0)  # the doubtful one is the wrong one
    with pytest.raises(ValueError):
        quality.evaluate([(b"skip", empty)], predict)


def test_spill_measure_is_the_mean_over_samples_and_backdrops() -> None:
    photo = np.full((60, 80, 3), (180, 120, 90), np.uint8)
    yy, xx = np.mgrid[0:60, 0:80]
    truth = np.where(np.hypot(xx - 40, yy - 30) < 20, 255, 0).astype(np.uint8)
    cases = [spill.case(photo, truth, backdrop, None) for backdrop in spill.BACKDROPS]
    measured = spill.measure([(photo, truth), (photo, np.zeros_like(truth))], None)
    assert measured.count == len(spill.BACKDROPS)  # the edgeless sample adds nothing
    assert measured.off == pytest.approx(np.mean([c[0] for c in cases]))
    assert measured.on == pytest.approx(np.mean([c[1] for c in cases]))
    assert measured.error_off == pytest.approx(np.mean([c[2] for c in cases]))
    assert measured.error_on == pytest.approx(np.mean([c[3] for c in cases]))
    with pytest.raises(ValueError):
        spill.measure([(photo, np.zeros_like(truth))], None)
