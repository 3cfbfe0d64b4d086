"""Browsers can call every dialect: preflights answered, headers allowed and exposed.

Each preflight carries exactly what Chromium sends before the documented
browser samples (fetch with X-Api-Key, axios posting JSON with a key, a
RapidAPI snippet, Azure's Ocp-Apim-Subscription-Key).
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from cutout.web import create_app
from cutout.web.cors import ALLOW_HEADERS, EXPOSE_HEADERS

ORIGIN = "https://shop.example"

PREFLIGHTS = [
    # fetch(url, {method: "POST", headers: {"X-Api-Key": key}, body: formData})
    ("/v1/results", "POST", "x-api-key"),
    ("/img-bg-removal/v1/results", "POST", "x-api-key"),
    # axios.post(url, {image_file_b64}, {headers: {"X-Api-Key": key}}): JSON body, so content-type too
    ("/v1.0/removebg", "POST", "content-type,x-api-key"),
    ("/v1.0/account", "GET", "x-api-key"),
    ("/v1/account", "GET", "x-api-key"),
    ("/computervision/imageanalysis:segment?api-version=2023-02-01-preview&mode=backgroundRemoval",
     "POST", "content-type,ocp-apim-subscription-key"),
    # RapidAPI's JavaScript (fetch) snippet
    ("/v1/results", "POST", "x-rapidapi-host,x-rapidapi-key"),
    ("/v1/results", "POST", "authorization,idempotency-key,x-request-id"),
    # the images API deletes by id; Adobe's jobs post JSON with a bearer token
    ("/v1/images/image_01J0000000000000000000000", "DELETE", "x-api-key"),
    ("/v1/images/upload", "POST", "x-api-key"),
    ("/v2/remove-background", "POST", "authorization,content-type,idempotency-key"),
    # a presigned local upload URL takes a PUT
    ("/v1/blobs/results/jobs/uploads/x/y?expires=1&signature=0", "PUT", "content-type"),
]


@pytest.mark.parametrize(("path", "method", "requested"), PREFLIGHTS)
def test_preflight_is_answered_for_every_dialect(client: TestClient, path, method, requested) -> None:
    response = client.options(path, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": requested,
    })
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert method in response.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert set(requested.split(",")) <= allowed
    assert "Access-Control-Allow-Credentials" not in response.headers  # keys travel in headers


def test_a_real_response_carries_the_origin_and_exposes_the_headers_clients_read(
    client: TestClient, coffee_jpeg: bytes
) -> None:
    response = client.post("/v1.0/removebg", headers={"Origin": ORIGIN},
                           files={"image_file": ("cup.jpg", coffee_jpeg, "image/jpeg")},
                           data={"size": "preview"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    for name in ("x-width", "x-height", "x-max-width", "x-max-height", "x-credits-charged",
                 "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after",
                 "x-foreground-top", "x-foreground-left", "x-foreground-width",
                 "x-foreground-height", "x-request-id", "x-image-processing-usage",
                 "x-uncertainty-score"):
        assert name in exposed, name
        if name.startswith(("x-width", "x-max", "x-credits", "x-ratelimit", "x-foreground", "x-request")):
            assert name in response.headers, name  # and the response really has it


def test_refusals_carry_cors_headers_too(base_settings, segmenter, tmp_path) -> None:
    """A browser must be able to read a 401/413 body, or the page cannot show the API's words."""
    cfg = replace(base_settings, data_dir=str(tmp_path), allow_anonymous=False,
                  max_request_bytes=1000)
    client = TestClient(create_app(cfg, segmenter))
    refused = client.post("/v1/results", headers={"Origin": ORIGIN, "Content-Type": "image/jpeg"},
                          content=b"x" * 10)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    too_large = client.post("/v1/results", headers={"Origin": ORIGIN, "Content-Type": "image/jpeg"},
                            content=b"x" * 5000)
    assert too_large.status_code == 413
    assert too_large.headers["Access-Control-Allow-Origin"] == "*"


def test_allowed_origins_are_a_setting(base_settings, segmenter, tmp_path, monkeypatch) -> None:
    from cutout.config import settings

    monkeypatch.setenv("CUTOUT_CORS_ORIGINS", "https://shop.example, https://admin.example/")
    settings.cache_clear()
    try:
        origins = settings().cors_origins
    finally:
        monkeypatch.delenv("CUTOUT_CORS_ORIGINS")
        settings.cache_clear()
    assert origins == ("https://shop.example", "https://admin.example/")  # a "/" is dropped when used
    assert settings().cors_origins == ("*",)

    client = TestClient(create_app(replace(base_settings, cors_origins=origins), segmenter))
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    allowed = client.options("/v1/results", headers={"Origin": "https://admin.example", **ask})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://admin.example"
    refused = client.options("/v1/results", headers={"Origin": "https://evil.example", **ask})
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers
    plain = client.get("/v1/modes", headers={"Origin": "https://evil.example"})
    assert plain.status_code == 200 and "Access-Control-Allow-Origin" not in plain.headers


def test_the_lists_name_each_header_once() -> None:
    assert len({h.lower() for h in ALLOW_HEADERS}) == len(ALLOW_HEADERS)
    assert len({h.lower() for h in EXPOSE_HEADERS}) == len(EXPOSE_HEADERS)
