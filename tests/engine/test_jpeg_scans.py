"""Progressive JPEG scan amplification: more than 100 scans are refused before decoding."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import keyed_app, new_key
from hostile_images import progressive, with_last_scan_repeated
from cutout.engine import images, jpeg
from cutout.errors import TooManyScans

LIMITS = images.Limits()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return progressive()


def test_scans_are_counted_from_markers(photo: bytes) -> None:
    assert jpeg.count_scans(photo) == 10
    assert jpeg.count_scans(with_last_scan_repeated(photo, 5)) == 15
    baseline = io.BytesIO()
    Image.new("RGB", (64, 64)).save(baseline, "JPEG")
    assert jpeg.count_scans(baseline.getvalue()) == 1
    assert jpeg.count_scans(b"not a jpeg") == 0


def test_segments_holding_marker_bytes_are_skipped(photo: bytes) -> None:
    """FF DA inside an APP segment (here a COM) is data, not a scan."""
    comment = b"\xff\xfe" + (2 + 40).to_bytes(2, "big") + b"\xff\xda" * 20
    assert jpeg.count_scans(photo[:2] + comment + photo[2:]) == 10


def test_a_hundred_scans_decode(photo: bytes) -> None:
    data = with_last_scan_repeated(photo, 90)
    assert jpeg.count_scans(data) == 100
    assert images.decode(data, LIMITS).rgb.shape == (2000, 2000, 3)


def test_two_thousand_repeated_scans_are_refused_at_once(photo: bytes) -> None:
    data = with_last_scan_repeated(photo, 2000)
    assert len(data) < LIMITS.max_bytes
    started = time.perf_counter()
    with pytest.raises(TooManyScans, match="more than 100 scans") as caught:
        images.read_header(data, LIMITS)
    with pytest.raises(TooManyScans):
        images.decode(data, LIMITS)
    assert time.perf_counter() - started < 0.5  # the decode alone would take seconds
    assert caught.value.code == "too_many_scans"


@pytest.fixture(scope="module")
def api(base_settings, segmenter, tmp_path_factory):
    app = keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("scans")))
    return TestClient(app), new_key(app)


def test_every_dialect_refuses_with_its_documented_error(api, photo: bytes) -> None:
    client, key = api
    data = with_last_scan_repeated(photo, 200)
    message = "Can not load image: the JPEG has more than 100 scans (progressive passes); " \
              "at most 100 are accepted."
    api4ai = client.post("/v1/results", files={"image": ("p.jpg", data, "image/jpeg")},
                         headers={"X-Api-Key": key})
    assert api4ai.status_code == 200
    result = api4ai.json()["results"][0]
    assert result["status"] == {"code": "failure", "message": message} and result["entities"] == []

    removebg = client.post("/v1.0/removebg", files={"image_file": ("p.jpg", data, "image/jpeg")},
                           headers={"X-Api-Key": key})
    assert removebg.status_code == 400
    assert removebg.json()["errors"][0]["code"] == "failed_to_read_image"
    assert removebg.json()["errors"][0]["detail"] == message
    assert "x-credits-charged" not in removebg.headers

    azure = client.post("/computervision/imageanalysis:segment",
                        params={"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"},
                        content=data, headers={"Ocp-Apim-Subscription-Key": key,
                                               "Content-Type": "application/octet-stream"})
    assert azure.status_code == 400
    assert azure.json()["error"]["innererror"] == {"code": "InvalidImageFormat", "message": message}
    assert azure.headers["x-ms-error-code"] == "InvalidImageFormat"
