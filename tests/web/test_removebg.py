"""The remove.bg v1.0 dialect: every parameter and value, every error code, checked on pixels and headers.

The app runs with real metering (SQLite in a temporary folder) and API keys, as
deployed; each module-level key has room for every request made here.
"""
from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cutout.engine import images, matte
from cutout.web.dialects import removebg
from cutout.web import create_app
from conftest import encode, keyed_app, new_key
from local_http import Route
from photos import assert_subject_found

URL = "/v1.0/removebg"


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    return keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("removebg")))


@pytest.fixture(scope="module")
def api(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def key(app) -> str:
    return new_key(app)


@pytest.fixture(scope="module")
def post(api, key):
    def send(data=None, files=None, json=None, headers=None, api_key=None):
        headers = {"X-Api-Key": api_key or key, **(headers or {})}
        return api.post(URL, data=data, files=files, json=json, headers=headers)

    return send


def upload(photo: bytes, name: str = "image_file"):
    return {name: ("photo.jpg", photo, "image/jpeg")}


def image_of(response) -> Image.Image:
    assert response.status_code == 200, response.text
    img = Image.open(io.BytesIO(response.content))
    assert (str(img.width), str(img.height)) == (response.headers["x-width"], response.headers["x-height"])
    return img


def header_box(response) -> tuple[int, int, int, int]:
    h = response.headers
    return (int(h["x-foreground-left"]), int(h["x-foreground-top"]),
            int(h["x-foreground-width"]), int(h["x-foreground-height"]))


def credits_used(api, api_key) -> float:
    response = api.get("/v1.0/account", headers={"X-Api-Key": api_key})
    assert response.status_code == 200, response.text
    return response.json()["data"]["attributes"]["cutout"]["usage"]["credits"]


@pytest.fixture(scope="module")
def plain(post, coffee_jpeg):
    """The default product at full size: what every option is compared against."""
    response = post(data={"size": "full"}, files=upload(coffee_jpeg))
    img = image_of(response)
    return response, np.asarray(img)


@pytest.fixture(scope="module")
def large_jpeg(coffee) -> bytes:
    """The coffee photo at 1800x1200 (2.16 megapixels)."""
    return encode(np.asarray(Image.fromarray(coffee).resize((1800, 1200))), "JPEG", quality=90)


# --- the default product and its headers ----------------------------------------------------------


def test_plain_request_is_a_transparent_png_with_headers(plain):
    response, rgba = plain
    assert response.headers["content-type"] == "image/png"
    assert rgba.shape == (400, 600, 4)
    assert_subject_found(rgba[:, :, 3], "coffee")
    assert header_box(response) == matte.bounding_box(rgba[:, :, 3])
    assert response.headers["x-credits-charged"] == "0.25"  # 600x400 is a preview-sized image
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert int(response.headers[name]) >= 0


# --- size -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, width, height, credits", [
    (None, 612, 408, "0.25"),  # remove.bg's default is preview
    ("preview", 612, 408, "0.25"),
    ("small", 612, 408, "0.25"),
    ("regular", 612, 408, "0.25"),
    ("medium", 1500, 1000, "1"),
    ("hd", 1800, 1200, "1"),
    ("full", 1800, 1200, "1"),
    ("4k", 1800, 1200, "1"),
    ("auto", 1800, 1200, "1"),
    ("50MP", 1800, 1200, "1"),
])
def test_size_caps_the_output_with_the_aspect_kept(post, large_jpeg, size, width, height, credits):
    data = {} if size is None else {"size": size}
    response = post(data=data, files=upload(large_jpeg))
    img = image_of(response)
    assert (img.width, img.height) == (width, height)
    assert response.headers["x-credits-charged"] == credits


def test_hd_caps_at_four_megapixels(post, coffee):
    big = encode(np.asarray(Image.fromarray(coffee).resize((3000, 2000))), "JPEG", quality=85)
    img = image_of(post(data={"size": "hd", "format": "jpg"}, files=upload(big)))
    assert img.width * img.height <= 4_000_000 and img.width >= 2440
    assert abs(img.width / img.height - 1.5) < 0.01


# --- format and channels -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, content_type, pil_format, mode", [
    ("auto", "image/png", "PNG", "RGBA"),
    ("png", "image/png", "PNG", "RGBA"),
    ("webp", "image/webp", "WEBP", "RGBA"),
    ("jpg", "image/jpeg", "JPEG", "RGB"),
])
def test_formats(post, coffee_jpeg, plain, fmt, content_type, pil_format, mode):
    response = post(data={"size": "full", "format": fmt}, files=upload(coffee_jpeg))
    img = image_of(response)
    assert response.headers["content-type"] == content_type
    assert (img.format, img.mode) == (pil_format, mode)
    reference = plain[1]
    if mode == "RGBA":
        assert np.abs(np.asarray(img)[:, :, 3].astype(int) - reference[:, :, 3]).mean() < 2
    else:  # JPEG has no transparency: the background becomes white
        clear = reference[:, :, 3] == 0
        assert np.asarray(img)[clear].mean() > 245


def test_auto_format_is_jpg_when_the_result_is_opaque(post, coffee_jpeg):
    response = post(data={"size": "full", "bg_color": "white"}, files=upload(coffee_jpeg))
    assert response.headers["content-type"] == "image/jpeg"
    assert image_of(response).format == "JPEG"


def banner(coffee: np.ndarray, width: int, height: int) -> bytes:
    """The photo stretched into a banner; the model, which squashes every photo to a square, sees the cup."""
    return encode(np.asarray(Image.fromarray(coffee).resize((width, height), Image.Resampling.BILINEAR)), "PNG")


def test_a_banner_wider_than_webp_holds_is_a_400_that_says_so_and_costs_nothing(app, api, coffee):
    api_key = new_key(app)
    response = api.post(URL, data={"size": "full", "format": "webp"}, files=upload(banner(coffee, 17_000, 60)),
                        headers={"X-Api-Key": api_key})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_format"
    assert error["detail"] == ("WebP holds at most 16383 pixels a side and this result is 17000x60: "
                               "ask for PNG, or a smaller size.")
    assert credits_used(api, api_key) == 0
    png = api.post(URL, data={"size": "full", "format": "png"}, files=upload(banner(coffee, 17_000, 60)),
                   headers={"X-Api-Key": api_key})
    assert image_of(png).size == (17_000, 60)


def test_auto_format_of_an_opaque_result_wider_than_jpeg_holds_is_png(post, coffee):
    response = post(data={"size": "full", "bg_color": "white"}, files=upload(banner(coffee, 66_000, 8)))
    assert response.headers["content-type"] == "image/png"
    img = image_of(response)
    assert (img.format, img.size) == ("PNG", (66_000, 8))
    assert np.asarray(img.convert("RGBA"))[:, :, 3].min() == 255  # opaque: JPEG would have been chosen


def test_zip_parts_compose_to_the_png(post, coffee_jpeg, plain):
    response = post(data={"size": "full", "format": "zip"}, files=upload(coffee_jpeg))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        colour = np.asarray(Image.open(io.BytesIO(archive.read("color.jpg"))))
        alpha = np.asarray(Image.open(io.BytesIO(archive.read("alpha.png"))))
    png = plain[1]
    assert alpha.shape == png.shape[:2] and colour.shape == png.shape[:2] + (3,)
    assert np.array_equal(alpha, png[:, :, 3])
    composed_diff = np.abs(colour.astype(int) - png[:, :, :3])[alpha > 0]
    assert composed_diff.mean(axis=0).max() <= 2


def test_channels_alpha_is_the_matte_alone(post, coffee_jpeg, plain):
    response = post(data={"size": "full", "channels": "alpha", "format": "png"}, files=upload(coffee_jpeg))
    img = image_of(response)
    assert img.mode == "L"
    assert np.array_equal(np.asarray(img), plain[1][:, :, 3])


def test_channels_rgba_is_the_default(post, coffee_jpeg, plain):
    img = image_of(post(data={"size": "full", "channels": "rgba"}, files=upload(coffee_jpeg)))
    assert np.array_equal(np.asarray(img), plain[1])


# --- backgrounds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("colour, rgba", [
    ("ff0000", (255, 0, 0, 255)),
    ("#0f0", (0, 255, 0, 255)),
    ("navy", (0, 0, 128, 255)),
    ("81d4fa77", (0x81, 0xD4, 0xFA, 0x77)),
])
def test_bg_color_fills_where_the_background_was(post, coffee_jpeg, plain, colour, rgba):
    response = post(data={"size": "full", "bg_color": colour, "format": "png"}, files=upload(coffee_jpeg))
    out = np.asarray(image_of(response).convert("RGBA")).astype(int)
    reference = plain[1]
    clear, solid = reference[:, :, 3] == 0, reference[:, :, 3] == 255
    assert np.abs(out[clear] - rgba).max() <= 1
    assert (out[solid][:, 3] == 255).all()
    assert np.abs(out[solid][:, :3] - reference[solid][:, :3]).max() <= 1


def test_bg_color_red_gives_an_opaque_jpg(post, coffee_jpeg, plain):
    img = image_of(post(data={"size": "full", "bg_color": "ff0000"}, files=upload(coffee_jpeg)))
    assert img.mode == "RGB"
    clear = plain[1][:, :, 3] == 0
    assert np.abs(np.asarray(img)[clear].astype(int) - (255, 0, 0)).mean() < 6


@pytest.fixture(scope="module")
def backdrop() -> bytes:
    """60x10, blue with a green middle half: covering 600x400 shows only green."""
    pixels = np.zeros((10, 60, 3), np.uint8)
    pixels[:] = (0, 0, 255)
    pixels[:, 15:45] = (0, 255, 0)
    return encode(pixels, "PNG")


def check_green_backdrop(response, plain) -> None:
    out = np.asarray(image_of(response).convert("RGBA")).astype(int)
    clear = plain[1][:, :, 3] == 0
    assert (out[:, :, 3] == 255).all()
    assert np.abs(out[clear][:, :3] - (0, 255, 0)).max() <= 3


def test_bg_image_file_is_scaled_to_cover(post, coffee_jpeg, plain, backdrop):
    files = {**upload(coffee_jpeg), "bg_image_file": ("bg.png", backdrop, "image/png")}
    check_green_backdrop(post(data={"size": "full", "format": "png"}, files=files), plain)


def test_a_request_translates_its_fields_once_and_reads_each_header_once(
        post, coffee_jpeg, plain, backdrop, monkeypatch):
    """The fields are parsed once (the background joins the options after its download) and
    the photo's header, read to price the request, is handed to the metering door, not re-read."""
    reads: list[bytes] = []
    read_header = images.read_header
    translations: list[dict] = []
    translate = removebg.translate

    def counted_read(data, limits):
        reads.append(data)
        return read_header(data, limits)

    def counted_translate(fields):
        translations.append(fields)
        return translate(fields)

    monkeypatch.setattr(images, "read_header", counted_read)
    monkeypatch.setattr(removebg, "translate", counted_translate)
    files = {**upload(coffee_jpeg), "bg_image_file": ("bg.png", backdrop, "image/png")}
    check_green_backdrop(post(data={"size": "full", "format": "png"}, files=files), plain)
    assert len(translations) == 1
    assert reads.count(coffee_jpeg) == 1 and reads.count(backdrop) == 1


def test_bg_image_url_is_scaled_to_cover(post, coffee_jpeg, plain, backdrop, web_server):
    web_server.routes["/bg.png"] = Route(body=backdrop, headers={"Content-Type": "image/png"})
    data = {"size": "full", "format": "png", "bg_image_url": web_server.url("/bg.png")}
    check_green_backdrop(post(data=data, files=upload(coffee_jpeg)), plain)


# --- geometry ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("roi", ["0% 0% 50% 100%", "0px 0px 300px 400px", "0 0 300 400"])
def test_roi_limits_where_the_subject_can_be(post, coffee_jpeg, roi):
    response = post(data={"size": "full", "roi": roi}, files=upload(coffee_jpeg))
    alpha = np.asarray(image_of(response))[:, :, 3]
    assert alpha.shape == (400, 600)
    assert (alpha[:, 300:] == 0).all()
    assert alpha[100:300, 200:300].mean() > 230
    left, _, width, _ = header_box(response)
    assert left + width <= 300


@pytest.mark.parametrize("margin, expected", [
    (None, (0, 0, 0, 0)),
    ("0", (0, 0, 0, 0)),
    ("10px", (10, 10, 10, 10)),
    ("10px 20px", (10, 20, 10, 20)),
    ("1px 2px 3px 4px", (1, 2, 3, 4)),
    ("10%", "relative"),
])
def test_crop_gives_the_foreground_box_plus_margin(post, coffee_jpeg, plain, margin, expected):
    left, top, width, height = header_box(plain[0])
    data = {"size": "full", "crop": "true"}
    if margin is not None:
        data["crop_margin"] = margin
    response = post(data=data, files=upload(coffee_jpeg))
    img = image_of(response)
    if expected == "relative":
        expected = (round(0.1 * height), round(0.1 * width), round(0.1 * height), round(0.1 * width))
    m_top, m_right, m_bottom, m_left = expected
    assert (img.width, img.height) == (m_left + width + m_right, m_top + height + m_bottom)
    assert header_box(response) == (m_left, m_top, width, height)
    crop = np.asarray(img)
    assert np.array_equal(crop[m_top : m_top + height, m_left : m_left + width],
                          plain[1][top : top + height, left : left + width])


def test_crop_margin_has_no_effect_without_crop(post, coffee_jpeg, plain):
    img = image_of(post(data={"size": "full", "crop_margin": "30px"}, files=upload(coffee_jpeg)))
    assert np.array_equal(np.asarray(img), plain[1])


def test_scale_implies_centre(post, coffee_jpeg, plain):
    _, _, width, height = header_box(plain[0])
    response = post(data={"size": "full", "scale": "50%"}, files=upload(coffee_jpeg))
    assert image_of(response).size == (600, 400)
    left, top, w, h = header_box(response)
    factor = 0.5 * min(600 / width, 400 / height)
    assert abs(w - width * factor) <= 2 and abs(h - height * factor) <= 2
    assert abs(left + w / 2 - 300) <= 1 and abs(top + h / 2 - 200) <= 1


def test_scale_original_changes_nothing(post, coffee_jpeg, plain):
    img = image_of(post(data={"size": "full", "scale": "original", "position": "original"},
                        files=upload(coffee_jpeg)))
    assert np.array_equal(np.asarray(img), plain[1])


@pytest.mark.parametrize("position, corner", [
    ("center", "centre"),
    ("0%", (0, 0)),
    ("100% 0%", (1, 0)),
    ("0% 100%", (0, 1)),
])
def test_position_places_the_subject(post, coffee_jpeg, plain, position, corner):
    _, _, width, height = header_box(plain[0])
    response = post(data={"size": "full", "position": position, "scale": "30%"}, files=upload(coffee_jpeg))
    left, top, w, h = header_box(response)
    if corner == "centre":
        assert abs(left + w / 2 - 300) <= 1 and abs(top + h / 2 - 200) <= 1
    else:
        assert abs(left - corner[0] * (600 - w)) <= 1 and abs(top - corner[1] * (400 - h)) <= 1


def test_position_without_scale_moves_the_subject_at_its_size(post, coffee_jpeg, plain):
    _, _, width, height = header_box(plain[0])
    response = post(data={"size": "full", "position": "0% 0%"}, files=upload(coffee_jpeg))
    assert header_box(response) == (0, 0, width, height)


# --- shadow ----------------------------------------------------------------------------------------------------


def shadow_darkness(response, plain) -> float:
    """How dark the product is, on white, just outside the subject (where only a shadow can be)."""
    rgb = np.asarray(image_of(response).convert("RGB")).astype(int)
    alpha = plain[1][:, :, 3]
    near = (alpha == 0) & (np.roll(alpha, (12, 6), axis=(0, 1)) > 128)  # under the shifted subject
    return float(255 - rgb[near].mean())


@pytest.mark.parametrize("shadow, dark", [("none", False), ("drop", True), ("auto", True), ("3D", True)])
def test_shadow_type(post, coffee_jpeg, plain, shadow, dark):
    response = post(data={"size": "full", "bg_color": "white", "shadow_type": shadow}, files=upload(coffee_jpeg))
    darkness = shadow_darkness(response, plain)
    assert (darkness > 15) == dark, darkness


def test_shadow_opacity_sets_how_dark_the_shadow_is(post, coffee_jpeg, plain):
    def darkness(opacity: str) -> float:
        data = {"size": "full", "bg_color": "white", "shadow_type": "drop", "shadow_opacity": opacity}
        return shadow_darkness(post(data=data, files=upload(coffee_jpeg)), plain)

    light, dark = darkness("20"), darkness("90")
    assert dark > 2.5 * light and light > 3


def test_shadow_is_the_same_as_api4ai_fg_image_shadow(post, api, key, coffee_jpeg):
    ours = post(data={"size": "full", "shadow_type": "drop", "format": "png"}, files=upload(coffee_jpeg))
    theirs = api.post("/v1/results", params={"mode": "fg-image-shadow"},
                      files={"image": ("c.jpg", coffee_jpeg, "image/jpeg")}, headers={"X-Api-Key": key})
    entity = theirs.json()["results"][0]["entities"][0]
    assert np.array_equal(np.asarray(image_of(ours)),
                          np.asarray(Image.open(io.BytesIO(base64.b64decode(entity["image"])))))


def test_type_type_level_and_semitransparency_are_accepted(post, coffee_jpeg, plain):
    data = {"size": "full", "type": "product", "type_level": "2", "semitransparency": "false"}
    img = image_of(post(data=data, files=upload(coffee_jpeg)))
    assert np.array_equal(np.asarray(img), plain[1])


# --- sources and body shapes ------------------------------------------------------------------------------------------


def test_every_source_and_body_shape(post, coffee_jpeg, plain, web_server):
    web_server.routes["/cup.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    b64 = base64.b64encode(coffee_jpeg).decode()
    url = web_server.url("/cup.jpg")
    requests = [
        dict(data={"size": "full"}, files=upload(coffee_jpeg)),  # multipart file
        dict(data={"size": "full", "image_file_b64": b64}),  # form-urlencoded base64
        dict(json={"size": "full", "image_file_b64": b64}),  # JSON base64
        dict(data={"size": "full", "image_url": url}),  # form-urlencoded URL
        dict(json={"size": "full", "image_url": url}),  # JSON URL
        dict(files={"size": (None, "full"), "image_url": (None, url)}),  # multipart URL
    ]
    for kwargs in requests:
        img = image_of(post(**kwargs))
        assert np.array_equal(np.asarray(img), plain[1])


def test_json_booleans_and_numbers_are_understood(post, coffee_jpeg, plain):
    b64 = base64.b64encode(coffee_jpeg).decode()
    response = post(json={"image_file_b64": b64, "size": "full", "crop": True, "shadow_opacity": 50})
    assert header_box(response)[:2] == (0, 0)


def test_accept_json_returns_base64_and_the_foreground(post, coffee_jpeg, plain):
    response = post(data={"size": "full"}, files=upload(coffee_jpeg), headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()["data"]
    img = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
    assert np.array_equal(np.asarray(img), plain[1])
    left, top, width, height = header_box(plain[0])
    assert (data["foreground_left"], data["foreground_top"], data["foreground_width"],
            data["foreground_height"]) == (left, top, width, height)


# --- errors -------------------------------------------------------------------------------------------------------------


def flat_png() -> bytes:
    return encode(np.full((200, 300, 3), 128, np.uint8), "PNG")


ERRORS = [
    ("missing_source", lambda j, u: dict(data={"size": "auto"})),
    ("missing_source", lambda j, u: dict(json={"image_url": ""})),
    ("multiple_sources", lambda j, u: dict(data={"image_url": u}, files=upload(j))),
    ("multiple_sources", lambda j, u: dict(json={"image_url": u, "image_file_b64": "aGk="})),
    ("failed_image_download", lambda j, u: dict(data={"image_url": u.replace("cup.jpg", "gone.jpg")})),
    ("failed_image_download", lambda j, u: dict(data={"image_url": "ftp://example.com/a.jpg"})),
    ("failed_to_read_image", lambda j, u: dict(files=upload(b"this is not an image"))),
    ("failed_to_read_image", lambda j, u: dict(data={"image_file_b64": "%%%not base64%%%"})),
    ("failed_to_read_image", lambda j, u: dict(files={**upload(j), "bg_image_file": ("b.png", b"junk", "image/png")})),
    ("invalid_bg_color", lambda j, u: dict(data={"bg_color": "nocolour"}, files=upload(j))),
    ("invalid_crop_margin", lambda j, u: dict(data={"crop": "true", "crop_margin": "1px 2px 3px"}, files=upload(j))),
    ("invalid_crop_margin", lambda j, u: dict(data={"crop": "true", "crop_margin": "600px"}, files=upload(j))),
    ("invalid_format", lambda j, u: dict(data={"format": "gif"}, files=upload(j))),
    ("invalid_position", lambda j, u: dict(data={"position": "left"}, files=upload(j))),
    ("invalid_position", lambda j, u: dict(data={"position": "10% 20% 30%"}, files=upload(j))),
    ("invalid_roi", lambda j, u: dict(data={"roi": "0 0 10"}, files=upload(j))),
    ("invalid_roi", lambda j, u: dict(data={"roi": "50% 0 10% 100%"}, files=upload(j))),
    ("invalid_scale", lambda j, u: dict(data={"scale": "5%"}, files=upload(j))),
    ("invalid_size", lambda j, u: dict(data={"size": "huge"}, files=upload(j))),
    ("roi_exceeds_bounds", lambda j, u: dict(data={"roi": "0 0 601px 400px"}, files=upload(j))),
    ("unknown_foreground", lambda j, u: dict(files=upload(flat_png()))),
    ("multiple_backgrounds", lambda j, u: dict(data={"bg_color": "red", "bg_image_url": u}, files=upload(j))),
    ("invalid_channels", lambda j, u: dict(data={"channels": "rgb"}, files=upload(j))),
    ("invalid_shadow_type", lambda j, u: dict(data={"shadow_type": "long"}, files=upload(j))),
    ("invalid_shadow_opacity", lambda j, u: dict(data={"shadow_opacity": "150"}, files=upload(j))),
    ("invalid_type", lambda j, u: dict(data={"type": "spaceship"}, files=upload(j))),
    ("invalid_type_level", lambda j, u: dict(data={"type_level": "9"}, files=upload(j))),
    ("invalid_crop", lambda j, u: dict(data={"crop": "maybe"}, files=upload(j))),
]


@pytest.mark.parametrize("code, request_for", ERRORS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(ERRORS)])
def test_each_error_code_and_nothing_is_charged(app, api, coffee_jpeg, web_server, code, request_for):
    web_server.routes["/cup.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    api_key = new_key(app)
    kwargs = request_for(coffee_jpeg, web_server.url("/cup.jpg"))
    response = api.post(URL, headers={"X-Api-Key": api_key}, **kwargs)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code
    assert error["title"] and error["detail"]
    assert response.headers.get("x-credits-charged", "0") == "0"
    assert credits_used(api, api_key) == 0


@pytest.fixture(scope="module")
def small_limits_api(base_settings, segmenter, tmp_path_factory):
    """A server that takes at most 40 kB and 0.1 megapixels per image."""
    cfg = replace(base_settings, table="", data_dir=str(tmp_path_factory.mktemp("small")),
                  allow_anonymous=True, max_bytes=40_000, max_megapixels=0.1)
    return TestClient(create_app(cfg, segmenter))


def test_file_too_large(small_limits_api, astronaut_jpeg):
    assert len(astronaut_jpeg) > 40_000
    response = small_limits_api.post(URL, files=upload(astronaut_jpeg))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "file_too_large"


def test_resolution_too_high(small_limits_api):
    big = encode(np.full((400, 600, 3), 200, np.uint8), "PNG")  # 0.24 megapixels in a few kB
    assert len(big) < 40_000
    response = small_limits_api.post(URL, files=upload(big))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "resolution_too_high" and "megapixels" in error["detail"]


def strip_png() -> bytes:
    """A 50000x2 strip (0.1 megapixels) with a blue band in its middle third: the model finds it."""
    strip = np.full((2, 50_000, 3), 240, np.uint8)
    strip[:, 16_667:33_333] = (30, 60, 200)
    return encode(strip, "PNG")


def test_a_crop_margin_that_would_blow_up_the_canvas_is_refused_uncharged(small_limits_api):
    """500 px around a 2 px tall subject makes a canvas 500 times the image: refused
    (more than 4x the pixel limit, what a 50% margin makes at most), not allocated."""
    response = small_limits_api.post(URL, files=upload(strip_png()),
                                      data={"crop": "true", "crop_margin": "500px"})
    assert response.status_code == 400, response.text[:300]
    (error,) = response.json()["errors"]
    assert error["code"] == "invalid_crop_margin"
    assert "megapixels" in error["detail"] and "crop_margin" in error["detail"]
    assert response.headers.get("x-credits-charged", "0") == "0"
    fine = small_limits_api.post(URL, files=upload(strip_png()),
                                 data={"crop": "true", "crop_margin": "50%", "size": "full"})
    assert fine.status_code == 200, fine.text[:300]
    assert fine.headers["x-height"] == "4"  # the 2 px subject and half its height each side


@pytest.mark.parametrize("fmt, width", [("jpg", 70_000), ("zip", 70_000)])
def test_a_result_wider_than_its_format_allows_is_refused_uncharged(app, api, fmt, width):
    """JPEG (and the zip's color.jpg) holds at most 65500 px a side: a strip within the
    pixel limit but wider than that is 400 invalid_format, naming the limit, never a 500."""
    strip = np.full((2, width, 3), 240, np.uint8)
    strip[:, width // 3: 2 * width // 3] = (30, 60, 200)
    api_key = new_key(app)
    response = api.post(URL, headers={"X-Api-Key": api_key}, files=upload(encode(strip, "PNG")),
                        data={"format": fmt, "size": "full"})
    assert response.status_code == 400, response.text[:300]
    (error,) = response.json()["errors"]
    assert error["code"] == "invalid_format"
    assert f"{width}x2" in error["detail"] and "65500" in error["detail"]
    assert credits_used(api, api_key) == 0
    png = api.post(URL, headers={"X-Api-Key": api_key}, files=upload(encode(strip, "PNG")),
                   data={"format": "png", "size": "full"})
    assert png.status_code == 200 and png.headers["x-width"] == str(width)


def test_bg_image_too_large_is_named_for_the_background(small_limits_api, coffee_jpeg):
    big_bg = encode(np.full((400, 600, 3), 10, np.uint8), "PNG")
    response = small_limits_api.post(URL, files={**upload(encode(np.zeros((10, 10, 3), np.uint8))),
                                                 "bg_image_file": ("bg.png", big_bg, "image/png")})
    assert response.json()["errors"][0]["code"] == "resolution_too_high"


def test_a_background_image_that_is_not_an_image_is_named_in_the_error(small_limits_api):
    photo = encode(np.zeros((10, 10, 3), np.uint8))
    response = small_limits_api.post(URL, files={**upload(photo),
                                                 "bg_image_file": ("bg.png", b"junk", "image/png")})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["code"] == "failed_to_read_image"
    assert error["detail"] == "The background image: Can not load image."
    big_bg = encode(np.full((400, 600, 3), 10, np.uint8), "PNG")
    response = small_limits_api.post(URL, files={**upload(photo),
                                                 "bg_image_file": ("bg.png", big_bg, "image/png")})
    assert response.json()["errors"][0]["detail"].startswith("The background image: Image is too large")


# --- keys, credits, rate limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_api_key"),
    ({"X-Api-Key": "not-a-key"}, "auth_failed"),
])
def test_missing_or_wrong_key_is_403(api, coffee_jpeg, headers, code):
    response = api.post(URL, files=upload(coffee_jpeg), headers=headers)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == code


def test_no_credits_left_is_402_and_uncharged(app, api, coffee_jpeg):
    api_key = new_key(app, monthly_credits=0.2)
    response = api.post(URL, files=upload(coffee_jpeg), headers={"X-Api-Key": api_key})
    assert response.status_code == 402
    assert response.json()["errors"][0]["code"] == "insufficient_credits"
    assert credits_used(api, api_key) == 0


def test_rate_limit_is_429_with_retry_after(app, api, large_jpeg):
    api_key = new_key(app, mp_per_minute=5)  # the 2.16 MP photo weighs 3: one fits a minute
    assert api.post(URL, files=upload(large_jpeg), headers={"X-Api-Key": api_key}).status_code == 200
    response = api.post(URL, files=upload(large_jpeg), headers={"X-Api-Key": api_key})
    if response.status_code == 200:  # the minute turned between the two: its window is fresh
        response = api.post(URL, files=upload(large_jpeg), headers={"X-Api-Key": api_key})
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "rate_limit_exceeded"
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-limit"] == "5"


def test_an_image_heavier_than_the_plans_minute_is_429_without_retry_after(app, api, large_jpeg):
    api_key = new_key(app, mp_per_minute=2)  # the 2.16 MP photo weighs 3
    response = api.post(URL, files=upload(large_jpeg), headers={"X-Api-Key": api_key})
    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert error["code"] == "rate_limit_exceeded" and "no minute can admit it" in error["detail"]
    assert "retry-after" not in response.headers
    assert credits_used(api, api_key) == 0


def test_credits_are_charged_by_output_size(app, api, coffee_jpeg, large_jpeg):
    api_key = new_key(app)
    for data, photo in (({"size": "preview"}, large_jpeg), ({"size": "full"}, large_jpeg),
                        ({"size": "full"}, coffee_jpeg)):
        assert api.post(URL, data=data, files=upload(photo), headers={"X-Api-Key": api_key}).status_code == 200
    assert credits_used(api, api_key) == pytest.approx(0.25 + 1 + 0.25)


def test_account_in_remove_bg_shape(app, api, coffee_jpeg):
    api_key = new_key(app, monthly_credits=10)
    api.post(URL, files=upload(coffee_jpeg), headers={"X-Api-Key": api_key})
    response = api.get("/v1.0/account", headers={"X-Api-Key": api_key})
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert attributes["credits"] == {"total": 9.75, "subscription": 9.75, "payg": 0, "enterprise": 0}
    assert attributes["api"] == {"free_calls": 0, "sizes": "all"}
    assert response.headers["x-ratelimit-limit"] == "100000"


def test_account_needs_a_key(api):
    response = api.get("/v1.0/account")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "missing_api_key"
