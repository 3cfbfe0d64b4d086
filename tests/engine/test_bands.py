"""Banded (multi-threaded) per-pixel steps give the pictures the one-piece versions give."""
from __future__ import annotations

import io
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageFilter

from rss_probe import growth_of

from cutout.engine import bands, compose, matte, model, png, resample


@pytest.fixture
def three_bands(monkeypatch: pytest.MonkeyPatch):
    """Force three threads on any image, whatever this machine's CPU count."""
    pool = ThreadPoolExecutor(3)
    monkeypatch.setattr(bands, "_pool", lambda: (pool, 3))
    monkeypatch.setattr(bands, "MIN_PIXELS", 0)
    yield
    pool.shutdown()


def soft_mask(seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(0, 256, (320, 320), dtype=np.uint8)
    return np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(4)), dtype=np.float32) / 255


@pytest.mark.parametrize("height,parts", [(1, 2), (7, 3), (3000, 2), (3001, 4)])
def test_split_covers_every_row_once(height: int, parts: int) -> None:
    ranges = bands.split(height, parts)
    assert ranges[0][0] == 0 and ranges[-1][1] == height
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    sizes = [bottom - top for top, bottom in ranges]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def one_piece_upsample(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    small = Image.fromarray((np.clip(mask, 0, 1) * 255 + 0.5).astype(np.uint8), "L")
    return np.asarray(small.resize((width, height), Image.Resampling.LANCZOS).point(matte.CURVE.tolist()))


@pytest.mark.parametrize("size", [(4000, 3000), (1157, 865), (481, 321), (9, 700)])
def test_banded_matte_matches_a_one_piece_resize(three_bands, size: tuple[int, int]) -> None:
    width, height = size
    mask = soft_mask()
    banded = matte.upsample(mask, width, height)
    reference = one_piece_upsample(mask, width, height)
    assert banded.shape == (height, width) and banded.dtype == np.uint8
    difference = np.abs(banded.astype(int) - reference)
    assert difference.max() <= 2  # rounding of filter centres, never a seam
    assert (difference > 0).mean() < 0.01


@pytest.mark.parametrize("size", [(5000, 100), (5000, 1), (100, 5000), (1, 5000), (3000, 2500)])
def test_a_panoramas_matte_is_resized_in_spans_like_one_piece(three_bands, monkeypatch: pytest.MonkeyPatch,
                                                              size: tuple[int, int]) -> None:
    """Lines cut into spans of 1,000 (SEGMENT, as a 25 MP panorama's are into 65,536s); a
    banner wider than a span and lower than the mask is resized vertically first."""
    monkeypatch.setattr(resample, "SEGMENT", 1000)
    width, height = size
    mask = soft_mask(3)
    pieces = matte.upsample(mask, width, height)
    reference = one_piece_upsample(mask, width, height)
    assert pieces.shape == (height, width) and pieces.dtype == np.uint8
    difference = np.abs(pieces.astype(int) - reference)
    assert difference.max() <= 3  # the passes' order and filter centres round differently, no seam
    assert difference.mean() < 0.3


@pytest.mark.parametrize("size", [(8_000_000, 1), (1, 8_000_000)])
def test_a_panoramas_matte_costs_about_its_own_size(size: tuple[int, int]) -> None:
    """8 MP one pixel high (or wide): the matte is 8 MB; resized in one piece Pillow held a
    width x 320 image (2.5 GB) and a table of filter taps per output line (450 MB)."""
    growth, shape = growth_of(
        "import numpy as np\nfrom cutout.engine import matte\n"
        "mask = np.random.default_rng(0).random((320, 320), dtype=np.float32)\n"
        "matte.upsample(mask, 50, 50)",  # imports and the thread pool warmed up
        f"print(matte.upsample(mask, {size[0]}, {size[1]}).shape)")
    assert shape == str((size[1], size[0]))
    assert growth < 100, growth  # MB of resident memory above the start


@pytest.mark.parametrize("size", [(4240, 2830), (4001, 2999), (961, 5000), (3000, 959), (1157, 865), (300, 8000)])
def test_banded_model_input_is_pillows_resize_within_two_levels(three_bands, size: tuple[int, int]) -> None:
    width, height = size
    rng = np.random.default_rng(2)
    photo = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).filter(
        ImageFilter.GaussianBlur(3))  # textured, like a photo, with every level present
    rgb = np.asarray(photo)
    shrink = model.Preprocessor(model.MODELS["u2netp-int8"]).shrink
    banded = shrink(rgb)
    reference = np.asarray(photo.resize((320, 320), Image.Resampling.LANCZOS, reducing_gap=model.REDUCING_GAP))
    assert banded.shape == (320, 320, 3) and banded.dtype == np.uint8
    difference = np.abs(banded.astype(int) - reference)
    assert difference.max() <= 2  # the 8-bit intermediate's rounding and clipping, never a seam
    assert difference.mean() < 0.2  # levels, over the whole input


def test_small_photos_get_pillows_own_model_input() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (900, 2000, 3), dtype=np.uint8)  # 1.8 MP, shrunk first
    reference = np.asarray(Image.fromarray(rgb).resize((320, 320), Image.Resampling.LANCZOS,
                                                       reducing_gap=model.REDUCING_GAP))
    assert np.array_equal(model.Preprocessor(model.MODELS["u2netp-int8"]).shrink(rgb), reference)


def test_banded_cutout_is_identical(three_bands) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (1001, 1503, 3), dtype=np.uint8)
    alpha = matte.upsample(soft_mask(1), 1503, 1001)
    banded = compose.cutout(rgb, alpha)
    assert np.array_equal(banded[:, :, 3], alpha)
    visible = alpha != 0
    assert np.array_equal(banded[:, :, :3][visible], rgb[visible])
    assert not banded[:, :, :3][~visible].any()


def test_a_failing_band_raises_in_the_caller(three_bands) -> None:
    def work(top: int, bottom: int) -> int:
        if top > 0:
            raise ValueError("band failed")
        return bottom

    with pytest.raises(ValueError, match="band failed"):
        bands.map_rows(work, 30, 30)


def test_adler32_combine_matches_zlib() -> None:
    rng = np.random.default_rng(2)
    for sizes in [(0, 5), (1, 0), (100, 70_000), (65_521, 65_522), (3, 1 << 20)]:
        a, b = (rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes)
        assert png.adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


@pytest.mark.parametrize("shape", [(1001, 1503, 4), (1001, 1503, 3), (1001, 1503), (2, 5, 4)])
def test_banded_png_decodes_to_the_same_pixels(three_bands, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[100:400] = 0  # flat areas, as in a cut-out
    data = png.encode_png(pixels)
    zlib.decompress(data[data.index(b"IDAT") + 4:])  # one valid zlib stream (raises otherwise)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
