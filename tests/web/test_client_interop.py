"""What real clients send and fail on: Accept q-values, zip with channels=alpha, key errors,
X-Max-Width/-Height, and API4AI's hosted path prefix. Each request carries the
exact headers and fields of the client named.
"""
from __future__ import annotations

import base64
import io
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import keyed_app, new_key
from cutout.engine import images
from cutout.web.negotiation import prefers, quality
from photos import assert_subject_found

URL = "/v1.0/removebg"
AXIOS_ACCEPT = "application/json, text/plain, */*"  # axios's default Accept


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    return keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("interop")))


@pytest.fixture(scope="module")
def api(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def key(app) -> str:
    return new_key(app)


def removebg(api, key, photo, accept=None, **fields):
    headers = {"X-Api-Key": key}
    if accept is not None:
        headers["Accept"] = accept
    return api.post(URL, headers=headers, data=fields,
                    files={"image_file": ("photo.jpg", photo, "image/jpeg")})


# --- Accept ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "media", "q"), [
    ("", "image/png", 1.0),
    ("*/*", "application/json", 1.0),
    (AXIOS_ACCEPT, "application/json", 1.0),
    (AXIOS_ACCEPT, "image/png", 1.0),
    ("application/json", "image/png", 0.0),
    ("image/*;q=0.5, image/png;q=0.2", "image/png", 0.2),  # the most specific range decides
    ("image/*;q=0.5, image/png;q=0.2", "image/jpeg", 0.5),
    ("Application/JSON; Q=0.7", "application/json", 0.7),
    ("application/json;q=oops", "application/json", 1.0),
])
def test_quality_follows_rfc_9110(accept, media, q) -> None:
    assert quality(accept, media) == q


@pytest.mark.parametrize(("accept", "wants_json"), [
    (None, False),  # requests, curl: no preference
    ("*/*", False),
    (AXIOS_ACCEPT, False),  # remove.bg's own axios sample saves the answer as no-bg.png
    ("application/json", True),  # remove.bg's documented way to ask for JSON
    ("application/json, image/*;q=0.5", True),
    ("image/png;q=0.1, application/json", True),
    ("application/json;q=0.5, image/*", False),
    ("image/png, application/json", False),  # a tie goes to the image
])
def test_removebg_answers_json_only_when_json_is_strictly_preferred(
    api, key, coffee_jpeg, accept, wants_json
) -> None:
    response = removebg(api, key, coffee_jpeg, accept, size="preview")
    assert response.status_code == 200, response.text
    if wants_json:
        assert response.headers["content-type"] == "application/json"
        data = base64.b64decode(response.json()["data"]["result_b64"])
    else:
        assert response.headers["content-type"] == "image/png"
        data = response.content
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.size == (int(response.headers["X-Width"]), int(response.headers["X-Height"]))


def test_prefers_breaks_ties_towards_the_default() -> None:
    assert not prefers(AXIOS_ACCEPT, "application/json", "image/png")
    assert prefers("application/json", "application/json", "image/png")


# --- zip with channels=alpha (remove.bg's CLI: --channels alpha --format zip) ----------------------


def test_zip_with_channels_alpha_answers_the_zip(api, key, coffee_jpeg) -> None:
    zipped = removebg(api, key, coffee_jpeg, size="full", format="zip", channels="alpha")
    assert zipped.status_code == 200, zipped.text
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = Image.open(io.BytesIO(archive.read("color.jpg")))
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    assert colour.format == "JPEG" and colour.mode == "RGB"
    assert alpha.format == "PNG" and alpha.mode == "L"
    assert colour.size == alpha.size == (600, 400)
    assert_subject_found(np.asarray(alpha), "coffee")
    # The alpha layer is the matte that channels=alpha alone answers, pixel for pixel.
    matte = removebg(api, key, coffee_jpeg, size="full", format="png", channels="alpha")
    assert np.array_equal(np.asarray(alpha), np.asarray(Image.open(io.BytesIO(matte.content))))
    assert zipped.headers["X-Credits-Charged"] == "0.25"  # 600 x 400 is within 0.25 MP


# --- keys --------------------------------------------------------------------------------------------


def test_an_invalid_or_revoked_key_is_auth_failed_as_remove_bg_words_it(app, api, coffee_jpeg) -> None:
    wrong = removebg(api, "ck_not-a-real-key", coffee_jpeg)
    assert wrong.status_code == 403
    assert wrong.json()["errors"][0]["code"] == "auth_failed"
    assert wrong.json()["errors"][0]["title"] == "API Key invalid"
    revoked_key = new_key(app, owner="revoked")
    accounts = app.state.services.accounts
    record = next(r for r in accounts.list_keys() if r.owner == "revoked")
    accounts.revoke(record.key_id)  # the same process: its key cache forgets the key at once
    revoked = removebg(api, revoked_key, coffee_jpeg)
    assert revoked.status_code == 403
    assert revoked.json()["errors"][0]["code"] == "auth_failed"
    account = api.get("/v1.0/account", headers={"X-Api-Key": "ck_not-a-real-key"})
    assert account.status_code == 403 and account.json()["errors"][0]["code"] == "auth_failed"


# --- X-Max-Width / X-Max-Height ----------------------------------------------------------------------


def test_max_width_and_height_are_what_the_size_allows(api, key, coffee_jpeg, coffee) -> None:
    big = io.BytesIO()
    Image.fromarray(coffee).resize((1800, 1200)).save(big, "JPEG", quality=90)
    regular = removebg(api, key, big.getvalue(), size="regular")
    assert regular.status_code == 200
    expected = images.fit_within(1800, 1200, 0.25)
    assert (int(regular.headers["X-Max-Width"]), int(regular.headers["X-Max-Height"])) == expected
    assert (int(regular.headers["X-Width"]), int(regular.headers["X-Height"])) == expected
    full = removebg(api, key, big.getvalue(), size="full")
    assert (full.headers["X-Max-Width"], full.headers["X-Max-Height"]) == ("1800", "1200")
    cropped = removebg(api, key, coffee_jpeg, size="full", crop="true")
    assert (cropped.headers["X-Max-Width"], cropped.headers["X-Max-Height"]) == ("600", "400")
    assert int(cropped.headers["X-Width"]) < 600  # crop trims the output below the maximum


# --- API4AI's hosted prefix ---------------------------------------------------------------------------


def test_api4ai_is_also_served_under_its_hosted_prefix(api, key, coffee_jpeg) -> None:
    headers = {"X-Api-Key": key}
    assert api.get("/img-bg-removal/v1/version").text == api.get("/v1/version").text
    assert api.get("/img-bg-removal/v1/modes").json() == ["fg-image", "fg-image-shadow", "fg-mask"]
    response = api.post("/img-bg-removal/v1/results?mode=fg-mask", headers=headers,
                        files={"image": ("cup.jpg", coffee_jpeg, "image/jpeg")})
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["status"]["code"] == "ok" and result["name"] == "cup.jpg"
    mask = Image.open(io.BytesIO(base64.b64decode(result["entities"][0]["image"])))
    assert mask.mode == "L"
    assert_subject_found(np.asarray(mask), "coffee")
    assert response.headers["X-Credits-Charged"] == "1"  # metered like /v1/results
    spec_paths = api.get("/openapi.json").json()["paths"]
    assert not any(path.startswith("/img-bg-removal") for path in spec_paths)  # one listing
