"""The confidence score on every dialect: X-Uncertainty-Score and the JSON dialects' field."""
from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cutout.engine import confidence
from conftest import encode, keyed_app, new_key


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    return keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("uncertainty")))


@pytest.fixture(scope="module")
def api(app) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def key(app) -> str:
    return new_key(app)


@pytest.fixture(scope="module")
def expected(segmenter, coffee_jpeg) -> str:
    """What the engine's score is for the coffee photo, as the header prints it."""
    rgb = np.asarray(Image.open(io.BytesIO(coffee_jpeg)).convert("RGB"))
    return f"{confidence.uncertainty(segmenter.predict(rgb)):.4f}"


def removebg(api, key, photo: bytes, json: bool = False):
    headers = {"X-Api-Key": key, **({"Accept": "application/json"} if json else {})}
    return api.post("/v1.0/removebg", data={"size": "full"}, headers=headers,
                    files={"image_file": ("photo.jpg", photo, "image/jpeg")})


def test_removebg_image_and_json(api, key, coffee_jpeg, expected) -> None:
    image = removebg(api, key, coffee_jpeg)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["x-uncertainty-score"] == expected
    as_json = removebg(api, key, coffee_jpeg, json=True)
    assert as_json.headers["x-uncertainty-score"] == expected
    assert f"{as_json.json()['data']['uncertainty_score']:.4f}" == expected


@pytest.mark.parametrize("mode", ["fg-image", "fg-mask"])
def test_api4ai_entity_and_header(api, key, coffee_jpeg, expected, mode) -> None:
    response = api.post("/v1/results", params={"mode": mode}, headers={"X-Api-Key": key},
                        files={"image": ("photo.jpg", coffee_jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text
    (entity,) = response.json()["results"][0]["entities"]
    assert f"{entity['uncertainty_score']:.4f}" == expected
    assert response.headers["x-uncertainty-score"] == expected


@pytest.mark.parametrize("mode", ["backgroundRemoval", "foregroundMatting"])
def test_azure_header(api, key, coffee_jpeg, expected, mode) -> None:
    version = "2023-02-01-preview"
    response = api.post("/computervision/imageanalysis:segment",
                        params={"api-version": version, "mode": mode}, content=coffee_jpeg,
                        headers={"Ocp-Apim-Subscription-Key": key,
                                 "Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    assert response.headers["x-uncertainty-score"] == expected


def test_a_doubtful_image_scores_higher_than_a_clear_photo(api, key, coffee, expected) -> None:
    noise = np.random.default_rng(5).integers(0, 256, coffee.shape, dtype=np.uint8)
    response = api.post("/v1/results", headers={"X-Api-Key": key},
                        files={"image": ("noise.png", encode(noise, "PNG"), "image/png")})
    assert response.status_code == 200, response.text  # remove.bg's dialect refuses it instead
    assert 0 <= float(expected) < float(response.headers["x-uncertainty-score"]) <= 1
