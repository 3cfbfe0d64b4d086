"""Requests at the edge, on every dialect: deep JSON and unusual image URLs give documented answers."""
from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cutout.web import create_app
from cutout.web.inputs import MAX_JSON_DEPTH
from local_http import Route

AZURE = "/computervision/imageanalysis:segment?api-version=2023-02-01-preview&mode=backgroundRemoval"
PHOTO = "/files/фото.jpg"
PHOTO_ON_WIRE = "/files/%D1%84%D0%BE%D1%82%D0%BE.jpg"
TOO_DEEP = "Request body is nested too deeply"


@pytest.fixture(scope="module")
def url_client(base_settings, segmenter) -> TestClient:
    return TestClient(create_app(replace(base_settings, fetch_allow_hosts=("127.0.0.1",)), segmenter))


def nested(depth: int) -> str:
    """A JSON object whose "url" field holds arrays nested so that the body is `depth` levels deep."""
    return '{"url": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 959, 5000, 100_000])
def test_deep_json_is_refused_by_api4ai(client, depth):
    response = client.post("/v1/results", content=nested(depth), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(TOO_DEEP)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 959, 100_000])
def test_deep_json_is_refused_by_removebg(client, depth):
    response = client.post("/v1.0/removebg", content=nested(depth), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["title"]) == ("bad_request", "Invalid request")
    assert error["detail"].startswith(TOO_DEEP)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 959, 100_000])
def test_deep_json_is_refused_by_azure(client, depth):
    response = client.post(AZURE, content=nested(depth), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidRequest" and error["innererror"]["code"] == "InvalidArgument"
    assert error["message"].startswith(TOO_DEEP)
    assert response.headers["x-ms-error-code"] == "InvalidArgument"


def test_json_at_the_depth_limit_is_read(client):
    """Depth MAX_JSON_DEPTH is parsed: the answer is about the missing image, not the nesting."""
    response = client.post("/v1/results", content=nested(MAX_JSON_DEPTH).replace('"url"', '"other"'),
                           headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (422, {"detail": "Missing image or url field."})


def cut_alpha(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))[..., 3]


def test_a_non_ascii_url_path_is_fetched_on_every_dialect(url_client, web_server, astronaut_jpeg):
    web_server.routes[PHOTO_ON_WIRE] = Route(body=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    url = web_server.url(PHOTO)

    api4ai = url_client.post("/v1/results", json={"url": url}).json()["results"][0]
    assert api4ai["status"]["code"] == "ok" and api4ai["name"] == "фото.jpg"
    assert (api4ai["width"], api4ai["height"]) == (512, 512)

    removebg = url_client.post("/v1.0/removebg", data={"image_url": url, "size": "full", "format": "png"})
    assert removebg.status_code == 200
    alpha = cut_alpha(removebg)
    assert alpha.shape == (512, 512) and alpha.min() == 0 and alpha.max() == 255

    azure = url_client.post(AZURE, json={"url": url})
    assert azure.status_code == 200 and azure.headers["content-type"] == "image/png"
    assert cut_alpha(azure).shape == (512, 512)
    assert [path for path, _ in web_server.requests] == [PHOTO_ON_WIRE] * 3


BAD_URLS = ["http://a..b/x.jpg", "http://" + "a" * 64 + ".example/x.jpg", "http://[::1/x.jpg"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_meaningless_url_gets_each_dialects_download_error(client, url):
    result = client.post("/v1/results", json={"url": url}).json()["results"][0]
    assert result["status"]["code"] == "failure" and result["entities"] == []
    assert result["status"]["message"].startswith("Image download refused: the URL")

    removebg = client.post("/v1.0/removebg", data={"image_url": url})
    assert removebg.status_code == 400
    error = removebg.json()["errors"][0]
    assert (error["code"], error["title"]) == ("failed_image_download", "Failed to download image")
    assert error["detail"].startswith("Image download refused: the URL")

    azure = client.post(AZURE, json={"url": url})
    assert azure.status_code == 400
    assert azure.json()["error"]["innererror"]["code"] == "InvalidImageUrl"
    assert azure.json()["error"]["innererror"]["message"].startswith("Image download refused: the URL")


def test_a_meaningless_bg_image_url_is_a_download_error(client, astronaut_jpeg):
    response = client.post("/v1.0/removebg", data={"bg_image_url": "http://[::1/bg.jpg"},
                           files={"image_file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "failed_image_download"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deep_json_is_refused_by_the_stored_images_api(client, depth):
    response = client.post("/v1/images", content=nested(depth), headers={"Content-Type": "application/json"})
    assert response.status_code == 422  # IMG Processing's validation status
    (error,) = response.json()["errors"]
    assert error.startswith(f"body: {TOO_DEEP}: at most {MAX_JSON_DEPTH} levels of JSON arrays "
                            "and objects.")
