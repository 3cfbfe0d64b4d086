"""Output options, implemented once: colours, lengths, crop, scale, position, backgrounds, formats.

The parsers and array functions are checked on small synthetic arrays whose
every pixel is known; the pipeline is checked on a real photo (the coffee cup)
with the real model, by looking at the output pixels.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageFilter

from rss_probe import growth_of

from cutout.engine import colors, compose, geometry, images, matte, pipeline, segment
from cutout.errors import InvalidOption
from conftest import encode
from photos import assert_subject_found

LIMITS = images.Limits()


# --- colours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, rgba",
    [
        ("ff0000", (255, 0, 0, 255)),
        ("#ff0000", (255, 0, 0, 255)),
        ("f00", (255, 0, 0, 255)),
        ("#0f08", (0, 255, 0, 136)),
        ("81d4fa77", (0x81, 0xD4, 0xFA, 0x77)),
        ("81D4FA", (0x81, 0xD4, 0xFA, 255)),
        ("green", (0, 128, 0, 255)),
        ("LightBlue", (173, 216, 230, 255)),
        (" white ", (255, 255, 255, 255)),
    ],
)
def test_colour_forms(text, rgba):
    assert colors.parse(text) == rgba


@pytest.mark.parametrize("text", ["", "ff", "fffff", "#ggg", "notacolour", "ff0000ff00", "rgb(1,2,3)"])
def test_bad_colours_are_refused_with_a_code(text):
    with pytest.raises(InvalidOption) as caught:
        colors.parse(text)
    assert caught.value.code == "invalid_color"
    assert "hex" in caught.value.message


# --- lengths, margins, regions, scale, position ------------------------------------------------


def test_lengths_in_pixels_and_percent():
    assert geometry.parse_length("30px", "x") == geometry.Length(30.0)
    assert geometry.parse_length("30", "x") == geometry.Length(30.0)
    assert geometry.parse_length("12.5%", "x").resolve(200) == 25.0
    with pytest.raises(InvalidOption) as caught:
        geometry.parse_length("-3px", "invalid_thing")
    assert caught.value.code == "invalid_thing"


def test_margin_takes_one_two_or_four_values_in_css_order():
    one = geometry.parse_margin("10px").resolve(100, 50)
    assert one == (10, 10, 10, 10)
    two = geometry.parse_margin("10% 20px").resolve(200, 50)  # top/bottom of height, left/right px
    assert two == (5, 20, 5, 20)
    four = geometry.parse_margin("1px 2px 3px 10%").resolve(300, 50)
    assert four == (1, 2, 3, 30)


@pytest.mark.parametrize("text", ["1px 2px 3px", "", "501px", "51%", "a b", "1,2,3,4,5"])
def test_bad_margins(text):
    with pytest.raises(InvalidOption) as caught:
        geometry.parse_margin(text)
    assert caught.value.code == "invalid_crop_margin"


def test_margin_limits_are_500px_and_50_percent():
    assert geometry.parse_margin("500px 50%").resolve(100, 100) == (500, 50, 500, 50)


def test_region_resolves_pixels_and_percentages():
    region = geometry.parse_region("10px 20 50% 100%")
    assert region.resolve(200, 100) == (10, 20, 100, 100)
    assert geometry.parse_region("0% 0% 100% 100%").resolve(7, 5) == (0, 0, 7, 5)


@pytest.mark.parametrize("text", ["0 0 10", "0 0 10 10 10", "50 0 10 10", "0 0 101% 50%", "x y z w", ""])
def test_bad_regions(text):
    with pytest.raises(InvalidOption) as caught:
        geometry.parse_region(text)
    assert caught.value.code == "invalid_roi"


def test_region_outside_the_image_is_refused():
    with pytest.raises(InvalidOption) as caught:
        geometry.parse_region("0 0 201px 10px").resolve(200, 100)
    assert caught.value.code == "roi_exceeds_bounds"
    assert "200x100" in caught.value.message


def test_scale_and_position():
    assert geometry.parse_scale("original") is None
    assert geometry.parse_scale("10%") == pytest.approx(0.1)
    assert geometry.parse_scale("100%") == pytest.approx(1.0)
    assert geometry.parse_position("original") is None
    assert geometry.parse_position("center") == (0.5, 0.5)
    assert geometry.parse_position("20%") == (0.2, 0.2)
    assert geometry.parse_position("0% 100%") == (0.0, 1.0)


@pytest.mark.parametrize("text, code", [
    ("9%", "invalid_scale"), ("101%", "invalid_scale"), ("50", "invalid_scale"), ("big", "invalid_scale"),
])
def test_bad_scales(text, code):
    with pytest.raises(InvalidOption) as caught:
        geometry.parse_scale(text)
    assert caught.value.code == code


@pytest.mark.parametrize("text", ["left", "120%", "10% 20% 30%", "10px", ""])
def test_bad_positions(text):
    with pytest.raises(InvalidOption) as caught:
        geometry.parse_position(text)
    assert caught.value.code == "invalid_position"


# --- array functions -----------------------------------------------------------------------------


def square_subject(size=(40, 60), box=(10, 5, 20, 10)):
    """An RGB canvas (height, width) with an opaque orange box (left, top, width, height)."""
    height, width = size
    left, top, w, h = box
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, :] = (0, 0, 255)
    rgb[top : top + h, left : left + w] = (255, 128, 0)
    alpha = np.zeros((height, width), np.uint8)
    alpha[top : top + h, left : left + w] = 255
    return rgb, alpha


def test_crop_pads_outside_the_image_with_transparent_black():
    rgb, alpha = square_subject()
    out = compose.crop(alpha, (-5, -5, 15, 10))
    assert out.shape == (15, 20)
    assert (out[:5] == 0).all() and (out[:, :5] == 0).all()
    assert (out[10:, 15:] == alpha[5:10, 10:15]).all()


def test_place_scales_the_subject_relative_to_the_canvas_and_positions_it():
    rgb, alpha = square_subject(size=(40, 60), box=(10, 5, 20, 10))
    # 50%: the subject grows to half of what fits (min(60/20, 40/10) = 3 -> 1.5x): 30x15.
    out_rgb, out_alpha = compose.place(rgb, alpha, (10, 5, 20, 10), scale=0.5, position=(0.5, 0.5))
    assert matte.bounding_box(out_alpha) == (15, 12, 30, 15)
    assert tuple(out_rgb[19, 30]) == (255, 128, 0)
    _, corner = compose.place(rgb, alpha, (10, 5, 20, 10), position=(1.0, 1.0))
    assert matte.bounding_box(corner) == (40, 30, 20, 10)
    _, left_top = compose.place(rgb, alpha, (10, 5, 20, 10), position=(0.0, 0.0))
    assert matte.bounding_box(left_top) == (0, 0, 20, 10)


def test_place_without_position_keeps_the_subject_centre():
    rgb, alpha = square_subject(size=(40, 60), box=(10, 5, 20, 10))
    _, out = compose.place(rgb, alpha, (10, 5, 20, 10), scale=0.25)  # 0.75x: 15x8 (rounded)
    left, top, width, height = matte.bounding_box(out)
    assert (width, height) == (15, 8)
    assert abs(left + width / 2 - 20) <= 1 and abs(top + height / 2 - 10) <= 1


def test_cover_fills_the_canvas_without_distortion():
    # A 20x10 image: left half red, right half green; covering 10x10 keeps its middle.
    image = np.zeros((10, 20, 4), np.uint8)
    image[:, :10] = (255, 0, 0, 255)
    image[:, 10:] = (0, 255, 0, 255)
    covered = compose.cover(image, 10, 10)
    assert covered.shape == (10, 10, 4)
    assert tuple(covered[5, 0]) == (255, 0, 0, 255) and tuple(covered[5, 9]) == (0, 255, 0, 255)
    tall = compose.cover(image, 30, 60)  # scaled 6x to 120x60, centre 30 columns
    assert tall.shape == (60, 30, 4) and (tall[:, :, 3] == 255).all()


def test_cover_cuts_the_overflow_at_the_position():
    # 43 columns, each its own value, covering 20x20: no scaling, 23 columns cut off.
    image = np.zeros((20, 43, 4), np.uint8)
    image[:, :, 0] = np.arange(43, dtype=np.uint8)
    image[:, :, 3] = 255
    assert np.array_equal(compose.cover(image, 20, 20, (0.0, 0.5)), image[:, :20])
    assert np.array_equal(compose.cover(image, 20, 20, (1.0, 0.5)), image[:, 23:])
    assert np.array_equal(compose.cover(image, 20, 20), image[:, 12:32])  # round(11.5): 12


PHOTO = ("import numpy as np\nfrom cutout.engine import compose\n"
         "photo = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)\n")


def test_a_background_covering_a_panorama_costs_about_the_panoramas_size():
    """A 600x400 photo covering a 20000x1 canvas: only the kept row is resized (scaled
    whole it would be 20000x13334, 800 MB; under a 25 MP banner one pixel high, 1.3 PB)."""
    setup = PHOTO + "photo[:, :300] = (255, 0, 0)\nphoto[:, 300:] = (0, 0, 255)\ncompose.cover(photo, 60, 60)"
    growth, printed = growth_of(setup, "strip = compose.cover(photo, 20000, 1)\n"
                                       "print(strip.shape, strip[0, 0].tolist(), strip[0, -1].tolist())")
    assert printed == "(1, 20000, 3) [255, 0, 0] [0, 0, 255]"  # the photo's left and right ends
    assert growth < 50, growth  # MB of resident memory above the start


def test_a_panoramas_shadow_and_flattening_cost_about_its_own_size():
    """4 MP one pixel high: the RGBA result is 16 MB; compositing a whole row at a time
    took ~5 float32 copies of it (and the shadow's resize a tap table per pixel)."""
    setup = PHOTO + ("rgb = np.resize(photo, (1, 4_000_000, 3))\n"
                     "alpha = np.resize(np.arange(256, dtype=np.uint8), (1, 4_000_000))\n"
                     "compose.with_shadow(rgb[:, :100], alpha[:, :100])")
    growth, shape = growth_of(setup, "print(compose.flatten(compose.with_shadow(rgb, alpha), (255, 255, 255)).shape)")
    assert shape == "(1, 4000000, 3)"
    assert growth < 120, growth  # MB: the result, its RGBA and the shadow's float matte


def test_cover_keeps_the_same_middle_whether_it_resizes_all_or_the_kept_box():
    image = np.random.default_rng(4).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(2)))
    covered = compose.cover(image, 90, 30)  # scaled 1.5x to 90x60, 15 rows cut above and below
    whole = compose.resize(image, 90, 60)[15:45]
    assert covered.shape == (30, 90, 3)
    assert np.abs(covered.astype(int) - whole).max() <= 2  # filter centres round, nothing moves


def test_cover_at_the_images_own_aspect_ratio_is_a_plain_resize():
    # 7 * (29 / 7) is 29.000000000000004 in floating point: still 29 px, no column cut off.
    image = np.random.default_rng(1).integers(0, 256, (7, 7, 4), dtype=np.uint8)
    assert np.array_equal(compose.cover(image, 29, 29), compose.resize(image, 29, 29))


def test_rgba_packs_colour_and_alpha_into_a_new_array():
    rgb = np.random.default_rng(2).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    alpha = np.arange(15, dtype=np.uint8).reshape(3, 5) * 17
    packed = compose.rgba(rgb, alpha)
    assert packed.shape == (3, 5, 4) and packed.dtype == np.uint8
    assert np.array_equal(packed[:, :, :3], rgb) and np.array_equal(packed[:, :, 3], alpha)
    opaque = compose.rgba(rgb)
    assert np.array_equal(opaque[:, :, :3], rgb) and (opaque[:, :, 3] == 255).all()
    packed[:, :, :] = 0  # a copy: the inputs are untouched
    assert rgb.any() and alpha.any()


def test_background_layers_and_stored_images_decode_to_pillows_rgba():
    from cutout import imagelib

    rgba = np.random.default_rng(3).integers(0, 256, (6, 9, 4), dtype=np.uint8)
    png = encode(rgba, "PNG")
    assert np.array_equal(pipeline.background_layer(png, LIMITS), rgba)
    assert np.array_equal(imagelib.decode(png, LIMITS), rgba)
    opaque = encode(rgba[:, :, :3], "PNG")
    assert np.array_equal(pipeline.background_layer(opaque, LIMITS), np.dstack(
        [rgba[:, :, :3], np.full((6, 9), 255, np.uint8)]))
    assert np.array_equal(imagelib.decode(opaque, LIMITS), rgba[:, :, :3])  # no alpha added


def test_on_background_shows_the_background_only_where_the_subject_is_clear():
    rgb, alpha = square_subject()
    product = compose.cutout(rgb, alpha)
    out = compose.on_background(product, compose.solid((255, 0, 0, 255), 60, 40))
    assert tuple(out[0, 0]) == (255, 0, 0, 255)
    assert tuple(out[8, 15]) == (255, 128, 0, 255)
    half = compose.on_background(product, compose.solid((0, 255, 0, 128), 60, 40))
    assert tuple(half[0, 0]) == (0, 255, 0, 128)
    assert tuple(half[8, 15]) == (255, 128, 0, 255)


# --- Options validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, code", [
    ({"format": "gif"}, "invalid_format"),
    ({"mode": "fg-mask", "format": "zip"}, "invalid_format"),
    ({"background_color": (0, 0, 0, 255), "background_image": b"x"}, "multiple_backgrounds"),
    ({"shadow_opacity": 1.5}, "invalid_shadow_opacity"),
    ({"max_megapixels": 0}, "invalid_size"),
    ({"scale": 0}, "invalid_scale"),
    ({"position": (0.5, 2.0)}, "invalid_position"),
])
def test_options_refuse_impossible_combinations(kwargs, code):
    with pytest.raises(InvalidOption) as caught:
        pipeline.Options(**kwargs)
    assert caught.value.code == code


# --- the pipeline on a real photo ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cup(segmenter, coffee_jpeg):
    """Cut the coffee photo with `options`, returning the result and its decoded image."""

    def run(**kwargs):
        result = pipeline.cut(coffee_jpeg, pipeline.Options(**kwargs), segmenter=segmenter, limits=LIMITS)
        if result.format == "zip":
            return result, None
        img = Image.open(io.BytesIO(result.data))
        assert (img.width, img.height) == (result.width, result.height)
        return result, img

    return run


@pytest.fixture(scope="module")
def plain(cup):
    result, img = cup()
    return result, np.asarray(img)


def test_plain_cut_out_reports_the_subject_box(plain):
    result, rgba = plain
    assert result.foreground == matte.bounding_box(rgba[:, :, 3])
    left, top, width, height = result.foreground
    assert 40 < left < 120 and 0 <= top < 40 and 350 < width < 460 and 330 < height < 400
    assert_subject_found(rgba[:, :, 3], "coffee")


def test_crop_is_the_subject_box_plus_the_margin(cup, plain):
    left, top, width, height = plain[0].foreground
    result, img = cup(crop=True, crop_margin=geometry.parse_margin("10px 5% 0 30px"))
    margin_right = round(0.05 * width)
    assert (img.width, img.height) == (30 + width + margin_right, 10 + height)
    assert result.foreground == (30, 10, width, height)
    alpha = np.asarray(img)[:, :, 3]
    assert (alpha[:10] < 8).all() and (alpha[:, :30] < 8).all() and (alpha[:, -margin_right:] < 8).all()
    # The subject's pixels are the photo's, only moved.
    original = plain[1]
    crop_rgba = np.asarray(img)
    assert np.array_equal(crop_rgba[10:, 30 : 30 + width], original[top : top + height, left : left + width])


def test_roi_clears_everything_outside_it(cup):
    result, img = cup(roi=geometry.parse_region("0 0 50% 100%"))
    alpha = np.asarray(img)[:, :, 3]
    assert (alpha[:, 300:] == 0).all()
    assert alpha[100:300, 200:300].mean() > 230  # the left half of the cup is still there
    assert result.foreground[0] + result.foreground[2] <= 300


def test_size_cap_downscales_with_the_aspect_kept(cup):
    result, img = cup(max_megapixels=0.06)
    assert img.width * img.height <= 60_000
    assert abs(img.width / img.height - 1.5) < 0.01
    assert img.width >= 298


def test_size_cap_applies_after_cropping(cup, plain):
    _, _, width, height = plain[0].foreground
    _, img = cup(crop=True, max_megapixels=0.05)
    assert img.width * img.height <= 50_000
    assert abs(img.width / img.height - width / height) < 0.02


def test_scale_and_position_move_the_subject(cup, plain):
    _, _, width, height = plain[0].foreground
    result, img = cup(scale=0.5, position=(0.0, 1.0))
    assert (img.width, img.height) == (600, 400)
    left, top, w, h = result.foreground
    factor = 0.5 * min(600 / width, 400 / height)
    assert abs(w - width * factor) <= 2 and abs(h - height * factor) <= 2
    assert left <= 1 and abs(top + h - 400) <= 1  # bottom left corner


def test_background_colour_fills_where_the_background_was(cup, plain):
    result, img = cup(background_color=colors.parse("ff0000"), format="auto")
    assert result.format == "jpg" and img.mode == "RGB"
    pixels = np.asarray(img).astype(int)
    clear = plain[1][:, :, 3] == 0
    assert np.abs(pixels[clear] - (255, 0, 0)).mean() < 6
    subject = plain[1][:, :, 3] == 255
    assert np.abs(pixels[subject] - plain[1][:, :, :3][subject]).mean() < 6


def test_background_image_is_scaled_to_cover(cup, plain):
    # A 60x10 backdrop, blue with a green middle half: covering 600x400 scales it 40x to
    # 2400x400 and keeps source columns 22.5-37.5, so only green shows.
    backdrop = np.zeros((10, 60, 3), np.uint8)
    backdrop[:] = (0, 0, 255)
    backdrop[:, 15:45] = (0, 255, 0)
    result, img = cup(background_image=encode(backdrop, "PNG"), format="png")
    rgba = np.asarray(img).astype(int)
    clear = plain[1][:, :, 3] == 0
    assert (rgba[:, :, 3] == 255).all()
    assert np.abs(rgba[clear][:, :3] - (0, 255, 0)).max() <= 3


def test_shadow_sits_between_background_and_subject(cup, plain):
    _, img = cup(mode="fg-image-shadow", shadow_opacity=0.8, background_color=(255, 255, 255, 255))
    rgb = np.asarray(img)[:, :, :3].astype(int)
    subject = plain[1][:, :, 3]
    assert (np.asarray(img)[:, :, 3] == 255).all()
    outside = subject == 0
    darkness = np.where(outside, 255 - rgb.mean(axis=2), 0)
    assert darkness[:20, :20].max() < 3  # far from the subject: the white background
    assert darkness.max() > 60  # the shadow shows where the subject is not
    # ... and it falls below and to the right of the subject.
    rows, cols = np.nonzero(darkness > 20)
    sub_rows, sub_cols = np.nonzero(subject > 128)
    assert rows.mean() > sub_rows.mean() and cols.mean() > sub_cols.mean()


def test_auto_format_is_png_while_transparent(cup):
    assert cup(format="auto")[0].format == "png"
    assert cup(format="auto", background_color=(0, 0, 0, 128))[0].format == "png"
    assert cup(format="auto", mode="fg-mask")[0].format == "png"


def test_zip_parts_compose_to_the_png(cup, plain):
    result, _ = cup(format="zip")
    assert result.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = np.asarray(Image.open(io.BytesIO(archive.read("color.jpg"))))
        alpha = np.asarray(Image.open(io.BytesIO(archive.read("alpha.png"))))
    png = plain[1]
    assert np.array_equal(alpha, png[:, :, 3])
    visible = alpha > 0
    diff = np.abs(colour.astype(int) - png[:, :, :3].astype(int))[visible]
    assert diff.mean(axis=0).max() <= 2  # within 2 levels per channel


def test_no_subject_is_refused_only_when_required(segmenter):
    flat = encode(np.full((120, 160, 3), 128, np.uint8), "PNG")
    with pytest.raises(segment.NoForeground) as caught:
        pipeline.cut(flat, pipeline.Options(require_foreground=True), segmenter=segmenter, limits=LIMITS)
    assert caught.value.code == "unknown_foreground"
    assert pipeline.cut(flat, pipeline.Options(), segmenter=segmenter, limits=LIMITS).width == 160


def test_preflight_refuses_a_region_outside_the_image():
    header = images.Header("JPEG", 600, 400)
    pipeline.preflight(pipeline.Options(roi=geometry.parse_region("0 0 600 400")), header)
    with pytest.raises(InvalidOption) as caught:
        pipeline.preflight(pipeline.Options(roi=geometry.parse_region("0 0 601px 10px")), header)
    assert caught.value.code == "roi_exceeds_bounds"
