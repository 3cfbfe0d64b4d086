"""Results too large for a synchronous Lambda response: stored and handed over by URL, or a clear 413.

Against real servers: S3 is moto's server over HTTP (presigned URLs fetched
with a real HTTP client), the local store is served by the app itself, and the
Lambda side goes through Mangum with a real HTTP API event from events/.
"""
from __future__ import annotations

import base64
import calendar
import io
import json
import socket
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from mangum import Mangum
from PIL import Image

from cutout.blobs import InvalidObjectKey
from cutout.blobs.local import LocalBlobStore
from cutout.blobs.s3 import S3BlobStore
from cutout.web import create_app
from cutout.web.delivery import LAMBDA_RESPONSE_LIMIT, fit_lambda_response
from cutout.web.dialects import too_large_body
from photos import assert_subject_found

EVENTS = Path(__file__).resolve().parents[2] / "events"
SMALL_LIMIT = 200_000  # bytes: the astronaut cut-out (~430 KB as base64) is over, its mask is not


@pytest.fixture(scope="module")
def bucket(moto_server: str) -> str:
    name = "cutout-results-test"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def app_client(base_settings, segmenter, tmp_path: Path | None = None, **changes) -> TestClient:
    cfg = replace(base_settings, **changes)
    if tmp_path is not None:
        cfg = replace(cfg, data_dir=str(tmp_path))
    return TestClient(create_app(cfg, segmenter))


def post(client: TestClient, data: bytes, mode: str) -> dict:
    response = client.post("/v1/results", params={"mode": mode},
                           files={"image": ("photo.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"] == {"code": "ok", "message": "Success"}
    return result


def alpha_of(img: Image.Image) -> np.ndarray:
    return np.asarray(img if img.mode == "L" else img.getchannel("A"))


def test_result_over_the_limit_is_stored_in_s3_and_answered_with_a_presigned_url(
        base_settings, segmenter, bucket, astronaut_jpeg):
    client = app_client(base_settings, segmenter, bucket=bucket,
                        max_response_bytes=SMALL_LIMIT, result_url_ttl=900)
    result = post(client, astronaut_jpeg, "fg-image")
    (entity,) = result["entities"]
    assert "image" not in entity
    assert entity["kind"] == "image" and entity["format"] == "PNG"
    assert entity["name"] == "general-fg-image"
    expires = calendar.timegm(time.strptime(entity["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert 880 < expires - time.time() <= 900

    url = urlsplit(entity["url"])
    assert url.path.startswith(f"/{bucket}/results/api/")
    assert parse_qs(url.query)["X-Amz-Expires"] == ["900"]
    download = httpx.get(entity["url"])  # no credentials: the signature is the permission
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(download.content))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (512, 512)
    assert (result["width"], result["height"]) == (512, 512)
    assert_subject_found(alpha_of(img), "astronaut")


def test_result_under_the_limit_stays_inline(base_settings, segmenter, bucket, coffee_jpeg):
    client = app_client(base_settings, segmenter, bucket=bucket, max_response_bytes=SMALL_LIMIT)
    (entity,) = post(client, coffee_jpeg, "fg-mask")["entities"]
    assert "url" not in entity
    mask = Image.open(io.BytesIO(base64.b64decode(entity["image"])))
    assert mask.mode == "L" and mask.size == (600, 400)
    assert_subject_found(np.asarray(mask), "coffee")


def test_a_12_megapixel_cutout_passes_the_real_lambda_limit_and_comes_back_by_url(
        base_settings, segmenter, bucket, astronaut):
    """At the real 6 MB limit: a 12 MP photo's cut-out is far too big to inline."""
    big = Image.fromarray(astronaut).resize((4000, 3000), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    client = app_client(base_settings, segmenter, bucket=bucket,
                        max_response_bytes=LAMBDA_RESPONSE_LIMIT)
    response = client.post("/v1/results", content=out.getvalue(),
                           headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200
    assert len(response.content) < 10_000  # the JSON carries a link, not the image
    (entity,) = response.json()["results"][0]["entities"]
    download = httpx.get(entity["url"])
    assert download.status_code == 200
    assert len(download.content) * 4 / 3 > LAMBDA_RESPONSE_LIMIT
    img = Image.open(io.BytesIO(download.content))
    assert img.size == (4000, 3000) and img.mode == "RGBA"


def test_without_a_bucket_results_go_to_a_local_folder_behind_signed_urls(
        base_settings, segmenter, tmp_path, astronaut_jpeg):
    client = app_client(base_settings, segmenter, tmp_path, bucket="",
                        max_response_bytes=SMALL_LIMIT)
    (entity,) = post(client, astronaut_jpeg, "fg-image-shadow")["entities"]
    url = urlsplit(entity["url"])
    assert url.path.startswith("/v1/blobs/results/api/")
    stored = list((tmp_path / "blobs" / "objects" / "results" / "api").rglob("*.png"))
    assert len(stored) == 1

    got = client.get(entity["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content == stored[0].read_bytes()
    img = Image.open(io.BytesIO(got.content))
    assert img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(alpha_of(img), "astronaut")

    query = parse_qs(url.query)
    forged = f"{url.path}?expires={int(query['expires'][0]) + 3600}&signature={query['signature'][0]}"
    assert client.get(forged).status_code == 403
    other = url.path.replace(".png", "-other.png") + "?" + url.query
    assert client.get(other).status_code == 403  # a signature is for one key only


def test_local_urls_expire_and_keys_cannot_escape_the_folder(tmp_path):
    store = LocalBlobStore(tmp_path, b"secret")
    store.put("results/api/a.png", b"\x89PNG...", "image/png", {"request-id": "r1"})
    blob = store.get("results/api/a.png")
    assert (blob.data, blob.content_type, blob.metadata) == (b"\x89PNG...", "image/png",
                                                            {"request-id": "r1"})
    query = parse_qs(urlsplit(store.url("results/api/a.png", -1)).query)
    assert not store.verify("results/api/a.png", int(query["expires"][0]), query["signature"][0])
    query = parse_qs(urlsplit(store.url("results/api/a.png", 60)).query)
    assert store.verify("results/api/a.png", int(query["expires"][0]), query["signature"][0])
    for key in ("../outside.png", "/etc/passwd", "results/../../x", "results//x", ""):
        with pytest.raises(InvalidObjectKey):
            store.put(key, b"x", "image/png")
    assert list(tmp_path.parent.glob("outside.png")) == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_s3_unreachable_gives_a_503_that_names_the_limit_and_charges_nothing(
        base_settings, segmenter, bucket, astronaut_jpeg, coffee_jpeg, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    client = app_client(base_settings, segmenter, tmp_path, bucket=bucket,
                        max_response_bytes=SMALL_LIMIT)
    store = client.app.state.services.store

    def calls() -> int:
        return store.usage("anonymous", time.strftime("%Y-%m", time.gmtime())).calls

    post(client, coffee_jpeg, "fg-mask")  # small enough to inline: metered as usual
    assert calls() == 1
    response = client.post("/v1/results", files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"  # a service fault: try again shortly
    detail = response.json()["detail"]
    assert f"{SMALL_LIMIT} bytes" in detail and "storing it for download failed" in detail
    assert calls() == 1  # refunded: the caller got no result


def test_the_lambda_handler_turns_an_oversized_response_into_a_413(base_settings, segmenter):
    """What fit_lambda_response does to Mangum's answer to a real HTTP API event."""
    asgi = Mangum(create_app(replace(base_settings, max_response_bytes=0), segmenter),
                  lifespan="off")
    event = json.loads((EVENTS / "api-removebg-rgba.json").read_text())
    response = asgi(event, None)
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    size = len(json.dumps(response))

    assert fit_lambda_response(response, size, too_large_body) is response  # at the limit: untouched
    refused = fit_lambda_response(response, 150_000, too_large_body)
    assert refused["statusCode"] == 413 and refused["isBase64Encoded"] is False
    assert refused["headers"]["content-type"] == "application/json"
    assert refused["headers"]["x-request-id"] == response["headers"]["x-request-id"]
    body = json.loads(refused["body"])
    assert f"would be {size} bytes" in body["detail"] and "150000 bytes" in body["detail"]
    assert body["errors"][0]["code"] == body["error"]["code"] == "result_too_large"
    assert body["errors"][0]["title"] == body["error"]["message"] == body["detail"]
    assert body["error_code"] == body["code"] == "result_too_large"  # Adobe's, IMG Processing's
    assert body["type"] == "https://docs.img-processing.com/errors/request-entity-too-large"
    assert body["message"] == body["detail"] and body["status"] == 413
    assert "6 MB (6291456 bytes)" in json.loads(
        fit_lambda_response({**response, "body": "x" * LAMBDA_RESPONSE_LIMIT}, LAMBDA_RESPONSE_LIMIT,
                            too_large_body)["body"])["detail"]


def test_s3_store_reads_back_metadata_and_refuses_unknown_keys(bucket):
    store = S3BlobStore(bucket)
    etag = store.put("results/api/x y/é.png", b"png-bytes", "image/png", {"source-key": "uploads/x"})
    blob = store.get("results/api/x y/é.png")
    assert blob.data == b"png-bytes" and blob.etag == etag
    assert blob.content_type == "image/png" and blob.metadata == {"source-key": "uploads/x"}
    from cutout.blobs import BlobNotFound

    with pytest.raises(BlobNotFound):
        store.get("results/api/missing.png")
