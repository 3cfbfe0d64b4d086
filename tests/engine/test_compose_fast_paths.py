"""The integer compositing paths (JPEG flattening, opaque backgrounds) give the float path's pixels.

`over_opaque` replaced float32 arithmetic for the common case (an opaque layer
under the subject) to make `format=jpg`, `bg_color` and background images cheap
at 12 MP. The reference here is the previous code: `compose.over` (still the
path for translucent layers) and the float formula `flatten` used before.
Every alpha value 0..255 meets every colour value, on arrays large enough to
run in row bands on every CPU.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cutout.engine import bands, compose, images, pipeline

LIMITS = images.Limits()


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
    reference = compose.over(rgb, alpha, under.astype(np.float32), np.ones(alpha.shape, np.float32))
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


def test_on_background_opaque_and_translucent_layers_match_over(layers) -> None:
    rgb, alpha, under = layers
    product = compose.cutout(rgb, alpha)
    for layer_alpha in (255, 128):  # opaque: integer path; translucent: float path
        background = np.dstack([under, np.full_like(alpha, layer_alpha)])
        expected = compose.over(product[:, :, :3], product[:, :, 3], under.astype(np.float32),
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
    opts = pipeline.Options(**options)
    result = pipeline.cut(data.getvalue(), opts, segmenter=segmenter, limits=LIMITS)
    alpha = pipeline.matte_of(coffee, None, segmenter)
    if opts.mode == "fg-image-shadow":
        product = compose.with_shadow(coffee, alpha, opacity=opts.shadow_opacity)
    else:
        product = compose.cutout(coffee, alpha)
    if opts.background_color is not None:
        under = np.empty(coffee.shape, np.float32)
        under[:] = opts.background_color[:3]
        product = compose.over(product[:, :, :3], product[:, :, 3], under, np.ones(alpha.shape, np.float32))
    if opts.format == "jpg":
        expected = images.encode(previous_flatten(product, (255, 255, 255)), "jpg")
        assert result.data == expected  # same pixels in, same JPEG bytes out
    else:
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(result.data))), product)
