"""The image operations, pixel by pixel: crop box, rotation direction, mirror axis, resize fits,
blur, modulate, watermark placement and the sandbox mark."""
from __future__ import annotations

import numpy as np
import pytest

from cutout.engine import imageops
from cutout.errors import InvalidOption

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def marked(width: int = 40, height: int = 20) -> np.ndarray:
    """White image, red 4x4 block at the top-left corner, blue 4x4 block at the bottom-left."""
    px = np.full((height, width, 3), 255, np.uint8)
    px[:4, :4] = RED
    px[-4:, :4] = BLUE
    return px


def test_crop_takes_exactly_the_box() -> None:
    px = np.arange(20 * 30 * 3, dtype=np.uint32).reshape(20, 30, 3).astype(np.uint8)
    out = imageops.crop(px, 5, 2, 15, 12)
    assert out.shape == (10, 10, 3)
    assert np.array_equal(out, px[2:12, 5:15])


@pytest.mark.parametrize("box", [(0, 0, 0, 5), (5, 5, 4, 9), (0, 0, 41, 10), (0, 0, 10, 21)])
def test_crop_refuses_empty_or_outside_boxes(box) -> None:
    with pytest.raises(InvalidOption):
        imageops.crop(marked(), *box)


def test_rotate_90_is_clockwise_and_exact() -> None:
    out = imageops.rotate(marked(), 90)
    assert out.shape == (40, 20, 3)
    assert tuple(out[0, -1]) == RED  # top-left -> top-right
    assert tuple(out[0, 0]) == BLUE  # bottom-left -> top-left
    assert np.array_equal(imageops.rotate(marked(), -270), out)


def test_rotate_by_an_odd_angle_grows_the_canvas_and_fills_the_corners() -> None:
    px = np.full((100, 100, 3), 255, np.uint8)
    out = imageops.rotate(px, 45, (0, 255, 0, 255))
    assert out.shape[0] == out.shape[1] and 140 <= out.shape[0] <= 143
    assert tuple(out[1, 1]) == GREEN  # a corner outside the turned square
    assert tuple(out[out.shape[0] // 2, out.shape[1] // 2]) == WHITE
    transparent = imageops.rotate(px, 30, (0, 0, 0, 0))
    assert transparent.shape[2] == 4 and transparent[0, 0, 3] == 0


def test_mirror_axes() -> None:
    px = marked()
    horizontal = imageops.mirror(px, "horizontal")
    assert tuple(horizontal[0, -1]) == RED and tuple(horizontal[-1, -1]) == BLUE
    vertical = imageops.mirror(px, "vertical")
    assert tuple(vertical[-1, 0]) == RED and tuple(vertical[0, 0]) == BLUE
    both = imageops.mirror(px, "both")
    assert tuple(both[-1, -1]) == RED and tuple(both[0, -1]) == BLUE


def test_resize_fill_stretches() -> None:
    out = imageops.resize(marked(40, 20), 20, 20, "fill")
    assert out.shape == (20, 20, 3)
    assert tuple(out[0, 0]) == RED or out[0, 0, 0] > 200 and out[0, 0, 2] < 60


def test_resize_contain_letterboxes_at_the_position() -> None:
    px = np.full((20, 40, 3), 200, np.uint8)
    out = imageops.resize(px, 40, 40, "contain", "center", (0, 255, 0, 255))
    assert out.shape == (40, 40, 3)
    assert tuple(out[5, 20]) == GREEN and tuple(out[35, 20]) == GREEN  # bands above and below
    assert tuple(out[20, 20]) == (200, 200, 200)
    top = imageops.resize(px, 40, 40, "contain", "top", (0, 255, 0, 255))
    assert tuple(top[5, 20]) == (200, 200, 200) and tuple(top[35, 20]) == GREEN
    clear = imageops.resize(px, 40, 40, "contain", "center", (0, 0, 0, 0))
    assert clear.shape == (40, 40, 4) and clear[2, 20, 3] == 0 and clear[20, 20, 3] == 255


def test_resize_cover_crops_at_the_position() -> None:
    px = np.zeros((20, 40, 3), np.uint8)
    px[:, :20] = RED
    px[:, 20:] = BLUE
    left = imageops.resize(px, 20, 20, "cover", "left")
    assert left.shape == (20, 20, 3) and tuple(left[10, 10]) == RED
    right = imageops.resize(px, 20, 20, "cover", "right")
    assert tuple(right[10, 10]) == BLUE


def test_resize_cover_cuts_the_overflow_at_the_position_exactly() -> None:
    """No scaling needed (20 rows already): cover only cuts 23 of 43 columns, by position."""
    px = np.zeros((20, 43, 3), np.uint8)
    px[:, :, 0] = np.arange(43, dtype=np.uint8)
    for position, left in (("left", 0), ("top-left", 0), ("center", 12), ("top", 12),
                           ("bottom", 12), ("right", 23), ("bottom-right", 23)):
        assert np.array_equal(imageops.resize(px, 20, 20, "cover", position), px[:, left:left + 20])


def test_resize_contain_puts_the_image_unchanged_on_the_letterbox() -> None:
    """Already 20 px wide: contain pastes it as it is, above / between / below the bands."""
    px = np.random.default_rng(4).integers(0, 256, (10, 20, 3), dtype=np.uint8)
    for position, top in (("top", 0), ("center", 15), ("bottom", 30)):
        out = imageops.resize(px, 20, 40, "contain", position, (0, 255, 0, 255))
        assert out.shape == (40, 20, 3)
        assert np.array_equal(out[top:top + 10], px)
        band = np.concatenate([out[:top], out[top + 10:]])
        assert band.shape[0] == 30 and (band == GREEN).all()


def test_resize_contain_lays_a_translucent_image_over_a_translucent_letterbox() -> None:
    """Porter-Duff over, straight colour: a half-clear red pixel on a half-clear blue band."""
    px = np.zeros((10, 20, 4), np.uint8)
    px[:, :] = (200, 0, 0, 128)
    out = imageops.resize(px, 20, 40, "contain", "center", (0, 0, 255, 128))
    assert out.shape == (40, 20, 4)
    assert tuple(out[0, 0]) == (0, 0, 255, 128)  # the band
    a, b = 128 / 255, 128 / 255 * (1 - 128 / 255)
    expected = (round(200 * a / (a + b)), 0, round(255 * b / (a + b)), round((a + b) * 255))
    assert all(abs(int(got) - want) <= 1 for got, want in zip(out[20, 10], expected))


def test_resize_keeps_the_aspect_ratio_when_one_side_is_missing() -> None:
    assert imageops.resize(marked(40, 20), 20, None).shape == (10, 20, 3)
    assert imageops.resize(marked(40, 20), None, 40).shape == (40, 80, 3)
    with pytest.raises(InvalidOption):
        imageops.resize(marked(), imageops.MAX_SIDE + 1, 10)


def test_blur_spreads_an_edge_by_sigma() -> None:
    px = np.zeros((20, 40, 3), np.uint8)
    px[:, 20:] = 255
    out = imageops.blur(px, 3)
    row = out[10, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and 60 < row[19] < 200 and 60 < row[20] < 200
    with pytest.raises(InvalidOption):
        imageops.blur(px, 0.1)


def test_modulate_brightness_saturation_hue_lightness() -> None:
    px = np.full((4, 4, 3), (200, 50, 50), np.uint8)
    assert np.array_equal(imageops.modulate(px), px)
    darker = imageops.modulate(px, brightness=0.5)
    assert abs(int(darker[0, 0, 0]) - 100) <= 2
    grey = imageops.modulate(px, saturation=0.0)
    assert int(grey[0, 0].max()) - int(grey[0, 0].min()) <= 1
    turned = imageops.modulate(px, hue=120)  # red -> green
    assert turned[0, 0, 1] > 150 and turned[0, 0, 0] < 80
    lighter = imageops.modulate(px, lightness=20)
    assert tuple(lighter[0, 0]) == (220, 70, 70)


def test_watermark_lands_at_left_top_and_is_clipped_at_the_edge() -> None:
    base = np.full((20, 40, 3), 255, np.uint8)
    mark = np.zeros((5, 5, 4), np.uint8)
    mark[:, :, 1] = 255
    mark[:, :, 3] = 255
    out = imageops.watermark(base, [(mark, 10, 3), (mark, 37, 17)])
    assert out.shape == (20, 40, 3)
    assert tuple(out[3, 10]) == GREEN and tuple(out[7, 14]) == GREEN
    assert tuple(out[2, 10]) == WHITE and tuple(out[8, 14]) == WHITE and tuple(out[3, 9]) == WHITE
    assert tuple(out[19, 39]) == GREEN and tuple(out[16, 39]) == WHITE
    half = mark.copy()
    half[:, :, 3] = 128
    blended = imageops.watermark(base, [(half, 0, 0)])
    assert 120 < blended[0, 0, 0] < 135 and blended[0, 0, 1] == 255


def test_sandbox_mark_is_visible_across_the_middle() -> None:
    px = np.zeros((100, 200, 3), np.uint8)
    out = imageops.sandbox_mark(px)
    assert out.shape == px.shape
    assert out[50, :, :].mean() > 60  # the band
    assert np.array_equal(out[:30], px[:30])  # the rest untouched


def test_a_rotation_that_would_pass_the_pixel_cap_is_refused_before_any_work(monkeypatch) -> None:
    """A photo at the pixel limit turned 45 degrees would double its pixels: refused."""
    from cutout.errors import InvalidOption

    monkeypatch.setattr(imageops, "MAX_OUTPUT_PIXELS", 10_000)
    square = np.zeros((100, 100, 4), np.uint8)  # 10,000 px: at the cap
    assert imageops.rotate(square, 90).shape == (100, 100, 4)
    with pytest.raises(InvalidOption) as caught:
        imageops.rotate(square, 45)  # about 142 x 142
    assert caught.value.code == "invalid_size" and "megapixels" in caught.value.message


def test_rotated_size_is_known_before_any_pixels() -> None:
    from cutout.errors import InvalidOption

    assert imageops.rotated_size(100, 50, 90) == (50, 100)
    assert imageops.rotated_size(100, 50, -180) == (100, 50)
    for width, height in ((100, 50), (81, 37), (640, 480)):
        px = np.zeros((height, width, 3), np.uint8)
        for degrees in (90, 45, 30, 300, 17.5, 123.4, 359):
            turned = imageops.rotate(px, degrees).shape[:2][::-1]
            assert turned == imageops.rotated_size(width, height, degrees), (width, height, degrees)
    with pytest.raises(InvalidOption) as caught:
        imageops.rotated_size(100, 50, float("inf"))
    assert caught.value.code == "invalid_angle"
