"""The integer compositing paths (JPEG flattening, opaque backgrounds) give the float path's pixels.

`over_opaque` replaced float32 arithmetic for the common case (an opaque layer
under the subject) to make `format=jpg`, `bg_color` and background images cheap
at 12 MP, and `over` (translucent layers, the shadow) now runs in row bands. The
reference here is the previous code, copied: the whole-image float `over` and
the float formula `flatten` used before.
Every alpha value 0..255 meets every colour value, on arrays large enough to
run in row bands on every CPU.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cutout.engine import bands, compose, images, pipeline, segment

LIMITS = images.Limits()


def previous_over(rgb, alpha, under_rgb, under_alpha) -> np.ndarray:
    """compose.over before banding (float32, whole image at once)."""
    a = alpha.astype(np.float32) / 255.0
    b = under_alpha * (1.0 - a)
    out_a = a + b
    safe = np.where(out_a > 0, out_a, 1.0)[:, :, None]
    colour = (rgb * a[:, :, None] + under_rgb * b[:, :, None]) / safe
    rgba = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    rgba[:, :, :3] = np.clip(colour + 0.5, 0, 255)
    rgba[:, :, 3] = np.clip(out_a * 255.0 + 0.5, 0, 255)
    return rgba


def previous_flatten(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """compose.flatten before the integer path (float32, rounded half up)."""
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    out = rgba[:, :, :3] * a + np.array(colour, dtype=np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def layers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2,560 x 1,024 pixels (above bands.MIN_PIXELS): every (alpha, colour) pair, plus noise."""
    height, width = 2560, 1024
    assert height * width >= bands.MIN_PIXELS
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    grid_a, grid_c = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    alpha[:256, :256] = grid_a
    rgb[:256, :256] = grid_c[:, :, None]
    under = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    under[:256, :256] = 255 - grid_c[:, :, None]
    return rgb, alpha, under


def test_over_opaque_equals_the_float_over(layers) -> None:
    rgb, alpha, under = layers
    reference = previous_over(rgb, alpha, under.astype(np.float32), np.ones(alpha.shape, np.float32))
    assert (reference[:, :, 3] == 255).all()
    assert np.array_equal(compose.over_opaque(rgb, alpha, under), reference[:, :, :3])


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (12, 200, 77)])
def test_flatten_equals_the_previous_float_flatten(layers, colour) -> None:
    rgb, alpha, _ = layers
    rgba = np.dstack([rgb, alpha])
    assert np.array_equal(compose.flatten(rgba, colour), previous_flatten(rgba, colour))


def test_flatten_of_an_opaque_image_is_its_colour(layers) -> None:
    rgb, alpha, _ = layers
    rgba = np.dstack([rgb, np.full_like(alpha, 255)])
    assert np.array_equal(compose.flatten(rgba, (255, 255, 255)), rgb)


def test_shadow_in_bands_equals_the_previous_over(layers) -> None:
    rgb, alpha, _ = layers
    shade = compose.shadow_matte(alpha, opacity=0.5)
    assert np.array_equal(compose.with_shadow(rgb, alpha, opacity=0.5),
                          previous_over(rgb, alpha, np.zeros(3, dtype=np.float32), shade))


def test_on_background_opaque_and_translucent_layers_match_over(layers) -> None:
    rgb, alpha, under = layers
    product = compose.cutout(rgb, alpha)
    for layer_alpha in (255, 128):  # opaque: integer path; translucent: float path
        background = np.dstack([under, np.full_like(alpha, layer_alpha)])
        expected = previous_over(product[:, :, :3], product[:, :, 3], under.astype(np.float32),
                                np.full(alpha.shape, layer_alpha / 255.0, np.float32))
        assert np.array_equal(compose.on_background(product, background), expected)


@pytest.mark.parametrize("options", [
    {"format": "jpg"},
    {"background_color": (30, 140, 220, 255), "format": "png"},
    {"background_color": (30, 140, 220, 255), "format": "jpg"},
    {"mode": "fg-image-shadow", "background_color": (250, 250, 250, 255), "format": "png"},
])
def test_pipeline_outputs_are_the_previous_paths_pixels(segmenter, coffee, options) -> None:
    """The whole request: decoded output pixels equal the float reference built from the same matte."""
    data = io.BytesIO()
    Image.fromarray(coffee).save(data, "PNG")
    # Decontamination off: this compares the compositing paths on the photo's own colours.
    opts = pipeline.Options(**options, decontaminate=0.0)
    result = pipeline.cut(data.getvalue(), opts, segmenter=segmenter, limits=LIMITS)
    alpha = segment.matte_of(coffee, None, segmenter)
    if opts.mode == "fg-image-shadow":
        shade = compose.shadow_matte(alpha, opacity=opts.shadow_opacity)
        product = previous_over(coffee, alpha, np.zeros(3, dtype=np.float32), shade)
    else:
        product = compose.cutout(coffee, alpha)
    if opts.background_color is not None:
        under = np.empty(coffee.shape, np.float32)
        under[:] = opts.background_color[:3]
        product = previous_over(product[:, :, :3], product[:, :, 3], under, np.ones(alpha.shape, np.float32))
    if opts.format == "jpg":
        expected = images.encode(previous_flatten(product, (255, 255, 255)), "jpg")
        assert result.data == expected  # same pixels in, same JPEG bytes out
    else:
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(result.data))), product)
