"""What every dialect shares: the deployment's output settings, the response limit, one metering door.

Each dialect is called as its clients call it, over the app, and the answer is
checked as a client would check it: the PNG's bytes, the status and the error
shape, and whether the account was charged.
"""
from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from adobe_client import run
from conftest import keyed_app, new_key
from cutout.engine.png import encode_png

AZURE = "/computervision/imageanalysis:segment?api-version=2023-02-01-preview&mode=backgroundRemoval"
LEVEL = 3  # not the default (1): a dialect that ignores the setting writes other bytes


def pixels_of(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return np.asarray(img)


def assert_encoded_at(png: bytes, level: int) -> None:
    """The PNG is exactly what Cutout's encoder writes for its pixels at `level`."""
    pixels = pixels_of(png)
    assert png == encode_png(pixels, level, srgb=pixels.ndim == 3), f"not written at level {level}"


@pytest.fixture(scope="module")
def leveled(base_settings, segmenter, tmp_path_factory):
    """An app whose deployment asks for PNG level 3, with a key for the keyed dialects."""
    app = keyed_app(replace(base_settings, png_compress_level=LEVEL), segmenter,
                    str(tmp_path_factory.mktemp("leveled")))
    yield TestClient(app), new_key(app, "leveled")
    app.state.services.jobs.queue.close()


def test_api4ai_png_uses_the_deployments_compress_level(leveled, coffee_jpeg):
    http, key = leveled
    response = http.post("/v1/results", headers={"x-api-key": key},
                         files={"image": ("a.jpg", coffee_jpeg, "image/jpeg")})
    (entity,) = response.json()["results"][0]["entities"]
    assert_encoded_at(base64.b64decode(entity["image"]), LEVEL)


def test_removebg_png_uses_the_deployments_compress_level(leveled, coffee_jpeg):
    http, key = leveled
    response = http.post("/v1.0/removebg", headers={"x-api-key": key},
                         data={"size": "full", "format": "png"},
                         files={"image_file": ("a.jpg", coffee_jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert_encoded_at(response.content, LEVEL)


def test_azure_png_uses_the_deployments_compress_level(leveled, coffee_jpeg):
    http, key = leveled
    response = http.post(AZURE, headers={"Ocp-Apim-Subscription-Key": key}, content=coffee_jpeg)
    assert response.status_code == 200, response.text
    assert_encoded_at(response.content, LEVEL)


def test_adobe_job_png_uses_the_deployments_compress_level(leveled, coffee_jpeg):
    http, key = leveled
    status, data = run(http, key, {"output": {"mediaType": "image/png"}}, coffee_jpeg)
    assert status["status"] == "succeeded"
    assert_encoded_at(data, LEVEL)


def test_stored_images_cutout_uses_the_deployments_compress_level(leveled, coffee_jpeg):
    http, key = leveled
    headers = {"x-api-key": key}
    image = http.post("/v1/images/upload", headers=headers, data={"name": "cup"},
                      files={"image": ("a.jpg", coffee_jpeg, "image/jpeg")}).json()
    cut = http.post(f"/v1/images/{image['id']}/remove-background", headers=headers, json={})
    assert cut.status_code == 201, cut.text
    download = http.get(f"/v1/images/{cut.json()['id']}/download", headers=headers)
    assert_encoded_at(download.content, LEVEL)


# --- CUTOUT_MAX_RESPONSE_BYTES: every route keeps it, and a refused result is not charged ---

SMALL_LIMIT = 200_000  # bytes: the astronaut's full-size PNG cut-out is over it, a preview JPEG not


@pytest.fixture(scope="module")
def limited(base_settings, segmenter, tmp_path_factory):
    app = keyed_app(replace(base_settings, max_response_bytes=SMALL_LIMIT), segmenter,
                    str(tmp_path_factory.mktemp("limited")))
    yield app, TestClient(app), new_key(app, "limited")
    app.state.services.jobs.queue.close()


def credits_used(app, key: str) -> float:
    accounts = app.state.services.accounts
    account = accounts.authenticate(key)
    return app.state.services.store.usage(account.id, time.strftime("%Y-%m", time.gmtime()), account.shards).credits


def test_a_removebg_result_over_the_response_limit_is_a_413_in_its_shape_and_free(limited, astronaut_jpeg):
    app, http, key = limited
    before = credits_used(app, key)
    response = http.post("/v1.0/removebg", headers={"x-api-key": key},
                         data={"size": "full", "format": "png"},
                         files={"image_file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 413, response.text[:300]
    (error,) = response.json()["errors"]
    assert error["code"] == "result_too_large"
    assert f"{SMALL_LIMIT} bytes" in error["detail"]
    assert response.headers["X-Credits-Charged"] == "0"
    assert credits_used(app, key) == before


def test_an_azure_result_over_the_response_limit_is_a_413_in_its_shape_and_free(limited, astronaut_jpeg):
    app, http, key = limited
    before = credits_used(app, key)
    response = http.post(AZURE, headers={"x-api-key": key}, content=astronaut_jpeg)
    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert error["innererror"]["code"] == "result_too_large"
    assert f"{SMALL_LIMIT} bytes" in error["message"]
    assert credits_used(app, key) == before


def test_a_result_under_the_limit_is_answered_and_charged(limited, coffee_jpeg):
    app, http, key = limited
    before = credits_used(app, key)
    response = http.post("/v1.0/removebg", headers={"x-api-key": key}, data={"size": "preview", "format": "jpg"},
                         files={"image_file": ("a.jpg", coffee_jpeg, "image/jpeg")})
    assert response.status_code == 200
    assert credits_used(app, key) == before + 0.25


# --- request edges on the dialects the edge suite did not cover ---


def test_deep_json_is_refused_by_adobe(leveled):
    http, key = leveled
    body = '{"image": ' + "[" * 5000 + "]" * 5000 + "}"
    response = http.post("/v2/remove-background", content=body,
                         headers={"x-api-key": key, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error_code"] == "invalid_json"
    assert response.json()["message"].startswith("Request body is nested too deeply")


def test_deep_json_in_adobes_multipart_options_is_refused(leveled, coffee_jpeg):
    http, key = leveled
    options = '{"trim": ' + "[" * 5000 + "]" * 5000 + "}"
    response = http.post("/v2/remove-background", headers={"x-api-key": key},
                         files={"image": ("a.jpg", coffee_jpeg, "image/jpeg")}, data={"options": options})
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error_code"] == "invalid_json"
    assert "nested too deeply" in response.json()["message"]


HUGE = "h" * 200_000


@pytest.mark.parametrize("path, body", [
    ("/v1/results", {"url": "http://example.invalid/" + HUGE}),
    ("/v1.0/removebg", {"image_url": "http://example.invalid/" + HUGE, "size": HUGE}),
    (AZURE, {"url": "http://example.invalid/" + HUGE}),
    ("/v2/remove-background", {"image": {"source": {"url": "http://example.invalid/" + HUGE}},
                               "mode": HUGE}),
    ("/v1/images", {"name": HUGE, "url": "http://example.invalid/x.jpg"}),
])
def test_huge_fields_are_refused_in_the_dialects_shape(leveled, path, body):
    http, key = leveled
    response = http.post(path, headers={"x-api-key": key, "Content-Type": "application/json"},
                         content=json.dumps(body))
    assert 400 <= response.status_code < 500 or (path == "/v1/results" and response.status_code == 200)
    if path == "/v1/results":
        assert response.json()["results"][0]["status"]["code"] == "failure"
    assert len(response.content) < 5_000  # the refusal does not echo the field back


@pytest.mark.parametrize("path, body", [
    ("/v1/results", {"url": 5}),
    ("/v1.0/removebg", {"image_url": ["http://example.invalid/x.jpg"]}),
    (AZURE, {"url": {"href": "http://example.invalid/x.jpg"}}),
    ("/v2/remove-background", {"image": {"source": {"url": 5}}, "trim": "yes"}),
    ("/v1/images", {"name": 5, "url": ["x"]}),
])
def test_fields_of_the_wrong_type_are_4xx_on_every_dialect(leveled, path, body):
    http, key = leveled
    response = http.post(path, headers={"x-api-key": key}, json=body)
    assert 400 <= response.status_code < 500 or (path == "/v1/results" and response.status_code == 200)


# --- the app is its dialects -----------------------------------------------------------


def test_every_router_the_app_mounts_is_a_dialects_or_one_of_the_shared_few(client):
    """DIALECTS is the whole API: besides, only health, the page, the local blob store's
    signed URLs (and the spec and /docs) are mounted; every dialect route renders its refusals."""
    from cutout.web import blob_routes, health, page
    from cutout.web.dialect import DialectRoute
    from cutout.web.dialects import DIALECTS

    included = [route.original_router for route in client.app.routes if hasattr(route, "original_router")]
    dialects = [mount.router for d in DIALECTS for mount in d.mounts]
    shared = [blob_routes.router, health.router, page.router]
    assert all(any(router is known for known in dialects + shared) for router in included)
    assert all(any(router is mounted for mounted in included) for router in dialects + shared)
    assert all(isinstance(route, DialectRoute) for router in dialects for route in router.routes)
    assert {d.name for d in DIALECTS} == {"api4ai", "remove.bg", "azure", "Adobe", "IMG Processing",
                                          "Adobe v1"}


def test_every_dialect_has_a_unique_shell_friendly_key():
    """The key names a dialect in metrics and on the command line (`cutout listing <key>`)."""
    import re

    from cutout.cli.listing import DIALECTS as LISTED
    from cutout.web.dialects import DIALECTS
    from cutout.web.route_dialect import NONE, dialect_of

    keys = [d.key for d in DIALECTS]
    assert len(set(keys)) == len(keys) and NONE not in keys
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in keys), keys
    assert sorted(LISTED) == sorted(keys)
    route = DIALECTS[0].mounts[0].router.routes[0]
    assert dialect_of(route) == DIALECTS[0].key and dialect_of(None) == NONE
