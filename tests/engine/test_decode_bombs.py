"""Decompression bombs of every format are refused from the header, at a bounded cost.

Each bomb holds a stream that really expands to the dimensions its header
declares (tests/hostile_images.py); each is decoded in a fresh interpreter that
measures its own RSS growth (tests/rss_probe.py), since the memory at stake is
native (Pillow, libpng-style inflate, libwebp), which tracemalloc does not see.
The same builders at a small size decode to the expected pixels, which proves
the streams are real.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hostile_images as hostile
from rss_probe import probe
from cutout.engine import images

LIMITS = images.Limits(max_megapixels=25, max_bytes=16 * 1024 * 1024)

# name -> (builder, declared width, height); every one is far over 25 megapixels.
BOMBS = {
    "png-1bit-60000": (lambda w, h: hostile.png_bomb(w, h, 1, 0), 60000, 60000),
    "png-8bit-30000": (lambda w, h: hostile.png_bomb(w, h, 8, 0), 30000, 30000),
    "png-palette-40000": (lambda w, h: hostile.png_bomb(w, h, 2, 3), 40000, 40000),
    "apng-rgb-20000": (lambda w, h: hostile.png_bomb(w, h, 8, 2, animated=True), 20000, 20000),
    "gif-lzw-30000": (hostile.gif_bomb, 30000, 30000),
    "gif-frame-beyond-screen": (lambda w, h: hostile.gif_bomb(w, h, screen=(100, 100)), 20000, 20000),
    "tiff-deflate-30000": (hostile.tiff_bomb, 30000, 30000),
    "tiff-lzw-30000": (lambda w, h: hostile.tiff_bomb(w, h, "lzw"), 30000, 30000),
    "webp-vp8l-16383": (hostile.webp_bomb, 16383, 16383),
    "bmp-rle8-20000": (hostile.bmp_bomb, 20000, 20000),
    "jpeg-10000": (hostile.jpeg_bomb, 10000, 10000),
    "png-empty-100000": (lambda w, h: hostile.png_file(w, h, 8, 0, b""), 100000, 100000),
}
REAL_STREAMS = [name for name in BOMBS if name != "png-empty-100000"]  # that one holds no data


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_is_refused_before_decoding(name: str, tmp_path: Path) -> None:
    build, width, height = BOMBS[name]
    data = build(width, height)
    assert len(data) < LIMITS.max_bytes  # it gets past the byte limit: only the header can stop it
    path = tmp_path / name
    path.write_bytes(data)
    report = probe(path)
    assert report["code"] == "image_too_large"
    assert report["growth_mb"] < 50, report
    assert report["seconds"] < 0.5, report
    with pytest.raises(images.ImageTooLarge, match=f"{width}x{height} exceeds 25 megapixels"):
        images.read_header(data, LIMITS)


def test_png_bomb_declares_what_it_holds() -> None:
    """The PNG bombs' IDAT inflates to every row the header declares (filter byte + samples)."""
    import zlib

    stream = hostile.zlib_zeros(3 * (1 << 20) + 12345)
    assert zlib.decompress(stream) == bytes(3 * (1 << 20) + 12345)


@pytest.mark.parametrize("name", REAL_STREAMS)
def test_same_stream_within_the_limit_decodes(name: str) -> None:
    """At 1600x1200 the same builders make images that decode completely to their pixels."""
    build, _, _ = BOMBS[name]
    if name.startswith("gif"):
        data = hostile.gif_bomb(1600, 1200, value=1)  # white: a partial decode would leave black
        expected = 255
    elif name == "tiff-lzw-30000":
        data = hostile.tiff_bomb(1600, 1200, "lzw", value=200)
        expected = 200
    else:
        data = build(1600, 1200)
        expected = 128 if name.startswith("jpeg") else 0  # a JPEG block of DC 0 is mid-grey
    decoded = images.decode(data, LIMITS)
    assert decoded.rgb.shape == (1200, 1600, 3)
    assert np.unique(decoded.rgb).tolist() == [expected]


def test_allowed_image_decodes_with_memory_bounded_by_its_pixels(tmp_path: Path) -> None:
    """A bomb just inside the limit (4 MP of zeros in a 1 KB PNG) costs its pixels, not more.

    Decoding holds the file's 8-bit image, Pillow's RGB conversion and the RGB array
    (1 + 3 + 3 bytes a pixel) plus allocator slack: measured 42 MB, about 10.5 bytes a pixel.
    """
    path = tmp_path / "inside.png"
    path.write_bytes(hostile.png_bomb(2000, 2000, 8, 0))
    report = probe(path, max_megapixels=4)
    assert report["code"] == "ok" and report["shape"] == [2000, 2000, 3]
    assert report["growth_mb"] < 4 * 12, report


def test_an_ordinary_png_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the header decodes nothing; decoding decodes the pixels once (Pillow's load, counted)."""
    from PIL import ImageFile

    loads: list[str] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        if self.tile:  # pixels still to decode
            loads.append(self.format)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    data = hostile.png_file(64, 48, 8, 2, hostile.png_pack(np.full((48, 64 * 3), 7), 8))
    header = images.read_header(data, LIMITS)
    assert loads == []
    assert images.decode(data, LIMITS).rgb.shape == (48, 64, 3)
    assert images.decode(data, LIMITS, header).rgb.shape == (48, 64, 3)
    assert loads == ["PNG", "PNG"]


def test_png_text_chunk_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """14 MB of zTXt chunks, each inflating to 1 MB, before a 4x4 image: refused after 8 MB of text."""
    data = hostile.png_text_bomb(14_000_000)
    path = tmp_path / "text.png"
    path.write_bytes(data)
    report = probe(path)
    assert report["code"] == "invalid_image"
    assert report["growth_mb"] < 50 and report["seconds"] < 0.3, report
    # An ordinary amount of text is fine.
    assert images.decode(hostile.png_text_bomb(chunks=3), LIMITS).rgb.shape == (4, 4, 3)
