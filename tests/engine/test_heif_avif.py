"""HEIC/HEIF (pillow-heif, libheif) and AVIF (Pillow's libavif plugin) on every route.

The test files are the coffee photo stored sideways (EXIF orientation 6, as
phones write it), in Adobe RGB numbers with a (20,160,60) block inside the cup,
made here with each format's encoder. A correct decode is upright (600x400),
colour-managed (the block is (0,161,47) in sRGB) and cut out like the JPEG.
"""
from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import hostile_images as hostile
from conftest import keyed_app, new_key
from cutout.engine import images
from photos import assert_subject_found
from engine.test_colour_management import BLOCK
from functions.test_s3_trigger import LambdaContext, trigger_env, upload  # noqa: F401 (fixture)
from hostile_images import ADOBE_IN_SRGB, STORED, assert_near
from rss_probe import probe

FORMATS = {"HEIF": ("heic", {"quality": 90}), "AVIF": ("avif", {"quality": 90})}
LIMITS = images.Limits()


def phone_photo(coffee: np.ndarray, fmt: str) -> bytes:
    pixels = coffee.copy()
    pixels[BLOCK] = STORED
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90 degrees counter-clockwise; turn clockwise to view
    sideways = np.ascontiguousarray(np.rot90(pixels, k=1))
    out = io.BytesIO()
    Image.fromarray(sideways).save(out, fmt, exif=exif.tobytes(), icc_profile=hostile.adobe_rgb_profile(),
                                   **FORMATS[fmt][1])
    return out.getvalue()


@pytest.fixture(scope="module", params=list(FORMATS))
def photo(request, coffee: np.ndarray) -> tuple[str, bytes]:
    return request.param, phone_photo(coffee, request.param)


def check_upright_cutout(img: Image.Image) -> None:
    assert img.size == (600, 400)  # upright: the coffee photo's own size
    rgba = np.asarray(img.convert("RGBA"))
    assert_subject_found(rgba[:, :, 3], "coffee")
    assert rgba[BLOCK][:, :, 3].min() == 255
    assert_near(np.median(rgba[BLOCK][:, :, :3].reshape(-1, 3), axis=0), ADOBE_IN_SRGB, 4)


def test_decodes_upright_in_srgb(photo, coffee: np.ndarray) -> None:
    fmt, data = photo
    decoded = images.decode(data, LIMITS)
    assert decoded.header.format == fmt
    assert (decoded.header.width, decoded.header.height) == (600, 400)
    assert decoded.rgb.shape == (400, 600, 3)
    outside = np.ones((400, 600), bool)
    outside[BLOCK] = False
    assert np.abs(decoded.rgb[outside].astype(int) - coffee[outside]).mean() < 12  # upright, not turned
    assert_near(np.median(decoded.rgb[BLOCK].reshape(-1, 3), axis=0), ADOBE_IN_SRGB, 4)


def test_limit_is_checked_from_the_header(photo, tmp_path: Path) -> None:
    fmt, data = photo
    with pytest.raises(images.ImageTooLarge, match="600x400 exceeds 0.2 megapixels"):
        images.read_header(data, images.Limits(max_megapixels=0.2))
    path = tmp_path / "photo"
    path.write_bytes(data)
    refused = probe(path, max_megapixels=0.2)
    assert refused["code"] == "image_too_large" and refused["growth_mb"] < 5 and refused["seconds"] < 0.2


@pytest.fixture(scope="module")
def api(base_settings, segmenter, tmp_path_factory):
    app = keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("heif")))
    return TestClient(app), new_key(app)


def test_api4ai(api, photo) -> None:
    client, key = api
    fmt, data = photo
    response = client.post("/v1/results", files={"image": (f"p.{FORMATS[fmt][0]}", data, f"image/{fmt.lower()}")},
                           headers={"X-Api-Key": key})
    result = response.json()["results"][0]
    assert result["status"]["code"] == "ok", result
    assert (result["width"], result["height"]) == (600, 400)
    check_upright_cutout(Image.open(io.BytesIO(base64.b64decode(result["entities"][0]["image"]))))


def test_removebg(api, photo) -> None:
    client, key = api
    fmt, data = photo
    response = client.post("/v1.0/removebg", headers={"X-Api-Key": key},
                           json={"image_file_b64": base64.b64encode(data).decode(), "size": "full",
                                 "format": "png"})
    assert response.status_code == 200, response.text
    check_upright_cutout(Image.open(io.BytesIO(response.content)))


def test_azure(api, photo) -> None:
    client, key = api
    fmt, data = photo
    response = client.post("/computervision/imageanalysis:segment",
                           params={"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"},
                           content=data, headers={"Ocp-Apim-Subscription-Key": key,
                                                  "Content-Type": f"image/{fmt.lower()}"})
    assert response.status_code == 200, response.text
    check_upright_cutout(Image.open(io.BytesIO(response.content)))


def test_cli_finds_and_cuts_heic_and_avif(tmp_path: Path, coffee: np.ndarray) -> None:
    for fmt, (extension, _) in FORMATS.items():
        (tmp_path / f"phone-{fmt}.{extension}").write_bytes(phone_photo(coffee, fmt))
    done = subprocess.run([sys.executable, "-m", "cutout.cli", "remove", str(tmp_path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for fmt in FORMATS:
        check_upright_cutout(Image.open(tmp_path / "out" / f"phone-{fmt}.cutout.png"))


def test_s3_trigger(trigger_env, coffee: np.ndarray) -> None:  # noqa: F811
    handler, s3, bucket, _ = trigger_env
    records = [upload(s3, bucket, f"uploads/phone/photo-{fmt}.{ext}", phone_photo(coffee, fmt))
               for fmt, (ext, _) in FORMATS.items()]
    answer = handler.handler({"Records": records}, LambdaContext())
    assert [r["status"] for r in answer["results"]] == ["done", "done"], answer
    for fmt in FORMATS:
        body = s3.get_object(Bucket=bucket, Key=f"results/phone/photo-{fmt}.png")["Body"].read()
        check_upright_cutout(Image.open(io.BytesIO(body)))
