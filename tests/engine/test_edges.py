"""Colour decontamination and edge refinement, on composites whose right answers are known."""
from __future__ import annotations

import io
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from conftest import encode
from photos import disc_scene

from cutout.engine import bands, foreground, pipeline, refine
from cutout.engine.quality import score


def test_decontaminated_edge_colours_are_the_true_foreground_within_a_few_levels() -> None:
    composite, alpha, fg = disc_scene()
    band = (alpha >= 26) & (alpha <= 229)  # 10%..90%: where the green is mixed in
    before = np.abs(composite[band].astype(int) - fg[band]).mean(axis=0)
    after = np.abs(foreground.decontaminate(composite, alpha)[band].astype(int) - fg[band]).mean(axis=0)
    assert before[1] > 50  # the edge is visibly green before
    assert (after <= 4).all(), after  # mean error per channel, in levels


def test_a_matte_reaching_past_the_subject_leaves_little_green_on_a_new_background() -> None:
    """The model's outline a few pixels outside the true one (its usual error): the half-kept
    background pixels must not show their green on grey (the paper's equation: 62 levels)."""
    composite, alpha, fg = disc_scene()
    height, width = alpha.shape
    yy, xx = np.mgrid[0:height, 0:width]
    distance = np.hypot(xx - width / 2, yy - height / 2)
    # disc_scene's disc grown by 4 px, with a ramp 8 px wide instead of 4
    wide = (np.clip((0.3 * min(height, width) + 4 - distance) / 8 + 0.5, 0, 1) * 255 + 0.5).astype(np.uint8)
    grey = np.float64(128)

    def on_grey(colour: np.ndarray, a: np.ndarray) -> np.ndarray:
        return colour * (a[..., None] / 255) + grey * (1 - a[..., None] / 255)

    ring = (wide > 0) & (wide < 255)
    shown = on_grey(foreground.decontaminate(composite, wide), wide)[ring]
    truth = on_grey(fg.astype(np.float64), alpha)[ring]
    difference = shown - truth
    green = np.clip(difference[:, 1] - (difference[:, 0] + difference[:, 2]) / 2, 0, None).mean()
    as_photo = on_grey(composite.astype(np.float64), wide)[ring] - truth
    assert np.clip(as_photo[:, 1] - (as_photo[:, 0] + as_photo[:, 2]) / 2, 0, None).mean() > 60
    assert green < 10, green  # levels of green above the red-blue mean, in the soft ring
    assert np.abs(difference).mean() < 25  # every channel, against the true composite on grey


def test_decontamination_keeps_solid_and_clear_pixels_and_scales_with_strength() -> None:
    composite, alpha, _fg = disc_scene()
    full = foreground.decontaminate(composite, alpha, 1.0)
    half = foreground.decontaminate(composite, alpha, 0.5)
    fixed = (alpha == 0) | (alpha == 255)
    assert np.array_equal(full[fixed], composite[fixed])
    assert foreground.decontaminate(composite, alpha, 0.0) is composite
    edge = (alpha > 0) & (alpha < 255)
    midway = (composite[edge].astype(float) + full[edge]) / 2
    assert np.abs(half[edge] - midway).max() <= 1.0


def test_large_images_are_decontaminated_in_bands_like_small_ones() -> None:
    small = disc_scene(480, 640)
    large = disc_scene(1500, 2000, ramp=12.5)  # 3 MP: a reduced working copy and row bands
    for composite, alpha, fg in (small, large):
        band = (alpha >= 26) & (alpha <= 229)
        out = foreground.decontaminate(composite, alpha)
        assert (np.abs(out[band].astype(int) - fg[band]).mean(axis=0) <= 4).all()


@pytest.mark.parametrize("height,width", [(1500, 2000), (1417, 2003)])  # bands of uneven heights too
def test_edge_pixels_are_solved_the_same_in_any_chunking(monkeypatch: pytest.MonkeyPatch, height: int,
                                                          width: int) -> None:
    composite, alpha, _fg = disc_scene(height, width, ramp=12.5)  # ~35k edge pixels
    monkeypatch.setattr(foreground.bands, "_pool", lambda: (None, 1))  # one band, inline
    whole = foreground.decontaminate(composite, alpha)
    with ThreadPoolExecutor(3) as pool:
        monkeypatch.setattr(foreground.bands, "_pool", lambda: (pool, 3))
        assert np.array_equal(foreground.decontaminate(composite, alpha), whole)
        monkeypatch.setattr(foreground, "EDGE_CHUNK", 1000)
        assert np.array_equal(foreground.decontaminate(composite, alpha), whole)
        monkeypatch.setattr(foreground, "SOLVE_BLOCK_PIXELS", 5000)  # a few rows per block
        assert np.array_equal(foreground.decontaminate(composite, alpha), whole)
        monkeypatch.setattr(foreground, "SOLVE_BLOCK_PIXELS", 500)  # a part of a row per block
        assert np.array_equal(foreground.decontaminate(composite, alpha), whole)
        monkeypatch.setattr(foreground, "SOLVE_ROWS", 2)  # solves of at most two rows
        assert np.array_equal(foreground.decontaminate(composite, alpha), whole)


def test_a_matte_soft_everywhere_costs_no_memory_per_edge_pixel() -> None:
    """6 MP, every pixel soft: beyond the recoloured copy, only the fixed low-resolution work.

    One index list for the whole photo took 8 bytes per soft pixel (peak 124 MB here).
    """
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    alpha = rng.integers(1, 255, (2000, 3000), dtype=np.uint8)
    tracemalloc.start()
    try:
        foreground.decontaminate(rgb, alpha)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < rgb.nbytes + 32 * 2**20, peak / 2**20


@pytest.mark.parametrize("height,width", [(300, 1000), (301, 999)])
def test_a_matte_soft_across_the_band_boundaries_is_solved_like_one_band(
        monkeypatch: pytest.MonkeyPatch, height: int, width: int) -> None:
    """Each band finds only its own rows' edge pixels (a band's last slice read on
    into the next band's rows: pixels listed twice, out of order, and an IndexError
    where a chunk of edge pixels ended just after them: a 500 on a hazy 12 MP photo)."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    alpha = rng.integers(1, 255, (height, width), dtype=np.uint8)  # soft everywhere
    monkeypatch.setattr(bands, "_pool", lambda: (None, 1))
    whole = foreground.decontaminate(rgb, alpha)
    pool = ThreadPoolExecutor(2)
    monkeypatch.setattr(bands, "_pool", lambda: (pool, 2))
    monkeypatch.setattr(bands, "MIN_PIXELS", 0)
    try:
        assert np.array_equal(foreground.decontaminate(rgb, alpha), whole)
    finally:
        pool.shutdown()


def test_cut_out_on_a_new_background_shows_no_green_fringe(segmenter) -> None:
    """The whole pipeline: a cut-out of the composite put on white keeps no green at its edge."""
    composite, alpha, _fg = disc_scene()
    data = encode(composite, "PNG")
    limits = pipeline.images.Limits(50.0, 50_000_000)
    on, off = (pipeline.cut(data, pipeline.Options(decontaminate=d, background_color=(255, 255, 255, 255),
                                                    format="png"), segmenter=segmenter, limits=limits)
               for d in (1.0, 0.0))
    ring = (alpha > 0) & (alpha < 255)
    green_excess = []
    for result in (on, off):
        rgb = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB")).astype(int)[ring]
        green_excess.append(float(np.clip(rgb[:, 1] - (rgb[:, 0] + rgb[:, 2]) / 2, 0, None).mean()))
    assert green_excess[0] < 0.5 * green_excess[1], green_excess


def test_a_transparent_logos_edge_keeps_its_colours(segmenter) -> None:
    """A PNG with its own soft alpha: straight colours, black under the transparent part."""
    yy, xx = np.mgrid[0:480, 0:640]
    a = np.clip((150 - np.hypot(xx - 320, yy - 240)) / 6 + 0.5, 0, 1)
    rgba = np.zeros((480, 640, 4), np.uint8)
    rgba[..., :3] = (230, 120, 30)
    rgba[..., 3] = (a * 255 + 0.5).astype(np.uint8)
    rgba[rgba[..., 3] == 0, :3] = 0
    result = pipeline.cut(encode(rgba, "PNG"), pipeline.Options(), segmenter=segmenter,
                          limits=pipeline.images.Limits(50.0, 50_000_000))
    out = np.asarray(Image.open(io.BytesIO(result.data)))
    visible = out[..., 3] > 0
    assert visible.sum() > 50_000
    assert np.array_equal(out[..., :3][visible], rgba[..., :3][visible])


def logo_fill(kind: str, inside: np.ndarray) -> np.ndarray:
    """A logo's colours (HxWx3 uint8): flat red, 6 px red/blue stripes, or yellow with a dark outline."""
    rgb = np.zeros(inside.shape + (3,), np.uint8)
    if kind == "flat":
        rgb[inside] = (220, 40, 30)
    elif kind == "stripes":
        stripes = (np.arange(inside.shape[1]) // 6) % 2 == 0
        rgb[inside & stripes[None, :]] = (220, 40, 30)
        rgb[inside & ~stripes[None, :]] = (30, 60, 220)
    else:  # outlined: a 6 px dark ring inside the shape's edge
        shrunk = inside.copy()
        for _ in range(6):
            shrunk[1:-1, 1:-1] &= shrunk[:-2, 1:-1] & shrunk[2:, 1:-1] & shrunk[1:-1, :-2] & shrunk[1:-1, 2:]
        rgb[inside] = (30, 30, 40)
        rgb[shrunk] = (250, 220, 40)
    return rgb


@pytest.mark.parametrize("fill", ["flat", "stripes", "outlined"])
@pytest.mark.parametrize("fmt", ["palette PNG", "GIF", "RGBA PNG"])
def test_a_logo_with_one_bit_transparency_keeps_its_colours(segmenter, fmt: str, fill: str) -> None:
    """Hard-edged transparency (a tRNS palette entry, a GIF's, alpha 0/255): the opaque pixels
    are the subject's own colours, whatever the hidden ones under the transparent part are.

    The model's matte is soft across the hard edge; the black stored under the
    transparent part is no background the opaque edge was ever mixed with (it
    was pushed away from it, up to 35 levels brighter, before).
    """
    yy, xx = np.mgrid[0:300, 0:400]
    inside = np.hypot((xx - 200) / 1.3, yy - 150) < 90
    rgb = logo_fill(fill, inside)
    if fmt == "RGBA PNG":
        data = encode(np.dstack([rgb, np.where(inside, 255, 0).astype(np.uint8)]), "PNG")
    else:
        image = Image.fromarray(rgb).quantize(4)
        hidden = int(np.asarray(image)[0, 0])
        out = io.BytesIO()
        image.save(out, "PNG" if fmt == "palette PNG" else "GIF", transparency=hidden)
        data = out.getvalue()
    result = pipeline.cut(data, pipeline.Options(), segmenter=segmenter,
                          limits=pipeline.images.Limits(50.0, 50_000_000))
    out_pixels = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGBA"))
    visible = out_pixels[..., 3] > 0
    assert ((out_pixels[..., 3] > 0) & (out_pixels[..., 3] < 255)).sum() > 100  # the matte is soft there
    assert np.array_equal(out_pixels[..., :3][visible], rgb[visible])


@pytest.mark.parametrize("level", [255, 128, 30])
def test_a_flat_colour_photo_keeps_its_colour_under_any_matte(level: int) -> None:
    """I = F = B everywhere, so nothing may move: not a faint strand between the
    subsampled grid's rows, nor a lone soft pixel beyond its last row (they went
    almost black: no foreground weight in their window read as a black foreground)."""
    height, width = 1500, 2000  # 3 MP: the local means are taken every few pixels
    rgb = np.full((height, width, 3), level, np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    alpha[300:700, 400:1000] = 255
    alpha[299, 400:1000] = 128
    alpha[1127, 100:1100] = 90  # a 1 px strand, far from the subject
    alpha[-1, -2] = 70
    out = foreground.decontaminate(rgb, alpha)
    assert np.abs(out.astype(int) - level).max() <= 1


@pytest.mark.parametrize("colour", [(20, 20, 20), (255, 255, 255), (30, 90, 200)])
def test_a_one_colour_icon_whose_shape_is_its_alpha_is_cut_out(segmenter, colour) -> None:
    """Every pixel one colour, the shape only in the alpha (icon exports): the model must see the shape."""
    yy, xx = np.mgrid[0:480, 0:640]
    shape = np.clip((140 - np.hypot(xx - 320, (yy - 240) * 1.4)) / 2 + 0.5, 0, 1)
    rgba = np.zeros((480, 640, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = (shape * 255 + 0.5).astype(np.uint8)
    result = pipeline.cut(encode(rgba, "PNG"), pipeline.Options(require_foreground=True), segmenter=segmenter,
                          limits=pipeline.images.Limits(50.0, 50_000_000))
    out = np.asarray(Image.open(io.BytesIO(result.data)))
    cut, truth = out[..., 3] >= 128, rgba[..., 3] >= 128
    assert (cut & truth).sum() / (cut | truth).sum() > 0.9
    visible = out[..., 3] > 0
    assert (out[..., :3][visible] == colour).all()  # its colour kept


def test_a_bright_logos_dark_outline_stays_in_the_mask(segmenter) -> None:
    """Stored over white, a yellow logo with a dark outline: the model must see the outline."""
    yy, xx = np.mgrid[0:300, 0:400]
    inside = np.hypot((xx - 200) / 1.3, yy - 150) < 90
    rgb = logo_fill("outlined", inside)
    outline = inside & (rgb[..., 0] < 100)
    rgb[outline] = 0  # black: over a black backdrop it would vanish (54 of 3,468 pixels kept)
    rgb[~inside] = 255  # what this file stores under its transparent part
    rgba = np.dstack([rgb, np.where(inside, 255, 0).astype(np.uint8)])
    result = pipeline.cut(encode(rgba, "PNG"), pipeline.Options(mode="fg-mask"), segmenter=segmenter,
                          limits=pipeline.images.Limits(50.0, 50_000_000))
    mask = np.asarray(Image.open(io.BytesIO(result.data)))
    assert (mask[outline] >= 128).mean() > 0.95


def test_a_panorama_soft_everywhere_costs_no_memory_per_edge_pixel() -> None:
    """One row of 3 million pixels: the scan works in blocks of columns too."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (1, 3_000_000, 3), dtype=np.uint8)
    alpha = rng.integers(1, 255, (1, 3_000_000), dtype=np.uint8)
    tracemalloc.start()
    try:
        out = foreground.decontaminate(rgb, alpha)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == rgb.shape
    assert peak < rgb.nbytes + 32 * 2**20, peak / 2**20


def test_an_image_without_soft_pixels_is_returned_as_it_is() -> None:
    composite, alpha, _fg = disc_scene()
    hard = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    assert foreground.decontaminate(composite, hard) is composite


def test_decontaminate_outside_0_1_is_refused() -> None:
    with pytest.raises(pipeline.InvalidOption) as caught:
        pipeline.Options(decontaminate=1.5)
    assert caught.value.code == "invalid_decontaminate"


def test_refinement_moves_a_blurred_outline_onto_the_photo_edge_and_keeps_solid_parts() -> None:
    height, width = 320, 1280  # 4 px per model pixel
    photo = np.zeros((height, width, 3), np.uint8)
    photo[:, :] = (30, 90, 200)  # blue background
    photo[:, 640:] = (230, 180, 40)  # yellow subject from column 640
    truth = np.zeros((height, width), np.uint8)
    truth[:, 640:] = 255
    # A matte like an upsampled model mask: a 3-model-pixel ramp, centred 1 model pixel off the edge.
    x = np.arange(width, dtype=np.float64)
    ramp = np.clip((x - 636) / 12 + 0.5, 0, 1)
    blurred = np.tile((ramp * 255 + 0.5).astype(np.uint8), (height, 1))
    refined = refine.refine(photo, blurred)
    solid = (blurred == 0) | (blurred == 255)
    assert np.array_equal(refined[solid], blurred[solid])
    before, after = score(blurred, truth), score(refined, truth)
    assert after.boundary < 0.75 * before.boundary
    assert after.iou == 1.0 > before.iou
    assert refined[0, 640] >= 230 and refined[0, 639] < 128  # the 50% line is on the photo's edge


def test_refinement_leaves_a_matte_without_an_undecided_band_alone() -> None:
    photo = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    hard = np.zeros((100, 120), np.uint8)
    hard[20:80, 30:90] = 255
    assert np.array_equal(refine.refine(photo, hard), hard)
