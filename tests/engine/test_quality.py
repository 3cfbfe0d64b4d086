"""The metrics, on masks whose right answers are known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from cutout.engine.quality import score


def test_perfect_prediction() -> None:
    truth = np.zeros((10, 10), np.uint8)
    truth[2:8, 2:8] = 255
    s = score(truth.copy(), truth)
    assert s.mae == 0 and s.iou == 1 and s.f == pytest.approx(1)


def test_half_overlap_and_soft_error() -> None:
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :4] = 255  # 40 foreground pixels
    alpha = np.zeros((10, 10), np.uint8)
    alpha[:, 2:6] = 255  # 20 correct, 20 wrong
    s = score(alpha, truth)
    assert s.iou == pytest.approx(20 / 60)
    assert s.mae == pytest.approx(40 / 100)
    precision = recall = 0.5
    assert s.f == pytest.approx(1.3 * precision * recall / (0.3 * precision + recall))


def test_uncertain_band_is_ignored_and_empty_truth_skipped() -> None:
    truth = np.full((4, 4), 128, np.uint8)
    truth[0, 0] = 255
    alpha = np.zeros((4, 4), np.uint8)
    alpha[0, 0] = 255
    assert score(alpha, truth).mae == 0
    assert score(alpha, np.zeros((4, 4), np.uint8)) is None
