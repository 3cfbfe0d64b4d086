"""Two-scale inference (`model=fast-tta`): the subject's box, the close-up pass, the average.

Its quality on the shared evaluation sets is measured by `bench/two_scale.py` and
recorded in the README and docs/performance.md, not here; these tests check the
geometry and the arithmetic down to the pixel, with the real model.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cutout.engine import images, matte, pipeline, two_scale
from conftest import encode

LIMITS = images.Limits(50.0, 50_000_000)


def test_the_box_is_the_subject_grown_by_a_fifth_each_side_and_clipped() -> None:
    soft = np.zeros((10, 10), np.float32)
    soft[2:6, 5:9] = 0.9  # columns 5..8, rows 2..5 of a 10x10 model grid
    soft[0, 0] = 0.49  # below 0.5: not the subject
    # A 1000 x 500 photo: one model cell is 100 px wide and 50 px high.
    assert two_scale.subject_box(soft, 1000, 500) == (420, 60, 980, 340)
    assert two_scale.subject_box(np.zeros((10, 10)), 1000, 500) is None


def test_the_close_up_is_averaged_in_rounding_half_up_and_nothing_else_changes() -> None:
    alpha = np.full((6, 8), 10, np.uint8)
    close = np.array([[0, 255], [255, 255], [11, 12]], np.uint8)
    out = two_scale.average_in(alpha, close, (3, 2, 5, 5))
    assert out[2:5, 3:5].tolist() == [[5, 133], [133, 133], [11, 11]]
    out[2:5, 3:5] = 10
    assert (out == 10).all() and (alpha == 10).all()  # the input is left as it was


def test_a_box_that_is_the_whole_photo_costs_no_second_pass() -> None:
    soft = np.ones((8, 8), np.float32)
    rgb = np.zeros((40, 60, 3), np.uint8)
    alpha = np.full((40, 60), 255, np.uint8)
    calls: list[tuple[int, ...]] = []

    def model(crop: np.ndarray) -> np.ndarray:
        calls.append(crop.shape)
        return np.zeros((8, 8), np.float32)

    assert two_scale.refine(rgb, soft, alpha, model) is alpha
    assert calls == []


def small_subject(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut photo at 320 x 320 in the middle-left of a flat 1280 x 960 frame."""
    frame = np.empty((960, 1280, 3), np.uint8)
    frame[:] = (96, 118, 140)
    frame[400:720, 300:620] = np.asarray(Image.fromarray(astronaut).resize((320, 320)))
    return frame


def mask_of(segmenter, data: bytes, tier: str) -> np.ndarray:
    result = pipeline.cut(data, pipeline.Options(mode="fg-mask", model=tier), segmenter=segmenter,
                          limits=LIMITS)
    return np.asarray(Image.open(io.BytesIO(result.data)))


def test_fast_tta_averages_a_close_up_of_a_small_subject_into_the_one_pass_matte(
        segmenter, astronaut) -> None:
    frame = small_subject(astronaut)
    data = encode(frame, "PNG")
    one_pass, tta = mask_of(segmenter, data, "fast"), mask_of(segmenter, data, "fast-tta")
    # The same steps by hand: the first pass, its box, the model on that crop.
    soft = segmenter.predict(frame)
    box = two_scale.subject_box(soft, 1280, 960)
    assert box is not None
    left, top, right, bottom = box
    assert left <= 300 and top <= 400 and right >= 620 and bottom >= 720  # the subject is inside
    assert (right - left) * (bottom - top) < 0.4 * 1280 * 960  # and it is a close-up
    close = matte.upsample(segmenter.predict(np.ascontiguousarray(frame[top:bottom, left:right])),
                           right - left, bottom - top)
    assert np.array_equal(one_pass, matte.upsample(soft, 1280, 960))
    inside = (one_pass[top:bottom, left:right].astype(int) + close + 1) // 2
    assert np.array_equal(tta[top:bottom, left:right], inside)
    outside = np.ones(one_pass.shape, bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(tta[outside], one_pass[outside])
    # The close-up saw something else than the one pass: the matte changed where it is undecided.
    assert np.abs(tta.astype(int) - one_pass).max() > 16
    # Still the astronaut: her suit opaque, the flat frame clear.
    assert tta[400 + 150:400 + 300, 300 + 80:300 + 200].mean() > 230
    assert tta[:300].mean() < 5 and tta[:, 900:].mean() < 5


def test_fast_tta_keeps_a_region_of_interest(segmenter, astronaut) -> None:
    frame = small_subject(astronaut)
    data = encode(frame, "PNG")
    options = pipeline.Options(mode="fg-mask", model="fast-tta",
                               roi=pipeline.geometry.parse_region("200px 300px 800px 800px"))
    mask = np.asarray(Image.open(io.BytesIO(pipeline.cut(
        data, options, segmenter=segmenter, limits=LIMITS).data)))
    assert mask[:300].max() == 0 and mask[:, 800:].max() == 0 and mask[:, :200].max() == 0
    assert mask[400 + 150:400 + 300, 300 + 80:300 + 200].mean() > 230
