"""The Azure Image Analysis 4.0 dialect: both modes, every body shape, Azure's errors and statuses."""
from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cutout.web import create_app
from conftest import encode, keyed_app, new_key
from local_http import Route
from photos import assert_subject_found

SEGMENT = "/computervision/imageanalysis:segment"
REMOVAL = {"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"}
MATTING = {"api-version": "2023-04-01-preview", "mode": "foregroundMatting"}


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    return keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("azure")))


@pytest.fixture(scope="module")
def api(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def key(app) -> str:
    return new_key(app)


@pytest.fixture(scope="module")
def segment(api, key):
    def send(params, content=None, content_type="application/octet-stream", api_key=None, **kwargs):
        headers = {"Ocp-Apim-Subscription-Key": api_key or key}
        if content_type:
            headers["Content-Type"] = content_type
        return api.post(SEGMENT, params=params, content=content, headers=headers, **kwargs)

    return send


def png_of(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(response.content))
    assert img.format == "PNG"
    return img


def azure_error(response, status: int, code: str, inner: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if inner is not None:
        assert error["innererror"]["code"] == inner and error["innererror"]["message"]
        assert response.headers["x-ms-error-code"] == inner
    return error


def test_background_removal_is_an_rgba_png_the_size_of_the_input(segment, coffee_jpeg):
    img = png_of(segment(REMOVAL, coffee_jpeg))
    assert (img.mode, img.size) == ("RGBA", (600, 400))
    assert_subject_found(np.asarray(img)[:, :, 3], "coffee")


def test_foreground_matting_is_a_grey_matte_the_size_of_the_input(segment, coffee_jpeg):
    img = png_of(segment(MATTING, coffee_jpeg))
    assert (img.mode, img.size) == ("L", (600, 400))
    assert_subject_found(np.asarray(img), "coffee")


def test_matte_equals_the_cut_outs_alpha(segment, coffee_jpeg):
    removal = np.asarray(png_of(segment(REMOVAL, coffee_jpeg)))
    matting = np.asarray(png_of(segment(MATTING, coffee_jpeg)))
    assert np.array_equal(removal[:, :, 3], matting)


@pytest.fixture(scope="module")
def huge_jpeg(coffee) -> bytes:
    """The coffee photo at 5100x3400: 17.3 megapixels, over background removal's 16."""
    return encode(np.asarray(Image.fromarray(coffee).resize((5100, 3400))), "JPEG", quality=70)


def test_background_removal_caps_at_16_megapixels_with_the_aspect_kept(segment, huge_jpeg):
    img = png_of(segment(REMOVAL, huge_jpeg))
    assert img.width * img.height <= 16_000_000
    assert img.width >= 4890 and abs(img.width / img.height - 1.5) < 0.001


def test_foreground_matting_keeps_the_input_size_above_16_megapixels(segment, huge_jpeg):
    img = png_of(segment(MATTING, huge_jpeg))
    assert (img.mode, img.size) == ("L", (5100, 3400))


@pytest.mark.parametrize("shape", ["octet-stream", "image/jpeg", "multipart", "json-url", "azure-curl-url"])
def test_every_body_shape(segment, coffee_jpeg, web_server, shape):
    web_server.routes["/cup.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    url = web_server.url("/cup.jpg")
    if shape == "octet-stream":
        response = segment(REMOVAL, coffee_jpeg)
    elif shape == "image/jpeg":
        response = segment(REMOVAL, coffee_jpeg, content_type="image/jpeg")
    elif shape == "multipart":
        response = segment(REMOVAL, content_type=None, files={"file": ("cup.jpg", coffee_jpeg, "image/jpeg")})
    elif shape == "json-url":
        response = segment(REMOVAL, content_type=None, json={"url": url})
    else:  # Azure's documented curl sends -d "{'url':'...'}": single quotes, not JSON
        response = segment(REMOVAL, ("{'url':'%s'}" % url).encode(), content_type="application/json")
    img = png_of(response)
    assert img.size == (600, 400)
    assert_subject_found(np.asarray(img)[:, :, 3], "coffee")


def test_metering_headers(segment, coffee_jpeg):
    response = segment(REMOVAL, coffee_jpeg)
    assert response.headers["x-credits-charged"] == "1"
    assert int(response.headers["x-ratelimit-remaining"]) < int(response.headers["x-ratelimit-limit"])


def test_a_photo_without_a_subject_is_still_answered(segment):
    flat = encode(np.full((100, 150, 3), 128, np.uint8), "PNG")
    assert png_of(segment(MATTING, flat)).size == (150, 100)


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params, inner", [
    ({"mode": "backgroundRemoval"}, "InvalidApiVersion"),
    ({"api-version": "2024-02-01", "mode": "backgroundRemoval"}, "InvalidApiVersion"),
    ({"api-version": "2023-02-01-preview"}, "InvalidArgument"),
    ({"api-version": "2023-02-01-preview", "mode": "sky"}, "InvalidArgument"),
])
def test_query_errors(segment, coffee_jpeg, params, inner):
    azure_error(segment(params, coffee_jpeg), 400, "InvalidRequest", inner)


def test_not_an_image(segment):
    azure_error(segment(REMOVAL, b"plain text, not a picture"), 400, "InvalidRequest", "InvalidImageFormat")


def test_empty_body(segment):
    error = azure_error(segment(REMOVAL, b""), 400, "InvalidRequest", "InvalidImageSize")
    assert "zero" in error["message"]


def test_unreachable_url(segment, web_server):
    response = segment(REMOVAL, content_type=None, json={"url": web_server.url("/missing.jpg")})
    azure_error(response, 400, "InvalidRequest", "InvalidImageUrl")


def test_unsupported_content_type(segment, coffee_jpeg):
    error = azure_error(segment(REMOVAL, coffee_jpeg, content_type="text/plain"), 400, "InvalidRequest",
                        "InvalidArgument")
    assert "text/plain" in error["message"]


def test_bad_json(segment):
    azure_error(segment(REMOVAL, b"{not json", content_type="application/json"), 400, "InvalidRequest",
                "InvalidArgument")


@pytest.fixture(scope="module")
def small_limits_api(base_settings, segmenter, tmp_path_factory):
    cfg = replace(base_settings, table="", data_dir=str(tmp_path_factory.mktemp("azure-small")),
                  allow_anonymous=True, max_bytes=40_000, max_megapixels=0.1)
    return TestClient(create_app(cfg, segmenter))


def test_too_many_bytes(small_limits_api, astronaut_jpeg):
    response = small_limits_api.post(SEGMENT, params=REMOVAL, content=astronaut_jpeg,
                                     headers={"Content-Type": "application/octet-stream"})
    error = azure_error(response, 400, "InvalidRequest", "InvalidImageSize")
    assert "40000 bytes" in error["innererror"]["message"]


def test_too_many_pixels(small_limits_api):
    big = encode(np.full((400, 600, 3), 200, np.uint8), "PNG")
    response = small_limits_api.post(SEGMENT, params=REMOVAL, content=big,
                                     headers={"Content-Type": "image/png"})
    azure_error(response, 400, "InvalidRequest", "InvalidImageDimension")


@pytest.mark.parametrize("headers", [{}, {"Ocp-Apim-Subscription-Key": "wrong"}])
def test_missing_or_wrong_key_is_401(api, coffee_jpeg, headers):
    response = api.post(SEGMENT, params=REMOVAL, content=coffee_jpeg,
                        headers={"Content-Type": "application/octet-stream", **headers})
    error = azure_error(response, 401, "401")
    assert "Access denied" in error["message"]


def test_exhausted_quota_is_403(app, segment, coffee_jpeg):
    response = segment(REMOVAL, coffee_jpeg, api_key=new_key(app, monthly_credits=0.5))
    azure_error(response, 403, "403")


def test_rate_limit_is_429(app, segment, coffee):
    big = encode(np.asarray(Image.fromarray(coffee).resize((1800, 1200))), "JPEG", quality=80)  # weighs 3
    api_key = new_key(app, mp_per_minute=5)  # one fits a minute
    assert segment(REMOVAL, big, api_key=api_key).status_code == 200
    response = segment(REMOVAL, big, api_key=api_key)
    if response.status_code == 200:  # the minute turned between the two: its window is fresh
        response = segment(REMOVAL, big, api_key=api_key)
    azure_error(response, 429, "429")
    assert int(response.headers["retry-after"]) >= 1
    heavier = segment(REMOVAL, big, api_key=new_key(app, mp_per_minute=2))  # never fits a minute
    azure_error(heavier, 429, "429")
    assert "retry-after" not in heavier.headers
