"""The uncertainty score: values a user can check by hand, and its order on real photos."""
from __future__ import annotations

import numpy as np
import pytest

from cutout.engine import confidence, pipeline
from cutout.engine.quality import spearman


def test_a_decided_mask_scores_zero_and_an_undecided_one_scores_one() -> None:
    sure = np.zeros((320, 320), np.float32)
    sure[100:200, 100:200] = 1.0
    assert confidence.uncertainty(sure) == 0.0
    assert confidence.uncertainty(np.full((320, 320), 0.5, np.float32)) == pytest.approx(0.5)
    assert confidence.uncertainty(np.full((320, 320), 0.3, np.float32)) == 1.0  # no subject at all
    assert confidence.uncertainty(np.zeros((320, 320), np.float32)) == 1.0  # nothing found


def test_undecided_mass_against_subject_area_by_hand() -> None:
    soft = np.zeros((100, 100), np.float32)
    soft[:, :50] = 1.0  # 5000 subject pixels
    soft[:, 50:60] = 0.5  # 1000 undecided pixels, weight 1 each (also subject: s >= 0.5)
    # undecided = 1000, area = 6000: 1000 / 7000
    assert confidence.uncertainty(soft) == pytest.approx(1000 / 7000, abs=1e-4)


def test_a_clear_photo_scores_below_noise(segmenter, coffee) -> None:
    noise = np.random.default_rng(1).integers(0, 256, coffee.shape, dtype=np.uint8)
    clear = confidence.uncertainty(segmenter.predict(coffee))
    doubtful = confidence.uncertainty(segmenter.predict(noise))
    assert 0 <= clear < doubtful <= 1
    assert clear < 0.2


def test_every_result_carries_the_score(segmenter, coffee_jpeg, coffee) -> None:
    limits = pipeline.images.Limits(50.0, 50_000_000)
    result = pipeline.cut(coffee_jpeg, pipeline.Options(mode="fg-mask"), segmenter=segmenter, limits=limits)
    decoded = pipeline.images.decode(coffee_jpeg, limits)
    assert result.uncertainty == confidence.uncertainty(segmenter.predict(decoded.rgb))


def test_spearman_by_hand() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) != spearman([1, 2, 3], [5, 5, 5])  # NaN: no ranking
