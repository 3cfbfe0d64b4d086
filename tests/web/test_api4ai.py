"""The API4AI dialect end to end: every input form and every mode, on real photos."""
from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cutout.web import create_app
from local_http import Route
from photos import assert_subject_found

MODES = ["fg-image", "fg-image-shadow", "fg-mask"]


def entity_image(response) -> tuple[dict, Image.Image]:
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"] == {"code": "ok", "message": "Success"}
    (entity,) = result["entities"]
    assert entity["kind"] == "image" and entity["format"] == "PNG"
    return result, Image.open(io.BytesIO(base64.b64decode(entity["image"])))


def alpha_of(img: Image.Image) -> np.ndarray:
    return np.asarray(img if img.mode == "L" else img.getchannel("A"))


def check_product(img: Image.Image, mode: str, photo: str, shape: tuple[int, int]) -> None:
    assert img.format == "PNG"
    assert (img.height, img.width) == shape
    if mode == "fg-mask":
        assert img.mode == "L"
    else:
        assert img.mode == "RGBA"
    assert_subject_found(alpha_of(img), photo)


def send(client: TestClient, form: str, data: bytes, mode: str, url: str = ""):
    params = {"mode": mode}
    if form == "multipart":
        return client.post("/v1/results", params=params, files={"image": ("photo.jpg", data, "image/jpeg")})
    if form == "json":
        return client.post("/v1/results", params=params, json={"image": base64.b64encode(data).decode()})
    if form == "raw":
        return client.post("/v1/results", params=params, content=data, headers={"Content-Type": "image/jpeg"})
    if form == "multipart-url":
        return client.post("/v1/results", params=params, data={"url": url})
    if form == "json-url":
        return client.post("/v1/results", params=params, json={"url": url})
    raise AssertionError(form)


@pytest.fixture(scope="module")
def url_client(base_settings, segmenter) -> TestClient:
    """An app whose fetch allow-list names 127.0.0.1, as a private deployment would set it."""
    return TestClient(create_app(replace(base_settings, fetch_allow_hosts=("127.0.0.1",)), segmenter))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", ["multipart", "json", "raw", "multipart-url", "json-url"])
def test_every_form_and_mode_finds_the_subject(url_client, web_server, astronaut_jpeg, form, mode):
    web_server.routes["/photos/astronaut.jpg"] = Route(body=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    response = send(url_client, form, astronaut_jpeg, mode, web_server.url("/photos/astronaut.jpg"))
    result, img = entity_image(response)
    assert result["entities"][0]["name"] == f"general-{mode}"
    assert (result["width"], result["height"]) == (512, 512)
    assert result["md5"] == hashlib.md5(astronaut_jpeg).hexdigest()
    expected_name = {"multipart": "photo.jpg", "multipart-url": "astronaut.jpg", "json-url": "astronaut.jpg"}
    assert result["name"] == expected_name.get(form, "image")
    check_product(img, mode, "astronaut", (512, 512))
    assert response.headers["x-request-id"]


def test_cut_out_keeps_subject_colours_and_clears_background(client, coffee, coffee_jpeg):
    _, img = entity_image(send(client, "multipart", coffee_jpeg, "fg-image"))
    rgba = np.asarray(img)
    check_product(img, "fg-image", "coffee", coffee.shape[:2])
    cup = (slice(150, 250), slice(250, 350))
    assert np.abs(rgba[cup][..., :3].astype(int) - coffee[cup].astype(int)).mean() < 6


def test_shadow_darkens_below_the_subject_only(client, coffee_jpeg):
    _, plain = entity_image(send(client, "raw", coffee_jpeg, "fg-image"))
    _, shadowed = entity_image(send(client, "raw", coffee_jpeg, "fg-image-shadow"))
    a_plain, a_shadow = alpha_of(plain).astype(int), alpha_of(shadowed).astype(int)
    gained = a_shadow - a_plain
    assert gained.min() >= -1  # the shadow never removes any of the subject
    ys, xs = np.nonzero((gained > 10) & (a_plain == 0))  # pure shadow, outside the subject
    assert ys.size > 500  # a visible shadow exists ...
    subject_rows = np.nonzero(a_plain.max(axis=1) > 128)[0]
    assert ys.mean() > subject_rows.mean()  # ... and it falls below the subject's centre
    shadow_rgb = np.asarray(shadowed)[ys, xs, :3]
    assert shadow_rgb.max() < 60  # dark, not a copy of the subject
    assert alpha_of(shadowed)[ys, xs].max() < 200  # soft, not opaque


def test_png_transparency_of_the_source_is_kept(client, coffee):
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 255, np.uint8)])
    rgba[:, :300, 3] = 0  # the left half was already cut away
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    _, img = entity_image(send(client, "multipart", out.getvalue(), "fg-mask"))
    alpha = alpha_of(img)
    assert alpha[:, :300].max() == 0
    assert alpha[150:250, 320:400].mean() > 230


# --- errors -------------------------------------------------------------------------


def failure(response) -> dict:
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"]["code"] == "failure"
    assert result["entities"] == []
    return result


def test_version_and_modes(client):
    assert client.get("/v1/version").text == "v1.0.0"
    assert client.get("/v1/modes").json() == ["fg-image", "fg-image-shadow", "fg-mask"]


def test_not_an_image_is_a_failure_result(client):
    result = failure(send(client, "multipart", b"hello, world", "fg-image"))
    assert result["status"]["message"] == "Can not load image."
    assert result["name"] == "photo.jpg" and result["md5"] == hashlib.md5(b"hello, world").hexdigest()


def test_bad_base64_is_a_failure_result(client):
    response = client.post("/v1/results", json={"image": "***not base64***"})
    assert failure(response)["status"]["message"] == "Can not load image: the image is not valid base64."


def test_too_many_megapixels_is_a_failure_result(segmenter, base_settings):
    small_limit = TestClient(create_app(replace(base_settings, max_megapixels=0.1), segmenter))
    img = io.BytesIO()
    Image.new("RGB", (640, 480)).save(img, "PNG")
    result = failure(send(small_limit, "raw", img.getvalue(), "fg-image"))
    assert result["status"]["message"] == "Image is too large: 640x480 exceeds 0.1 megapixels."


def test_missing_image_and_url(client):
    for response in (
        client.post("/v1/results"),
        client.post("/v1/results", json={}),
        client.post("/v1/results", data={"other": "x"}),
    ):
        assert response.status_code == 422
        assert response.json() == {"detail": "Missing image or url field."}


def test_unknown_mode_names_the_valid_ones(client, coffee_jpeg):
    response = send(client, "raw", coffee_jpeg, "fg-everything")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Unknown mode 'fg-everything'; valid modes are fg-image, fg-image-shadow, fg-mask."
    )


def test_invalid_json_body(client):
    response = client.post("/v1/results", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"detail": "Request body is not valid JSON."}


def test_body_over_the_request_limit_is_413(segmenter, base_settings):
    tight = TestClient(create_app(replace(base_settings, max_request_bytes=10_000), segmenter))
    response = tight.post("/v1/results", content=b"x" * 20_000, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large: the limit is 10000 bytes."}
    assert response.headers["x-request-id"]


def test_chunked_body_over_the_limit_is_413(segmenter, base_settings):
    tight = TestClient(create_app(replace(base_settings, max_request_bytes=10_000), segmenter))

    def chunks():
        for _ in range(10):
            yield b"y" * 4000

    response = tight.post("/v1/results", content=chunks(), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 413


def test_url_to_loopback_is_refused_without_allow_list(client, web_server, coffee_jpeg):
    web_server.routes["/c.jpg"] = Route(body=coffee_jpeg)
    result = failure(client.post("/v1/results", json={"url": web_server.url("/c.jpg")}))
    assert result["status"]["message"].startswith("Image download refused: 127.0.0.1 resolves to a non-public")
    assert result["name"] == "c.jpg"
    assert web_server.requests == []


def test_url_that_is_not_an_image(url_client, web_server):
    web_server.routes["/page.html"] = Route(body=b"<html></html>", headers={"Content-Type": "text/html"})
    result = failure(url_client.post("/v1/results", json={"url": web_server.url("/page.html")}))
    assert result["status"]["message"] == "Can not load image."


def test_url_download_error_is_explained(url_client, web_server):
    result = failure(url_client.post("/v1/results", data={"url": web_server.url("/gone.jpg")}))
    assert result["status"]["message"] == "Image download failed: HTTP 404 from 127.0.0.1."


def test_request_id_is_echoed_when_safe(client):
    assert client.get("/v1/modes", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert client.get("/v1/modes", headers={"X-Request-Id": "bad id!"}).headers["x-request-id"] != "bad id!"
