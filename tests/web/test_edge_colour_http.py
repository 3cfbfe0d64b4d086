"""Edge colour correction is on by default on every synchronous route.

The photo is an orange-brown disc over saturated green, its edge a soft mix of
the two (tests/engine/test_edges.py's scene). Each route's cut-out must carry,
at every visible pixel, the engine's decontaminated colour for the matte it
returned (so the soft edge holds the subject's colour, not the green), and a
user who lays it on white must see far less green at the edge than the photo has.
"""
from __future__ import annotations

import base64
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import encode
from cutout.engine import foreground
from photos import disc_scene
from web.test_tiers_http import REMOVAL, api, app, key  # noqa: F401  (a keyed app of this module's own)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, bytes]:
    composite, _alpha, _fg = disc_scene()
    return composite, encode(composite, "PNG")


def api4ai(api, key, photo: bytes) -> bytes:
    response = api.post("/v1/results", headers={"X-Api-Key": key},
                        files={"image": ("photo.png", photo, "image/png")})
    assert response.status_code == 200, response.text
    (entity,) = response.json()["results"][0]["entities"]
    return base64.b64decode(entity["image"])


def removebg(api, key, photo: bytes, **fields) -> bytes:
    response = api.post("/v1.0/removebg", headers={"X-Api-Key": key}, data={"size": "full", **fields},
                        files={"image_file": ("photo.png", photo, "image/png")})
    assert response.status_code == 200, response.text
    return response.content


def azure(api, key, photo: bytes) -> bytes:
    response = api.post("/computervision/imageanalysis:segment", params=REMOVAL, content=photo,
                        headers={"Ocp-Apim-Subscription-Key": key, "Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    return response.content


def green_on_white(rgb: np.ndarray, alpha: np.ndarray) -> float:
    """Mean green excess (G over the mean of R and B, levels) in the soft edge, laid on white."""
    a = alpha.astype(float)[..., None] / 255
    laid = rgb.astype(float) * a + 255 * (1 - a)
    ring = (alpha > 0) & (alpha < 255)
    return float(np.clip(laid[ring, 1] - (laid[ring, 0] + laid[ring, 2]) / 2, 0, None).mean())


@pytest.mark.parametrize("route", ["api4ai", "removebg", "azure"])
def test_the_cut_out_carries_the_subjects_colour_at_its_soft_edge(api, key, scene, route) -> None:
    composite, photo = scene
    data = {"api4ai": lambda: api4ai(api, key, photo), "removebg": lambda: removebg(api, key, photo),
            "azure": lambda: azure(api, key, photo)}[route]()
    rgba = np.asarray(Image.open(io.BytesIO(data)))
    rgb, alpha = rgba[:, :, :3], rgba[:, :, 3]
    ring = (alpha > 0) & (alpha < 255)
    assert ring.sum() > 1000  # the model found the disc, with a soft edge
    visible = alpha > 0
    expected = foreground.decontaminate(composite, alpha)
    assert np.array_equal(rgb[visible], expected[visible])
    assert not np.array_equal(rgb[ring], composite[ring])  # the photo's mixed colours were replaced
    assert green_on_white(rgb, alpha) < 0.5 * green_on_white(composite, alpha)


def test_the_zip_colour_layer_is_edge_corrected_like_remove_bgs(api, key, scene) -> None:
    composite, photo = scene
    with zipfile.ZipFile(io.BytesIO(removebg(api, key, photo, format="zip"))) as archive:
        colour = np.asarray(Image.open(io.BytesIO(archive.read("color.jpg"))).convert("RGB"))
        alpha = np.asarray(Image.open(io.BytesIO(archive.read("alpha.png"))))
    ring = (alpha > 0) & (alpha < 255)
    expected = foreground.decontaminate(composite, alpha)
    # JPEG: the colour layer is within a few levels of the corrected colours, on average
    assert np.abs(colour[ring].astype(int) - expected[ring]).mean() < 6
    assert green_on_white(colour, alpha) < 0.5 * green_on_white(composite, alpha)
