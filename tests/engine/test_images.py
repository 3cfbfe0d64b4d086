"""Decoding: every supported format and mode, orientation, limits, hostile files."""
from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from cutout.engine import images
from cutout.errors import ImageTooLarge, InvalidImage, InvalidOption

LIMITS = images.Limits(max_megapixels=25, max_bytes=16 * 1024 * 1024)


def save(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


@pytest.fixture(scope="module")
def gradient() -> np.ndarray:
    """A 60x40 RGB image whose every pixel tells where it came from."""
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, np.full_like(x, 128)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_each_format_decodes_to_upright_rgb(gradient: np.ndarray, fmt: str) -> None:
    data = save(Image.fromarray(gradient), fmt)
    decoded = images.decode(data, LIMITS)
    assert decoded.rgb.shape == (40, 60, 3)
    assert decoded.rgb.dtype == np.uint8
    assert decoded.header.format == fmt
    tolerance = 40 if fmt in ("JPEG", "WEBP", "GIF") else 0
    assert np.abs(decoded.rgb.astype(int) - gradient).mean() <= tolerance


def test_gif_first_frame_is_used() -> None:
    red = Image.new("RGB", (20, 10), (255, 0, 0))
    blue = Image.new("RGB", (20, 10), (0, 0, 255))
    data = save(red, "GIF", save_all=True, append_images=[blue])
    assert tuple(images.decode(data, LIMITS).rgb[5, 5]) == (255, 0, 0)


@pytest.mark.parametrize("fmt, options", [
    ("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {}),
    ("TIFF", {"compression": "tiff_lzw"}),
])
def test_exif_orientation_is_applied_once(gradient: np.ndarray, fmt: str, options: dict) -> None:
    """Stored sideways, seen upright: the header's size, the pixels and their order. (Pillow's
    TIFF plugin turns a TIFF upright itself: turning it again gave the picture upside down.)"""
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    data = save(Image.fromarray(gradient), fmt, exif=exif, **options)
    header = images.read_header(data, LIMITS)
    decoded = images.decode(data, LIMITS)
    assert (header.width, header.height) == (decoded.header.width, decoded.header.height) == (40, 60)
    assert decoded.rgb.shape == (60, 40, 3)
    expected = np.rot90(gradient, k=-1)
    assert np.abs(decoded.rgb.astype(int) - expected).mean() < 10


def test_cmyk_jpeg_converts_to_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    decoded = images.decode(save(cmyk, "JPEG", quality=95), LIMITS)
    r, g, b = decoded.rgb[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_palette_with_transparency_keeps_alpha() -> None:
    img = Image.new("P", (10, 10), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(0, (0, 0, 5, 10))
    img.info["transparency"] = 0
    decoded = images.decode(save(img, "PNG", transparency=0), LIMITS)
    assert decoded.alpha is not None
    assert decoded.alpha[5, 2] == 0 and decoded.alpha[5, 7] == 255
    assert tuple(decoded.rgb[5, 7]) == (255, 0, 0)


def test_greyscale_becomes_three_equal_channels() -> None:
    grey = Image.fromarray(np.full((8, 8), 77, dtype=np.uint8), "L")
    decoded = images.decode(save(grey, "PNG"), LIMITS)
    assert decoded.rgb.shape == (8, 8, 3)
    assert (decoded.rgb == 77).all()


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    img = Image.fromarray(values)  # mode I;16
    decoded = images.decode(save(img, "PNG"), LIMITS)
    assert decoded.rgb[0, :, 0].tolist() == [0, 128, 255]


def test_rgba_alpha_is_returned_and_opaque_alpha_dropped(gradient: np.ndarray) -> None:
    rgba = np.dstack([gradient, np.full(gradient.shape[:2], 255, np.uint8)])
    rgba[:, :30, 3] = 0
    decoded = images.decode(save(Image.fromarray(rgba, "RGBA"), "PNG"), LIMITS)
    assert decoded.alpha is not None and decoded.alpha[:, :30].max() == 0
    rgba[:, :, 3] = 255
    assert images.decode(save(Image.fromarray(rgba, "RGBA"), "PNG"), LIMITS).alpha is None


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_garbage_is_refused_with_a_clear_message(data: bytes) -> None:
    with pytest.raises(InvalidImage, match="Can not load image"):
        images.decode(data, LIMITS)


def test_truncated_jpeg_is_refused(gradient: np.ndarray) -> None:
    data = save(Image.fromarray(gradient), "JPEG")
    with pytest.raises(InvalidImage):
        images.decode(data[: len(data) // 2], LIMITS)


def test_unsupported_format_is_refused() -> None:
    img = Image.new("RGB", (4, 4))
    with pytest.raises(InvalidImage):
        images.decode(save(img, "PPM"), LIMITS)


def test_over_the_megapixel_limit_is_refused_with_dimensions() -> None:
    data = save(Image.new("RGB", (3000, 2000)), "PNG")
    with pytest.raises(ImageTooLarge, match=r"3000x2000 exceeds 5 megapixels"):
        images.read_header(data, images.Limits(max_megapixels=5))


def test_over_the_byte_limit_is_refused() -> None:
    data = save(Image.new("RGB", (100, 100)), "BMP")
    with pytest.raises(ImageTooLarge, match="bytes exceeds 1000 bytes"):
        images.read_header(data, images.Limits(max_bytes=1000))


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming huge dimensions, with a tiny compressed body."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_fast_and_small() -> None:
    data = png_bomb(30000, 30000)
    assert len(data) < 10_000
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="30000x30000 exceeds 25 megapixels"):
        images.decode(data, LIMITS)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # nothing near the 900 MP of pixels was allocated
    assert elapsed < 5  # generous: a refusal, not a decode


def test_fit_within_keeps_aspect() -> None:
    assert images.fit_within(4000, 3000, 25) == (4000, 3000)
    w, h = images.fit_within(4000, 3000, 3)
    assert w * h <= 3_000_000 and abs(w / h - 4 / 3) < 0.01


def test_encode_round_trips() -> None:
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 100
    back = np.asarray(Image.open(io.BytesIO(images.encode(rgba, "png"))))
    assert back.shape == (5, 6, 4) and (back == rgba).all()
    mask = np.full((5, 6), 9, np.uint8)
    img = Image.open(io.BytesIO(images.encode(mask, "png")))
    assert img.mode == "L" and np.asarray(img).max() == 9


def test_webp_cut_out_keeps_its_matte_within_a_level() -> None:
    # a solid disc, a soft ring holding all 256 levels, clear outside; a colour gradient
    yy, xx = np.mgrid[0:300, 0:400]
    alpha = np.clip((130 - np.hypot(yy - 150, xx - 200)) * 4.0, 0, 255).astype(np.uint8)
    rgb = np.dstack([xx * 255 // 399, yy * 255 // 299, np.full_like(xx, 90)]).astype(np.uint8)
    back = np.asarray(Image.open(io.BytesIO(images.encode(np.dstack([rgb, alpha]), "webp"))))
    assert back.shape == (300, 400, 4)
    got = back[:, :, 3].astype(int)
    assert np.abs(got - alpha).max() <= 1
    assert (got[alpha == 0] == 0).all() and (got[alpha == 255] == 255).all()
    # the colour is lossy WebP at quality 90: close where the subject is solid
    assert np.abs(back[:, :, :3].astype(int) - rgb)[alpha == 255].mean() < 3


@pytest.mark.parametrize("fmt, side, name", [("webp", 16_383, "WebP"), ("jpg", 65_500, "JPEG")])
def test_a_result_longer_than_the_format_holds_is_refused_with_the_limit(fmt: str, side: int, name: str) -> None:
    fits = np.full((2, side, 3), 90, np.uint8)
    assert Image.open(io.BytesIO(images.encode(fits, fmt))).size == (side, 2)
    wider = np.full((2, side + 1, 3), 90, np.uint8)
    with pytest.raises(InvalidOption, match=f"{name} holds at most {side} pixels a side and this result "
                                            f"is {side + 1}x2: ask for PNG") as refused:
        images.encode(wider, fmt)
    assert refused.value.code == "invalid_format"
    with pytest.raises(InvalidOption, match=f"{name} holds at most {side} pixels"):
        images.encode(np.ascontiguousarray(np.swapaxes(wider, 0, 1)), fmt)  # as tall as that
    assert Image.open(io.BytesIO(images.encode(wider, "png"))).size == (side + 1, 2)


@pytest.mark.parametrize("fmt", ["webp", "jpg", "zip"])
def test_a_canvas_longer_than_the_format_holds_is_refused_before_the_model_runs(fmt: str) -> None:
    from cutout.engine import pipeline

    class NoModel:  # any use of the model fails the test
        def __getattr__(self, name: str):
            raise AssertionError(f"the model was used ({name}) for a result its format cannot hold")

    banner = images.encode(np.full((2, 70_000, 3), 90, np.uint8), "png")
    with pytest.raises(InvalidOption, match="holds at most") as refused:
        pipeline.cut(banner, pipeline.Options(format=fmt), segmenter=NoModel(),  # type: ignore[arg-type]
                     limits=images.Limits(25, 50_000_000))
    assert refused.value.code == "invalid_format"


def test_a_zip_longer_than_jpeg_holds_is_refused() -> None:
    rgb, alpha = np.full((1, 65_501, 3), 90, np.uint8), np.full((1, 65_501), 255, np.uint8)
    with pytest.raises(InvalidOption, match=r"The zip's color.jpg \(JPEG\) holds at most 65500 pixels") as refused:
        images.encode_zip(rgb, alpha)
    assert refused.value.code == "invalid_format"


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_writer_is_lossless_for_every_colour_type(channels: int) -> None:
    rng = np.random.default_rng(7)
    shape = (37, 53) if channels == 1 else (37, 53, channels)
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    pixels[10:20] = 0  # flat rows, like a transparent background
    data = images.encode(pixels, "png")
    img = Image.open(io.BytesIO(data))
    img.load()  # verifies the CRCs and the deflate stream
    assert img.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    assert (np.asarray(img) == pixels).all()
