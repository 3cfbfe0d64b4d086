"""Embedded ICC profiles: pixels are converted to sRGB on decode, and outputs say sRGB.

The right value (issue 11): a subject stored as (20,160,60) in Adobe RGB (1998)
is (0,161,47) +-2 in sRGB. The Adobe RGB and Display P3 profiles are built in
tests/hostile_images.py from their published primaries and curves.
"""
from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageCms

import hostile_images as hostile
from conftest import encode, keyed_app, new_key
from cutout.engine import icc, images

LIMITS = images.Limits()
STORED, ADOBE_IN_SRGB, assert_near = hostile.STORED, hostile.ADOBE_IN_SRGB, hostile.assert_near
BLOCK = (slice(170, 230), slice(270, 330))  # inside the coffee cup: the subject, fully opaque


def srgb_from_p3(rgb) -> np.ndarray:
    """Display P3 -> sRGB by the formulas (an independent reference for LittleCMS's answer)."""
    def linear(v):
        return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)

    def encoded(v):
        v = np.clip(v, 0, 1)
        return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)

    p3 = hostile.colorants_d50(((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), hostile.D65_XY)
    srgb = hostile.colorants_d50(((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), hostile.D65_XY)
    xyz = p3 @ linear(np.array(rgb) / 255.0)
    return np.round(encoded(np.linalg.solve(srgb, xyz)) * 255).astype(int)


def tagged(pixels: np.ndarray, fmt: str, profile: bytes, **params) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, icc_profile=profile, **params)
    return out.getvalue()


@pytest.mark.parametrize("fmt, params", [
    ("JPEG", {"quality": 100, "subsampling": 0}), ("PNG", {}), ("WEBP", {"lossless": True}),
    ("TIFF", {}), ("HEIF", {"quality": -1}), ("AVIF", {"quality": 100}),
])
def test_adobe_rgb_is_converted_to_srgb(fmt: str, params: dict) -> None:
    pixels = np.full((64, 64, 3), STORED, dtype=np.uint8)
    decoded = images.decode(tagged(pixels, fmt, hostile.adobe_rgb_profile(), **params), LIMITS)
    assert_near(decoded.rgb[32, 32], ADOBE_IN_SRGB, 2 if fmt in ("JPEG", "PNG", "WEBP", "TIFF") else 4)


def test_display_p3_matches_the_formulas() -> None:
    pixels = np.full((16, 16, 3), STORED, dtype=np.uint8)
    decoded = images.decode(tagged(pixels, "PNG", hostile.display_p3_profile()), LIMITS)
    assert_near(decoded.rgb[8, 8], srgb_from_p3(STORED), 1)
    assert tuple(decoded.rgb[8, 8]) != STORED


def test_alpha_grey_and_srgb_profiles() -> None:
    rgba = np.full((8, 8, 4), STORED + (100,), dtype=np.uint8)
    decoded = images.decode(tagged(rgba, "PNG", hostile.adobe_rgb_profile()), LIMITS)
    assert_near(decoded.rgb[0, 0], ADOBE_IN_SRGB)
    assert decoded.alpha[0, 0] == 100  # alpha is not colour: untouched
    # An sRGB-tagged file is left exactly as it is.
    untouched = images.decode(tagged(rgba[:, :, :3].copy(), "PNG", icc.srgb_profile_bytes()), LIMITS)
    assert tuple(untouched.rgb[0, 0]) == STORED
    # A grey image with a gamma-1.0 grey profile: 50% linear light is 188 in sRGB.
    linear_grey = hostile.grey_profile(gamma=1.0)
    decoded = images.decode(tagged(np.full((8, 8), 128, dtype=np.uint8), "PNG", linear_grey), LIMITS)
    assert_near(decoded.rgb[0, 0], (188, 188, 188), 1)


def test_broken_profile_is_ignored() -> None:
    pixels = np.full((8, 8, 3), STORED, dtype=np.uint8)
    decoded = images.decode(tagged(pixels, "PNG", b"not an ICC profile at all"), LIMITS)
    assert tuple(decoded.rgb[0, 0]) == STORED


def test_outputs_are_tagged_srgb_and_mattes_are_not() -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    png = Image.open(io.BytesIO(images.encode(rgba, "png")))
    assert png.info.get("srgb") == 0  # Pillow reads the sRGB chunk's rendering intent
    for fmt in ("jpg", "webp"):
        img = Image.open(io.BytesIO(images.encode(rgba[:, :, :3].copy(), fmt)))
        profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        assert "sRGB" in profile.profile.profile_description
    matte = Image.open(io.BytesIO(images.encode(rgba[:, :, 3].copy(), "png")))
    assert "srgb" not in matte.info and "icc_profile" not in matte.info


# --- every route --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adobe_photo(coffee: np.ndarray) -> bytes:
    """The coffee photo in Adobe RGB numbers, with a block of (20,160,60) inside the cup."""
    pixels = coffee.copy()
    pixels[BLOCK] = STORED
    return tagged(pixels, "JPEG", hostile.adobe_rgb_profile(), quality=100, subsampling=0)


@pytest.fixture(scope="module")
def api(base_settings, segmenter, tmp_path_factory):
    app = keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("colour")))
    return TestClient(app), new_key(app)


def block_colour(img: Image.Image) -> np.ndarray:
    rgba = np.asarray(img.convert("RGBA"))[BLOCK]
    assert rgba[:, :, 3].min() == 255  # the block is inside the subject
    return np.median(rgba[:, :, :3].reshape(-1, 3), axis=0)


def test_api4ai_output_is_srgb(api, adobe_photo) -> None:
    client, key = api
    response = client.post("/v1/results", files={"image": ("a.jpg", adobe_photo, "image/jpeg")},
                           headers={"X-Api-Key": key})
    entity = response.json()["results"][0]["entities"][0]
    img = Image.open(io.BytesIO(base64.b64decode(entity["image"])))
    assert img.info.get("srgb") == 0
    assert_near(block_colour(img), ADOBE_IN_SRGB)


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "zip"])
def test_removebg_outputs_are_srgb(api, adobe_photo, fmt: str) -> None:
    client, key = api
    response = client.post("/v1.0/removebg", headers={"X-Api-Key": key},
                           files={"image_file": ("a.jpg", adobe_photo, "image/jpeg")},
                           data={"format": fmt, "size": "full"})
    assert response.status_code == 200, response.text
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(response.content)) as parts:
            img = Image.open(io.BytesIO(parts.read("color.jpg")))
            matte = Image.open(io.BytesIO(parts.read("alpha.png")))
        assert "icc_profile" not in matte.info
    else:
        img = Image.open(io.BytesIO(response.content))
    if fmt == "png":
        assert img.info.get("srgb") == 0
    else:
        assert "sRGB" in ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"])).profile.profile_description
    assert_near(block_colour(img), ADOBE_IN_SRGB, 2 if fmt in ("png", "zip") else 4)


def test_azure_output_is_srgb(api, adobe_photo) -> None:
    client, key = api
    response = client.post("/computervision/imageanalysis:segment",
                           params={"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"},
                           content=adobe_photo, headers={"Ocp-Apim-Subscription-Key": key,
                                                         "Content-Type": "application/octet-stream"})
    img = Image.open(io.BytesIO(response.content))
    assert img.info.get("srgb") == 0
    assert_near(block_colour(img), ADOBE_IN_SRGB)


def test_background_image_is_colour_managed(api, coffee) -> None:
    """An Adobe RGB backdrop of (20,160,60) shows as (0,161,47) where the photo was background."""
    client, key = api
    backdrop = tagged(np.full((50, 80, 3), STORED, dtype=np.uint8), "PNG", hostile.adobe_rgb_profile())
    response = client.post("/v1.0/removebg", headers={"X-Api-Key": key},
                           files={"image_file": ("c.jpg", encode(coffee), "image/jpeg"),
                                  "bg_image_file": ("bg.png", backdrop, "image/png")},
                           data={"format": "png", "size": "full"})
    assert response.status_code == 200, response.text
    rgba = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))
    assert_near(rgba[2, 2, :3], ADOBE_IN_SRGB)  # a top corner: table, not cup


def test_large_image_is_converted_in_every_band() -> None:
    """Above bands.MIN_PIXELS the conversion runs in row bands on a thread pool: every row converted."""
    pixels = np.full((1500, 2000, 3), STORED, dtype=np.uint8)
    pixels[::7] = (200, 40, 90)
    decoded = images.decode(tagged(pixels, "PNG", hostile.adobe_rgb_profile()), LIMITS)
    small = images.decode(tagged(pixels[:14, :8].copy(), "PNG", hostile.adobe_rgb_profile()), LIMITS)
    assert (decoded.rgb[1::7] == small.rgb[1, 0]).all() and (decoded.rgb[::7] == small.rgb[0, 0]).all()
    assert_near(small.rgb[1, 0], ADOBE_IN_SRGB)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_with_a_press_profile(fmt: str) -> None:
    """CMYK through its profile's inks (cyan (0,160,220)), not Pillow's naive formula (0,255,255)."""
    combos = [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (1, 1, 0, 0), (1, 0, 1, 0)]
    inks = np.array([[255 * v for v in combo] for combo in combos], np.uint8).reshape(1, -1, 4)
    img = Image.frombytes("CMYK", (len(combos), 1), inks.tobytes())
    out = io.BytesIO()
    img.resize((len(combos) * 8, 8), Image.Resampling.NEAREST).save(
        out, fmt, icc_profile=hostile.cmyk_profile(), **({"quality": 100} if fmt == "JPEG" else {}))
    decoded = images.decode(out.getvalue(), LIMITS)
    for i, combo in enumerate(combos):
        assert_near(decoded.rgb[4, i * 8 + 4], np.round(hostile.ink_rgb(*combo)), 2)


def test_the_same_input_gives_the_same_jpeg_and_webp_bytes_in_every_process() -> None:
    """The embedded sRGB profile carries a fixed date, so outputs can be cached and compared."""
    program = (
        "import hashlib, numpy as np\n"
        "from cutout.engine import images\n"
        "pixels = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)\n"
        "print(hashlib.sha256(images.encode(pixels, 'jpg') + images.encode(pixels, 'webp')).hexdigest())\n"
    )
    digests = set()
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                              check=True, timeout=60)
        digests.add(done.stdout.strip())
        time.sleep(1.1)  # the profile used to carry the current second
    assert len(digests) == 1
    profile = icc.srgb_profile_bytes()
    assert profile[36:40] == b"acsp"  # still a well-formed ICC header
    assert ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.profile_description
