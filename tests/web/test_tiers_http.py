"""The `model` parameter on every dialect: the quality tier's own pixels, loaded only when asked.

One keyed app serves API4AI, remove.bg and Azure. Its quality model (u2net-int8,
built by `make install`) must not be loaded by starting the app, only by the
first request that asks for it; then `model=quality` answers pixels that differ
from the default model's and still find the subject. Unknown values get each
dialect's documented error; a deployment without the quality model refuses the
tier before charging anything.
"""
from __future__ import annotations

import base64
import io
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import encode, keyed_app, new_key
from web.test_removebg import credits_used
from photos import assert_subject_found

REMOVAL = {"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"}


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    return keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("tiers")))


@pytest.fixture(scope="module")
def api(app) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def key(app) -> str:
    return new_key(app)


def alpha_of(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    return np.asarray(img if img.mode == "L" else img.getchannel("A"))


def api4ai(api, key, photo: bytes, **params) -> np.ndarray:
    response = api.post("/v1/results", params=params, headers={"X-Api-Key": key},
                        files={"image": ("photo.jpg", photo, "image/jpeg")})
    assert response.status_code == 200, response.text
    (entity,) = response.json()["results"][0]["entities"]
    return alpha_of(base64.b64decode(entity["image"]))


def removebg(api, key, photo: bytes, **fields):
    return api.post("/v1.0/removebg", headers={"X-Api-Key": key}, data={"size": "full", **fields},
                    files={"image_file": ("photo.jpg", photo, "image/jpeg")})


def azure(api, key, photo: bytes, **params):
    return api.post("/computervision/imageanalysis:segment", params={**REMOVAL, **params}, content=photo,
                    headers={"Ocp-Apim-Subscription-Key": key, "Content-Type": "application/octet-stream"})


def another_models_matte(fast: np.ndarray, quality: np.ndarray) -> bool:
    """Over 0.5% of the pixels differ by more than 16 levels (the same model gives 0%)."""
    return float(np.mean(np.abs(fast.astype(int) - quality.astype(int)) > 16)) > 0.005


def test_the_quality_model_is_not_loaded_until_a_request_asks_for_it(app, api, key, astronaut_jpeg):
    quality = app.state.services.meter.quality
    assert quality is not None and quality.name == "u2net-int8"
    assert not quality.loaded  # starting the app did not load it
    api4ai(api, key, astronaut_jpeg)  # nor does a default request
    assert not quality.loaded
    api4ai(api, key, astronaut_jpeg, model="quality")
    assert quality.loaded and quality.get().spec.name == "u2net-int8"
    assert app.state.services.meter.segmenter.spec.name == "u2netp-int8"  # the default is unchanged


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_api4ai_model_quality_gives_its_own_pixels(api, key, request, photo):
    data = request.getfixturevalue(f"{photo}_jpeg")
    fast, quality = api4ai(api, key, data, model="fast"), api4ai(api, key, data, model="quality")
    assert np.array_equal(fast, api4ai(api, key, data))  # fast is the default
    assert_subject_found(quality, photo)
    assert another_models_matte(fast, quality)


@pytest.mark.parametrize("dialect", [removebg, azure], ids=["removebg field", "azure query"])
def test_removebg_and_azure_carry_the_model(api, key, coffee_jpeg, dialect):
    fast, quality = dialect(api, key, coffee_jpeg), dialect(api, key, coffee_jpeg, model="quality")
    assert fast.status_code == quality.status_code == 200, quality.text
    a_fast, a_quality = alpha_of(fast.content), alpha_of(quality.content)
    assert_subject_found(a_quality, "coffee")
    assert another_models_matte(a_fast, a_quality)


def test_unknown_model_values_get_each_dialects_error(api, key, coffee_jpeg):
    response = api.post("/v1/results", params={"model": "best"}, headers={"X-Api-Key": key},
                        files={"image": ("photo.jpg", coffee_jpeg, "image/jpeg")})
    assert response.status_code == 422 and "fast, fast-tta, quality, quality-tta" in response.json()["detail"]

    response = removebg(api, key, coffee_jpeg, model="best")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["code"] == "invalid_model" and "fast, fast-tta, quality, quality-tta" in error["detail"]

    response = azure(api, key, coffee_jpeg, model="best")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidRequest" and error["innererror"]["code"] == "InvalidArgument"
    assert "fast, fast-tta, quality, quality-tta" in error["innererror"]["message"]


def test_a_deployment_without_the_quality_model_refuses_it_before_charging(
        base_settings, segmenter, tmp_path, coffee_jpeg):
    cfg = replace(base_settings, quality_model="")
    app = keyed_app(cfg, segmenter, str(tmp_path))
    assert app.state.services.meter.quality is None
    api, key = TestClient(app), new_key(app)
    response = removebg(api, key, coffee_jpeg, model="quality")
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "invalid_model" and "not installed" in error["detail"]
    assert credits_used(api, key) == 0
    assert removebg(api, key, coffee_jpeg).status_code == 200  # the default still serves
    assert credits_used(api, key) == 0.25  # a 0.24 MP photo: remove.bg's small-image price
    # fast-tta is the deployment's own model, twice: it needs no quality model.
    response = removebg(api, key, coffee_jpeg, model="fast-tta")
    assert response.status_code == 200, response.text
    assert_subject_found(alpha_of(response.content), "coffee")
    assert credits_used(api, key) == 0.5  # priced like any other tier


def test_fast_tta_on_every_dialect_is_the_engines_two_scale_matte(api, key, segmenter, astronaut):
    """The three dialects carry `model=fast-tta` to the same pixels, which differ from `fast`'s."""
    from engine.test_two_scale import small_subject

    frame = small_subject(astronaut)
    photo = encode(frame)
    fast = api4ai(api, key, photo, model="fast", mode="fg-mask")
    tta = api4ai(api, key, photo, model="fast-tta", mode="fg-mask")
    assert np.abs(tta.astype(int) - fast).max() > 16
    assert tta[550:700, 380:500].mean() > 230 and tta[:300].mean() < 5
    assert np.array_equal(alpha_of(removebg(api, key, photo, model="fast-tta", channels="alpha").content),
                          tta)
    response = azure(api, key, photo, model="fast-tta")
    assert response.status_code == 200, response.text
    assert np.array_equal(alpha_of(response.content), tta)
