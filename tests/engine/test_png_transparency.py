"""Every PNG colour type x bit depth x transparency kind decodes to the right 8-bit values.

The files are written chunk by chunk (tests/hostile_images.py), so the 1-, 2-,
4- and 16-bit cases that Pillow cannot write are covered too. Right values: a
sample v of depth d is v * 255 / (2^d - 1) (PNG spec 12.6, sample depth
scaling), exact below 16 bits; 16-bit samples are within 1 of v / 257 (Pillow
keeps the high byte of 16-bit colour). Transparency: tRNS keys make exactly the
matching pixels transparent (a 16-bit truecolour key is matched on the high
bytes, as Pillow decodes those samples, so the test's other pixels differ from
the key there), a palette's tRNS gives each entry its alpha, alpha channels
come through scaled like samples.
"""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

import hostile_images as hostile
from cutout.engine import images

LIMITS = images.Limits()
H, W = 3, 9

CASES = (
    [(0, d, t) for d in (1, 2, 4, 8, 16) for t in ("none", "key")]
    + [(2, d, t) for d in (8, 16) for t in ("none", "key")]
    + [(3, d, t) for d in (1, 2, 4, 8) for t in ("none", "key", "alphas")]
    + [(4, d, "channel") for d in (8, 16)]
    + [(6, d, "channel") for d in (8, 16)]
)


def scale(values: np.ndarray, depth: int) -> np.ndarray:
    return np.round(values.astype(np.float64) * 255 / ((1 << depth) - 1)).astype(int)


def build(colour_type: int, depth: int, kind: str, rng: np.random.Generator):
    """(PNG bytes, expected HxWx3 RGB, expected HxW alpha or None, tolerance)."""
    top = (1 << depth) - 1
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    samples = rng.integers(0, top + 1, (H, W, channels))
    chunks: list[tuple[bytes, bytes]] = []
    alpha = None
    if colour_type == 3:
        entries = 1 << depth
        palette = rng.integers(0, 256, (entries, 3))
        chunks.append((b"PLTE", palette.astype(np.uint8).tobytes()))
        rgb = palette[samples[:, :, 0]]
        if kind == "key":  # one fully transparent entry, the others opaque
            samples[0, :2, 0] = 0
            samples[1:, :, 0] = np.maximum(samples[1:, :, 0], 1) if entries > 2 else 1
            rgb = palette[samples[:, :, 0]]
            chunks.append((b"tRNS", b"\x00"))
            alpha = np.where(samples[:, :, 0] == 0, 0, 255)
        elif kind == "alphas":  # every entry its own alpha, the last entry left out (opaque)
            table = rng.integers(0, 256, entries - 1 if entries > 1 else 1)
            chunks.append((b"tRNS", table.astype(np.uint8).tobytes()))
            full = np.concatenate([table, [255] * (entries - len(table))])
            alpha = full[samples[:, :, 0]]
        return hostile.png_file(W, H, depth, 3, hostile.png_pack(samples, depth), chunks), rgb, alpha, 0
    tolerance = 1 if depth == 16 else 0
    colour = samples[:, :, : 1 if colour_type in (0, 4) else 3]
    if kind == "key":
        key = colour[0, 0].copy()
        colour[0, :3] = key
        if colour_type == 2 and depth == 16:  # others differ from the key in some high byte
            same = ((colour >> 8) == (key >> 8)).all(axis=2)
            same[0, :3] = False
            colour[same, 0] = ((key[0] >> 8) ^ 0x80) << 8
        matches = (colour == key).all(axis=2)
        alpha = np.where(matches, 0, 255)
        chunks.append((b"tRNS", struct.pack(f">{len(key)}H", *key)))
        samples[:, :, : colour.shape[2]] = colour
    elif kind == "channel":
        alpha = scale(samples[:, :, -1], depth)
    rgb = scale(colour, depth)
    rgb = np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb
    png = hostile.png_file(W, H, depth, colour_type, hostile.png_pack(samples, depth), chunks)
    return png, rgb, alpha, tolerance


@pytest.mark.parametrize("colour_type, depth, kind", CASES,
                         ids=[f"type{c}-{d}bit-{k}" for c, d, k in CASES])
def test_png_colour_type_depth_and_transparency(colour_type: int, depth: int, kind: str) -> None:
    rng = np.random.default_rng(colour_type * 100 + depth * 10 + len(kind))
    data, rgb, alpha, tolerance = build(colour_type, depth, kind, rng)
    decoded = images.decode(data, LIMITS)
    assert decoded.rgb.shape == (H, W, 3)
    assert np.abs(decoded.rgb.astype(int) - rgb).max() <= tolerance, (decoded.rgb, rgb)
    if alpha is None or alpha.min() == 255:
        assert decoded.alpha is None
    else:
        assert decoded.alpha is not None
        assert np.abs(decoded.alpha.astype(int) - alpha).max() <= tolerance, (decoded.alpha, alpha)


def test_gif_transparency_index() -> None:
    img = Image.new("P", (6, 2), 1)
    img.putpalette([0, 0, 0, 200, 30, 40, 10, 220, 90] + [0] * 759)
    img.putpixel((0, 0), 2)
    img.putpixel((5, 1), 0)
    out = io.BytesIO()
    img.save(out, "GIF", transparency=2)
    decoded = images.decode(out.getvalue(), LIMITS)
    assert decoded.alpha is not None
    assert decoded.alpha[0, 0] == 0 and decoded.alpha[1, 5] == 255 and decoded.alpha[1, 1] == 255
    assert tuple(decoded.rgb[1, 1]) == (200, 30, 40) and tuple(decoded.rgb[1, 5]) == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_grey_with_alpha_la(fmt: str) -> None:
    la = np.stack([np.full((4, 4), 90, np.uint8), np.tile(np.array([0, 60, 200, 255], np.uint8), (4, 1))], 2)
    out = io.BytesIO()
    Image.fromarray(la, "LA").save(out, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    decoded = images.decode(out.getvalue(), LIMITS)
    assert decoded.alpha is not None and decoded.alpha[0].tolist() == [0, 60, 200, 255]
    assert (decoded.rgb[:, 1:] == 90).all()  # colour under alpha 0 is free in WebP
