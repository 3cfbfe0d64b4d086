"""The IMG Processing dialect over real HTTP: the app behind uvicorn on 127.0.0.1, on both
backends (SQLite + local folder as under `make run`; dynalite + moto's S3 server as deployed).

Every endpoint, pixels checked after download, paging over 250 images with deletes,
two accounts isolated, operations counted exactly and never for refusals or failures,
sandbox keys, and the official Node SDK's requests replayed (see SdkReplay)."""
from __future__ import annotations

import re
import unicodedata

import io
import socket
import threading
import time
import uuid
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import boto3
import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from cutout.engine import foreground
from cutout.stores.dynamodb import DynamoStore
from cutout.web import create_app
from local_http import Route
from photos import assert_subject_found, disc_scene


def start(app) -> tuple[str, Any]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


class Service:
    """A running app plus its account store, to make keys."""

    def __init__(self, app, url: str) -> None:
        self.app, self.url = app, url
        self.http = httpx.Client(base_url=url, timeout=60)

    def key(self, sandbox: bool = False, **limits) -> str:
        limits = {"mp_per_minute": 100_000, "monthly_credits": 100_000, **limits}
        return self.app.state.services.accounts.create_key(
            "mega", owner="imgproc-tests", sandbox=sandbox, **limits)[0]

    def call(self, method: str, path: str, key: str | None, **kw) -> httpx.Response:
        headers = {"x-api-key": key} if key else {}
        return self.http.request(method, path, headers=headers, **kw)

    def upload(self, key: str, data: bytes, name: str = "photo", filename: str = "photo.jpg",
               ctype: str = "image/jpeg") -> httpx.Response:
        return self.call("POST", "/v1/images/upload", key, data={"name": name},
                         files={"image": (filename, data, ctype)})

    def op(self, key: str, image_id: str, operation: str, body: dict | None = None) -> httpx.Response:
        return self.call("POST", f"/v1/images/{image_id}/{operation}", key, json=body or {})

    def pixels(self, key: str, image_id: str) -> np.ndarray:
        response = self.call("GET", f"/v1/images/{image_id}/download", key)
        assert response.status_code == 200, response.text
        return np.asarray(Image.open(io.BytesIO(response.content)))

    def usage(self, key: str) -> dict:
        return self.call("GET", "/v1/account", key).json()["usage"]


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def near(pixel: np.ndarray, colour: tuple[int, ...], tolerance: int = 12) -> bool:
    """Resampled pixels ring a little (LANCZOS): equal within a few levels."""
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= tolerance)


def marked() -> np.ndarray:
    """80x40 white, red 8x8 block top-left, blue 8x8 block bottom-left."""
    px = np.full((40, 80, 3), 255, np.uint8)
    px[:8, :8] = (255, 0, 0)
    px[-8:, :8] = (0, 0, 255)
    return px


@pytest.fixture(scope="module", params=["local", "aws"])
def service(request, base_settings, segmenter, tmp_path_factory):
    changes: dict[str, Any] = dict(data_dir=str(tmp_path_factory.mktemp("imgproc")), table="",
                                   bucket="", allow_anonymous=False, key_cache_seconds=0,
                                   fetch_allow_hosts=("127.0.0.1",))
    if request.param == "aws":
        request.getfixturevalue("dynalite")
        request.getfixturevalue("moto_server")
        changes["table"] = f"imgproc-{uuid.uuid4().hex[:10]}"
        changes["bucket"] = f"imgproc-{uuid.uuid4().hex[:10]}"
        DynamoStore(changes["table"]).create_table()
        boto3.client("s3").create_bucket(Bucket=changes["bucket"])
    app = create_app(replace(base_settings, **changes), segmenter)
    url, stop = start(app)
    yield SimpleNamespace(svc=Service(app, url), kind=request.param, bucket=changes["bucket"])
    stop()


@pytest.fixture
def svc(service) -> Service:
    return service.svc


# --- creation and access ---------------------------------------------------------------------


def test_upload_get_download_keeps_the_file(service, astronaut_jpeg) -> None:
    svc = service.svc
    key = svc.key()
    response = svc.upload(key, astronaut_jpeg, name="astronaut")
    assert response.status_code == 201, response.text
    image = response.json()
    assert image["id"].startswith("image_") and image["name"] == "astronaut"
    assert (image["width"], image["height"], image["format"]) == (512, 512, "jpeg")
    assert image["size"] == len(astronaut_jpeg) and image["url"] is None
    assert image["created_at"].endswith("Z")
    assert response.headers["X-Image-Processing-Usage"] == "1"
    assert response.headers["X-RateLimit-Limit"] == "100000"
    assert svc.call("GET", f"/v1/images/{image['id']}", key).json() == image
    download = svc.call("GET", f"/v1/images/{image['id']}/download", key)
    assert download.headers["content-type"] == "image/jpeg"
    assert download.content == astronaut_jpeg  # stored as sent: no re-encoding
    if service.kind == "aws":  # the bytes live in the bucket, under images/
        body = boto3.client("s3").get_object(Bucket=service.bucket, Key=f"images/{image['id']}")
        assert body["Body"].read() == astronaut_jpeg


def test_other_formats_are_stored_as_png(svc) -> None:
    key = svc.key()
    out = io.BytesIO()
    Image.fromarray(marked()).save(out, "BMP")
    image = svc.upload(key, out.getvalue(), filename="m.bmp", ctype="image/bmp").json()
    assert image["format"] == "png"
    assert np.array_equal(svc.pixels(key, image["id"]), marked())


def test_refused_uploads_say_why_and_are_never_counted(svc) -> None:
    key = svc.key()
    cases = [
        (svc.upload(key, png(marked()), name=""), 422, "validation_error"),
        (svc.upload(key, png(marked()), name="x" * 31), 422, "validation_error"),
        (svc.upload(key, b"%PDF-1.7 not an image"), 422, "invalid_image"),
        (svc.upload(key, b"\xff" * (20 * 1024 * 1024 + 1)), 400, "image_too_large"),
        (svc.call("POST", "/v1/images/upload", key, json={"name": "x"}), 422, "validation_error"),
        (svc.upload("", png(marked())), 401, "missing_api_key"),
        (svc.upload("live_unknown", png(marked())), 401, "invalid_api_key"),
    ]
    for response, status, code in cases:
        body = response.json()
        assert (response.status_code, body["code"], body["status"]) == (status, code, status), body
        assert body["error"] and body["message"]
    assert cases[0][0].json()["errors"] == ["name: must be 1 to 30 characters"]
    two = svc.call("POST", "/v1/images/upload", key, data={"name": "x"},
                   files=[("image", ("a.png", png(marked()), "image/png")),
                          ("image", ("b.png", png(marked()), "image/png"))])
    assert two.status_code == 422 and two.json()["code"] == "validation_error"
    assert two.json()["errors"] == ["body: Too many files. Maximum number of files is 1."]
    assert svc.usage(key)["calls"] == 0


def test_create_from_url_downloads_through_the_guard(svc, web_server, coffee_jpeg) -> None:
    key = svc.key()
    web_server.routes["/coffee.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    response = svc.call("POST", "/v1/images", key,
                        json={"name": "coffee", "url": web_server.url("/coffee.jpg")})
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["width"], image["height"], image["format"]) == (600, 400, "jpeg")
    assert svc.call("GET", f"/v1/images/{image['id']}/download", key).content == coffee_jpeg
    missing = svc.call("POST", "/v1/images", key, json={"name": "coffee",
                                                        "url": web_server.url("/nothing.jpg")})
    assert missing.status_code == 400 and missing.json()["code"] == "fetch_failed"
    invalid = svc.call("POST", "/v1/images", key, json={"url": web_server.url("/coffee.jpg")})
    assert invalid.status_code == 422 and invalid.json()["errors"] == ["name: Field required"]
    assert svc.usage(key)["calls"] == 1


def test_source_hosts_setting_and_ssrf_guard(base_settings, segmenter, tmp_path, web_server,
                                             coffee_jpeg) -> None:
    web_server.routes["/c.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    for changes, code in (({"image_source_hosts": ("*.s3.amazonaws.com",),
                            "fetch_allow_hosts": ("127.0.0.1",)}, "source_not_allowed"),
                          ({"fetch_allow_hosts": ()}, "fetch_failed")):  # 127.0.0.1 is private
        app = create_app(replace(base_settings, data_dir=str(tmp_path / code), table="",
                                 allow_anonymous=False, **changes), segmenter)
        url, stop = start(app)
        try:
            svc = Service(app, url)
            key = svc.key()
            response = svc.call("POST", "/v1/images", key,
                                json={"name": "c", "url": web_server.url("/c.jpg")})
            assert response.status_code == 400 and response.json()["code"] == code, response.text
        finally:
            stop()


# --- operations, pixel by pixel ---------------------------------------------------------------


@pytest.fixture
def stored(svc):
    key = svc.key()
    image = svc.upload(key, png(marked()), name="marked", filename="m.png", ctype="image/png").json()
    return SimpleNamespace(key=key, id=image["id"], image=image)


def made(svc, stored, operation: str, body: dict | None = None) -> tuple[dict, np.ndarray]:
    response = svc.op(stored.key, stored.id, operation, body)
    assert response.status_code == 201, response.text
    assert response.headers["X-Image-Processing-Usage"] == "1"
    image = response.json()
    assert image["id"] != stored.id and image["name"] == (body or {}).get("name", "marked")
    return image, svc.pixels(stored.key, image["id"])


def test_crop_rotate_mirror(svc, stored) -> None:
    image, px = made(svc, stored, "crop", {"x1": 4, "y1": 2, "x2": 20, "y2": 12, "name": "c"})
    assert (image["width"], image["height"]) == (16, 10) and px.shape == (10, 16, 3)
    assert np.array_equal(px, marked()[2:12, 4:20])
    image, px = made(svc, stored, "rotate", {"angle": 90})
    assert (image["width"], image["height"]) == (40, 80)
    assert tuple(px[0, -1]) == (255, 0, 0) and tuple(px[0, 0]) == (0, 0, 255)  # clockwise
    _, px = made(svc, stored, "rotate", {"angle": np.pi / 2, "unit": "radians"})
    assert tuple(px[0, -1]) == (255, 0, 0)
    _, px = made(svc, stored, "mirror", {"mode": "horizontal"})
    assert tuple(px[0, -1]) == (255, 0, 0) and tuple(px[-1, -1]) == (0, 0, 255)
    _, px = made(svc, stored, "mirror", {"mode": "vertical"})
    assert tuple(px[-1, 0]) == (255, 0, 0) and tuple(px[0, 0]) == (0, 0, 255)
    # The source is untouched.
    assert np.array_equal(svc.pixels(stored.key, stored.id), marked())


def test_exif_rotated_photos_stay_upright_through_every_operation(svc) -> None:
    """A phone photo stored sideways with EXIF orientation 6 (turn 90 degrees clockwise):
    the image object says its upright size, and so does every operation's output."""
    sideways = Image.fromarray(marked()).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    sideways.save(out, "JPEG", quality=95, exif=exif)
    key = svc.key()
    image = svc.upload(key, out.getvalue(), name="phone", filename="phone.jpg").json()
    assert (image["width"], image["height"]) == (80, 40)
    for operation, body in (("convert", {"format": "png"}), ("blur", {"sigma": 0.3}),
                            ("crop", {"x1": 0, "y1": 0, "x2": 80, "y2": 40}),
                            ("resize", {"width": 160}), ("remove-background", {})):
        response = svc.op(key, image["id"], operation, body)
        assert response.status_code == 201, (operation, response.text)
        result = response.json()
        px = svc.pixels(key, result["id"])
        scale = 2 if operation == "resize" else 1
        assert (result["width"], result["height"]) == (80 * scale, 40 * scale), operation
        assert px.shape[:2] == (40 * scale, 80 * scale), operation
        if operation != "remove-background":  # red block top-left, blue bottom-left
            assert near(px[3 * scale, 3 * scale, :3], (255, 0, 0), 40), operation
            assert near(px[-4 * scale, 3 * scale, :3], (0, 0, 255), 40), operation


def test_resize_fit_modes(svc, stored) -> None:
    image, px = made(svc, stored, "resize", {"width": 40, "height": 40})  # fill
    assert px.shape == (40, 40, 3) and near(px[2, 1], (255, 0, 0))
    assert near(px[2, 8], (255, 255, 255))  # squeezed: the 8 px block is 4 px wide now
    _, px = made(svc, stored, "resize", {"width": 80, "height": 80, "fit": "contain",
                                         "letterbox_color": "lime"})
    assert tuple(px[5, 40]) == (0, 255, 0) and tuple(px[75, 40]) == (0, 255, 0)
    assert near(px[22, 2], (255, 0, 0))  # the red block, below the 20 px top band
    _, px = made(svc, stored, "resize", {"width": 40, "height": 40, "fit": "cover",
                                         "position": "right"})
    assert px.shape == (40, 40, 3) and (px == 255).all()  # the white right half only
    image, px = made(svc, stored, "resize", {"width": 40})
    assert (image["width"], image["height"]) == (40, 20)


def test_resize_and_crop_refusals_name_the_fields_and_are_not_charged(svc, stored) -> None:
    """Checked by the engine's own rules (imageops) before any charge, answered in the dialect's
    shape: 400 `validation_error`, the fields named in `errors`."""
    before = svc.usage(stored.key)
    for operation, body, fields, words in (
        ("resize", {"width": 10_000, "height": 10_000}, "width, height", "25 megapixels"),
        ("resize", {"width": 10_000}, "width, height", "10000x5000"),  # the height it would take
        ("resize", {"fit": "cover"}, "width, height", "Give width, height or both"),
        ("crop", {"x1": 0, "y1": 0, "x2": 81, "y2": 5}, "x1, y1, x2, y2", "inside the 80x40 image"),
        ("crop", {"x1": 5, "y1": 0, "x2": 5, "y2": 5}, "x1, y1, x2, y2", "x1 < x2"),
    ):
        answer = svc.op(stored.key, stored.id, operation, body)
        assert answer.status_code == 422, (operation, body)
        document = answer.json()
        assert document["code"] == "validation_error" and document["status"] == 422
        assert document["type"] == "https://docs.img-processing.com/errors/validation-error"
        assert document["error"] == "Validation Error"
        (error,) = document["errors"]
        assert error.startswith(f"{fields}: ") and words in error, error
    assert svc.usage(stored.key) == before


def test_a_rotation_past_the_pixel_cap_is_refused_naming_the_angle_and_not_charged(
        svc, stored, monkeypatch) -> None:
    from cutout.engine import imageops

    monkeypatch.setattr(imageops, "MAX_OUTPUT_PIXELS", 80 * 40)  # the stored image is at the cap
    before = svc.usage(stored.key)
    assert svc.op(stored.key, stored.id, "rotate", {"angle": 180}).status_code == 201
    answer = svc.op(stored.key, stored.id, "rotate", {"angle": 45})
    assert answer.status_code == 422 and answer.json()["code"] == "validation_error"
    (error,) = answer.json()["errors"]
    assert error.startswith("angle: ") and "megapixels" in error, error
    assert svc.usage(stored.key)["calls"] == before["calls"] + 1  # the 180-degree turn only


def test_convert_blur_modulate(svc, stored, astronaut_jpeg) -> None:
    image, px = made(svc, stored, "convert", {"format": "jpg"})
    assert image["format"] == "jpeg"
    download = svc.call("GET", f"/v1/images/{image['id']}/download", stored.key)
    assert download.headers["content-type"] == "image/jpeg"
    photo = svc.upload(stored.key, astronaut_jpeg).json()
    sizes = {}
    for quality in (100, 20):
        answer = svc.op(stored.key, photo["id"], "convert", {"format": "webp", "quality": quality})
        sizes[quality] = answer.json()["size"]
        assert answer.json()["format"] == "webp"
    assert sizes[20] < sizes[100] / 2
    _, px = made(svc, stored, "blur", {"sigma": 4})
    assert 30 < px[4, 12, 1] < 250  # red block's edge smeared into the white
    _, px = made(svc, stored, "modulate", {"hue": 120})
    assert px[2, 2, 1] > 150 and px[2, 2, 0] < 80  # red turned green
    _, px = made(svc, stored, "modulate", {"brightness": 0.5})
    assert abs(int(px[20, 40, 0]) - 128) <= 2


def test_values_the_engine_refuses_are_validation_errors_and_not_charged(svc) -> None:
    """A hue of 1e400 (JSON's infinity) and a WebP wider than WebP can be (16383 px):
    400 validation_error as documented, with the reason in `errors`, never a 500."""
    key = svc.key()
    wide = svc.upload(key, png(np.full((2, 20_000, 3), 200, np.uint8)), filename="w.png",
                      ctype="image/png").json()
    before = svc.usage(key)["credits"]
    for operation, body, words in (("modulate", b'{"hue": 1e400}', "hue"),
                                   ("convert", b'{"format": "webp"}', "16383")):
        response = svc.http.post(f"/v1/images/{wide['id']}/{operation}", content=body,
                                 headers={"x-api-key": key, "content-type": "application/json"})
        document = response.json()
        assert response.status_code == 422, response.text
        assert document["code"] == "validation_error" and document["status"] == 422, document
        assert words in document["errors"][0]
    assert svc.usage(key)["credits"] == before


def test_watermark_is_placed_at_left_top(svc, stored) -> None:
    mark = np.zeros((6, 6, 4), np.uint8)
    mark[:, :, 1], mark[:, :, 3] = 255, 255
    mark_id = svc.upload(stored.key, png(mark), filename="w.png", ctype="image/png").json()["id"]
    _, px = made(svc, stored, "watermark", {"watermarks": [{"id": mark_id, "left": 30, "top": 10}]})
    assert tuple(px[10, 30]) == (0, 255, 0) and tuple(px[15, 35]) == (0, 255, 0)
    assert tuple(px[9, 30]) == (255, 255, 255) and tuple(px[16, 36]) == (255, 255, 255)
    too_many = svc.op(stored.key, stored.id, "watermark", {"watermarks": [{"id": mark_id}] * 6})
    assert too_many.status_code == 422


def test_remove_background_makes_a_transparent_png_for_two_operations(svc, astronaut_jpeg) -> None:
    key = svc.key()
    photo = svc.upload(key, astronaut_jpeg, name="astronaut").json()
    response = svc.op(key, photo["id"], "remove-background")
    assert response.status_code == 201, response.text
    assert response.headers["X-Image-Processing-Usage"] == "2"
    assert response.headers["X-Credits-Charged"] == "2"
    image = response.json()
    assert (image["format"], image["width"], image["height"], image["name"]) == \
        ("png", 512, 512, "astronaut")
    assert 0.0 <= float(response.headers["X-Uncertainty-Score"]) < 0.2  # a clear portrait
    px = svc.pixels(key, image["id"])
    assert px.shape == (512, 512, 4)
    assert_subject_found(px[:, :, 3], "astronaut")
    assert svc.usage(key)["credits"] == 3


def test_remove_background_corrects_the_edge_colour(svc) -> None:
    """The stored cut-out's soft edge carries the subject's colour, not the green behind it."""
    composite, _alpha, _fg = disc_scene()
    key = svc.key()
    photo = svc.upload(key, png(composite), filename="disc.png", ctype="image/png").json()
    response = svc.op(key, photo["id"], "remove-background")
    assert response.status_code == 201, response.text
    px = svc.pixels(key, response.json()["id"])
    alpha, visible = px[:, :, 3], px[:, :, 3] > 0
    assert ((alpha > 0) & (alpha < 255)).sum() > 1000
    assert np.array_equal(px[:, :, :3][visible], foreground.decontaminate(composite, alpha)[visible])


def test_out_of_scope_and_unknown_operations(svc, stored) -> None:
    for path in (f"/v1/images/{stored.id}/classify", "/v1/images/imagine"):
        response = svc.call("POST", path, stored.key, json={})
        assert response.status_code == 422, path
        assert response.json()["code"] == "unsupported_operation"
        assert "not available on this server" in response.json()["message"]
    unknown = svc.op(stored.key, stored.id, "sharpen")
    assert unknown.status_code == 404 and "available:" in unknown.json()["message"]


# --- publish, delete, list ---------------------------------------------------------------------


def test_publish_gives_a_keyless_url_until_unpublished_or_deleted(svc, stored) -> None:
    published = svc.call("POST", f"/v1/images/{stored.id}/publish", stored.key)
    assert published.status_code == 200
    url = published.json()["url"]
    assert url.startswith(svc.url + "/v1/public/images/")
    public = httpx.get(url)
    assert public.status_code == 200 and public.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(public.content))), marked())
    head = httpx.head(url)  # link checkers and CDNs: GET's headers, no body
    assert head.status_code == 200 and head.headers["content-type"] == "image/png"
    assert int(head.headers["content-length"]) == len(public.content) and head.content == b""
    assert svc.call("GET", f"/v1/images/{stored.id}", stored.key).json()["url"] == url
    unpublished = svc.call("POST", f"/v1/images/{stored.id}/unpublish", stored.key)
    assert unpublished.json()["url"] is None
    assert httpx.get(url).status_code == 404 and httpx.head(url).status_code == 404
    assert svc.call("GET", f"/v1/images/{stored.id}/download", stored.key).status_code == 200
    again = svc.call("POST", f"/v1/images/{stored.id}/publish", stored.key).json()["url"]
    assert again != url and httpx.get(again).status_code == 200
    assert svc.call("DELETE", f"/v1/images/{stored.id}", stored.key).status_code == 204
    assert httpx.get(again).status_code == 404
    for method, path in (("GET", ""), ("GET", "/download"), ("DELETE", "")):
        gone = svc.call(method, f"/v1/images/{stored.id}{path}", stored.key)
        assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_listing_250_images_with_deletes_in_between_sees_each_once(service) -> None:
    svc = service.svc
    key = svc.key()
    tiny = png(np.zeros((2, 2, 3), np.uint8))
    made_ids = [svc.upload(key, tiny, filename="t.png", ctype="image/png").json()["id"]
                for _ in range(250)]
    alive, seen = set(made_ids), []
    url: str | None = "/v1/images?take=40"
    while url:
        page = svc.call("GET", url.replace(svc.url, ""), key).json()
        seen.extend(image["id"] for image in page["data"])
        unseen = sorted(alive - set(seen))
        if unseen:  # delete an image further down the list, and add a new one on top
            assert svc.call("DELETE", f"/v1/images/{unseen[0]}", key).status_code == 204
            alive.discard(unseen[0])
        svc.upload(key, tiny, filename="t.png", ctype="image/png")
        url = page["links"]["next"]
        assert url is None or url.startswith(svc.url + "/v1/images?take=40&from=image_")
    assert len(seen) == len(set(seen)) and set(seen) >= alive and set(seen) <= set(made_ids)
    bad = svc.call("GET", "/v1/images?take=101", key)
    assert bad.status_code == 422 and bad.json()["errors"] == ["take: must be an integer from 1 to 100"]


# --- isolation, metering, sandbox ------------------------------------------------------------


def test_two_accounts_cannot_touch_each_others_images(svc, stored) -> None:
    other = svc.key()
    svc.upload(other, png(marked()), filename="o.png", ctype="image/png")
    listed = svc.call("GET", "/v1/images?take=100", other).json()["data"]
    assert stored.id not in {image["id"] for image in listed} and len(listed) == 1
    attempts = [svc.call("GET", f"/v1/images/{stored.id}", other),
                svc.call("GET", f"/v1/images/{stored.id}/download", other),
                svc.call("POST", f"/v1/images/{stored.id}/publish", other),
                svc.call("POST", f"/v1/images/{stored.id}/unpublish", other),
                svc.call("DELETE", f"/v1/images/{stored.id}", other),
                svc.op(other, stored.id, "remove-background"),
                svc.op(other, stored.id, "crop", {"x1": 0, "y1": 0, "x2": 5, "y2": 5})]
    mark_id = svc.call("GET", "/v1/images", other).json()["data"][0]["id"]
    attempts.append(svc.op(stored.key, stored.id, "watermark", {"watermarks": [{"id": mark_id}]}))
    for response in attempts:
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "https://docs.img-processing.com/errors/not-found"
        assert response.json()["code"] == "not_found"
    assert svc.call("GET", f"/v1/images/{stored.id}", stored.key).json() == stored.image
    assert svc.usage(other)["calls"] == 1 and svc.usage(stored.key)["calls"] == 1


def test_operations_are_counted_exactly_and_never_for_failures(svc, astronaut_jpeg) -> None:
    key = svc.key()
    photo = svc.upload(key, astronaut_jpeg).json()["id"]
    svc.op(key, photo, "remove-background")
    svc.op(key, photo, "mirror", {"mode": "both"})
    assert svc.usage(key)["credits"] == 4 and svc.usage(key)["calls"] == 3
    failures = [svc.op(key, photo, "crop", {"x1": 0, "y1": 0, "x2": 9999, "y2": 5}),
                svc.op(key, photo, "mirror", {"mode": "diagonal"}),
                svc.op(key, photo, "resize", {"fit": "cover"}),
                svc.op(key, photo, "resize", {"width": 10_000, "height": 10_000}),
                svc.op(key, photo, "rotate", {"angle": 10, "background_color": "nocolour"}),
                svc.op(key, "image_doesnotexist", "blur", {"sigma": 2}),
                svc.op(key, photo, "classify")]
    assert [f.status_code for f in failures] == [422, 422, 422, 422, 422, 404, 422]
    assert svc.usage(key)["credits"] == 4 and svc.usage(key)["calls"] == 3
    # Monthly credits: remove-background needs 2; with 1 left it is refused (403) and not counted.
    poor = svc.key(monthly_credits=2)
    image = svc.upload(poor, astronaut_jpeg).json()["id"]
    refused = svc.op(poor, image, "remove-background")
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_credits"
    assert svc.op(poor, image, "mirror", {"mode": "vertical"}).status_code == 201
    assert svc.usage(poor)["credits"] == 2
    # The megapixel window: a 1 MP-per-minute key gets one operation, then 429.
    slow = svc.key(mp_per_minute=1)
    image = svc.upload(slow, astronaut_jpeg).json()["id"]
    limited = svc.op(slow, image, "blur", {"sigma": 1})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limit_exceeded"
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_sandbox_keys_are_test_keys_with_a_lower_limit_and_a_visible_mark(svc, astronaut_jpeg) -> None:
    live, sandbox = svc.key(), svc.key(sandbox=True)
    assert live.startswith("live_") and sandbox.startswith("test_")
    results = {}
    for key in (live, sandbox):
        photo = svc.upload(key, png(np.full((60, 120, 3), 40, np.uint8)), filename="g.png",
                           ctype="image/png")
        assert photo.status_code == 201
        response = svc.op(key, photo.json()["id"], "mirror", {"mode": "horizontal"})
        results[key] = (response, svc.pixels(key, response.json()["id"]))
    cut = svc.op(sandbox, svc.upload(sandbox, astronaut_jpeg).json()["id"], "remove-background")
    assert cut.status_code == 201 and cut.json()["format"] == "png"
    band = svc.pixels(sandbox, cut.json()["id"])[256]
    assert band.shape == (512, 4) and band[:, 3].min() >= 160  # opaque across, background too
    assert results[sandbox][0].headers["X-RateLimit-Limit"] == "10"
    assert (results[live][1] == 40).all()
    assert results[sandbox][1][30].mean() > 100  # the band across the middle
    assert (results[sandbox][1][:10] == 40).all()


# --- the official SDK's requests, replayed ----------------------------------------------------


class SdkError(Exception):
    def __init__(self, body: dict) -> None:
        super().__init__(body)
        self.type, self.error, self.status = body["type"], body["error"], body["status"]


class SdkReplay:
    """The HTTP requests of IMG Processing's Node SDK (img-processing/node-sdk, src/api-client.ts):
    ky with `prefixUrl` (the one thing changed here), header `x-api-key`, JSON bodies built
    from the call's fields (JSON.stringify drops undefined ones), multipart `name` + `image`
    (a Blob, so the file part is named "blob") for uploads, no body for publish/unpublish,
    `searchParams` {take, from} for listing and `links.next` with the base URL stripped for
    the next page. Its error class reads type, error and status from the body."""

    def __init__(self, base: str, api_key: str) -> None:
        assert api_key.startswith(("test_", "live_")), "the SDK refuses other keys"
        self.base = base.rstrip("/") + "/"
        self.http = httpx.Client(base_url=self.base, headers={"x-api-key": api_key}, timeout=60)

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise SdkError(response.json())
        return response.json() if response.content else None

    def _json(self, path: str, **fields: Any) -> dict:
        return self._answer(self.http.post(path, json={k: v for k, v in fields.items()
                                                       if v is not None}))

    def upload_image(self, image: bytes, name: str, mime: str) -> dict:
        return self._answer(self.http.post("v1/images/upload", data={"name": name},
                                           files={"image": ("blob", image, mime)}))

    def create_image_from_url(self, url: str, name: str) -> dict:
        return self._json("v1/images", url=url, name=name)

    def get_image(self, image_id: str) -> dict:
        return self._answer(self.http.get(f"v1/images/{image_id}"))

    def list_images(self, take: int | None = None, from_: str | None = None) -> dict:
        params = {k: v for k, v in (("take", take), ("from", from_)) if v is not None}
        return self._answer(self.http.get("v1/images", params=params))

    def go_to_page(self, page: str) -> dict:
        return self._answer(self.http.get(page.replace(self.base, "")))

    def download(self, image_id: str) -> bytes:
        response = self.http.get(f"v1/images/{image_id}/download")
        if response.status_code >= 400:
            raise SdkError(response.json())
        return response.content

    def publish(self, image_id: str) -> dict:
        return self._answer(self.http.post(f"v1/images/{image_id}/publish"))

    def unpublish(self, image_id: str) -> dict:
        return self._answer(self.http.post(f"v1/images/{image_id}/unpublish"))

    def delete(self, image_id: str) -> None:
        return self._answer(self.http.delete(f"v1/images/{image_id}"))

    def convert(self, image_id, format, quality=None, name=None):  # noqa: A002 (SDK's name)
        return self._json(f"v1/images/{image_id}/convert", format=format, quality=quality, name=name)

    def crop(self, image_id, x1, y1, x2, y2, name=None):
        return self._json(f"v1/images/{image_id}/crop", x1=x1, y1=y1, x2=x2, y2=y2, name=name)

    def resize(self, image_id, width=None, height=None, fit=None, name=None, position=None):
        return self._json(f"v1/images/{image_id}/resize", width=width, height=height, fit=fit,
                          name=name, position=position)

    def rotate(self, image_id, angle, unit=None, name=None, background_color=None):
        return self._json(f"v1/images/{image_id}/rotate", angle=angle, unit=unit, name=name,
                          background_color=background_color)

    def mirror(self, image_id, mode, name=None):
        return self._json(f"v1/images/{image_id}/mirror", mode=mode, name=name)

    def blur(self, image_id, sigma=None, name=None):  # image.blur(): `{}`
        return self._json(f"v1/images/{image_id}/blur", sigma=sigma, name=name)

    def modulate(self, image_id, brightness=None, saturation=None, hue=None, lightness=None,
                 name=None):
        return self._json(f"v1/images/{image_id}/modulate", brightness=brightness,
                          saturation=saturation, hue=hue, lightness=lightness, name=name)

    def remove_background(self, image_id, name=None):
        return self._json(f"v1/images/{image_id}/remove-background", name=name)


def test_the_sdk_calls_work_unchanged(svc, web_server, coffee_jpeg, astronaut_jpeg) -> None:
    sdk = SdkReplay(svc.url, svc.key())
    web_server.routes["/c.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    uploaded = sdk.upload_image(astronaut_jpeg, "astronaut", "image/jpeg")
    from_url = sdk.create_image_from_url(web_server.url("/c.jpg"), "coffee")
    assert sdk.get_image(uploaded["id"]) == uploaded
    assert sdk.download(from_url["id"]) == coffee_jpeg
    results = [
        sdk.convert(uploaded["id"], "png"),
        sdk.resize(uploaded["id"], width=100, height=50, fit="cover", position="top"),
        sdk.crop(uploaded["id"], 0, 0, 64, 32, name="corner"),
        sdk.rotate(uploaded["id"], 180),
        sdk.mirror(uploaded["id"], "vertical"),
        sdk.blur(uploaded["id"], 2.5),
        sdk.modulate(uploaded["id"], saturation=0.2),
        sdk.remove_background(uploaded["id"]),
    ]
    shapes = [(r["format"], r["width"], r["height"]) for r in results]
    assert shapes == [("png", 512, 512), ("jpeg", 100, 50), ("jpeg", 64, 32), ("jpeg", 512, 512),
                      ("jpeg", 512, 512), ("jpeg", 512, 512), ("jpeg", 512, 512),
                      ("png", 512, 512)]
    assert results[2]["name"] == "corner" and results[0]["name"] == "astronaut"
    published = sdk.publish(from_url["id"])
    assert httpx.get(published["url"]).content == coffee_jpeg
    assert sdk.unpublish(from_url["id"])["url"] is None
    first = sdk.list_images(take=3)
    second = sdk.go_to_page(first["links"]["next"])
    assert first["links"]["previous"] is None
    assert sdk.go_to_page(second["links"]["previous"])["data"] == first["data"]
    seen, page = [], first
    while page is not None:
        seen.extend(image["id"] for image in page["data"])
        page = sdk.go_to_page(page["links"]["next"]) if page["links"]["next"] else None
    assert len(seen) == 10 == len(set(seen)) and seen[0] == results[-1]["id"]
    assert seen[-1] == uploaded["id"]
    assert sdk.list_images(take=2, from_=seen[4])["data"][0]["id"] == seen[4]
    sdk.delete(from_url["id"])
    with pytest.raises(SdkError) as caught:
        sdk.get_image(from_url["id"])
    assert (caught.value.status, caught.value.type, caught.value.error) == (
        404, "https://docs.img-processing.com/errors/not-found", "Not Found")


SDK_ID = re.compile(r"^image_[a-zA-Z0-9]{24}$")  # the SDK's tests check every id with this


def test_the_sdk_test_suites_expectations(svc, astronaut_jpeg) -> None:
    """What the SDK's own vitest suite (test/**/*.test.ts, the AI tests aside) checks of each
    call, replayed: ids of its shape, the name kept, blur without sigma (default 20), a
    fractional hue or crop corner and a quality over 100 refused as validation errors."""
    sdk = SdkReplay(svc.url, svc.key())
    image = sdk.upload_image(astronaut_jpeg, "test_image", "image/jpeg")
    made = [image, sdk.blur(image["id"]), sdk.modulate(image["id"], brightness=0.5,
                                                      saturation=0.5, hue=120),
            sdk.resize(image["id"], width=500, height=500, fit="contain"),
            sdk.crop(image["id"], 0, 0, 100, 100), sdk.convert(image["id"], "png"),
            sdk.rotate(image["id"], 90), sdk.mirror(image["id"], "horizontal"),
            sdk.remove_background(image["id"])]
    assert all(SDK_ID.match(m["id"]) and m["name"] == "test_image" for m in made), made
    ids = [m["id"] for m in made]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # by creation time
    blurred = np.asarray(Image.open(io.BytesIO(sdk.download(made[1]["id"]))).convert("L"), float)
    lightly = np.asarray(Image.open(io.BytesIO(sdk.download(sdk.blur(image["id"], 2)["id"])))
                         .convert("L"), float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(lightly, axis=1)).mean() / 4
    for call in (lambda: sdk.modulate(image["id"], brightness=0.5, saturation=0.5, hue=120.5),
                 lambda: sdk.crop(image["id"], 0.5, 0, 100, 100),
                 lambda: sdk.convert(image["id"], "jpeg", quality=101),
                 lambda: sdk.create_image_from_url("https://example.com/a.jpg", None)):
        with pytest.raises(SdkError) as caught:
            call()
        assert (caught.value.status, caught.value.error) == (422, "Validation Error")
        assert caught.value.type == "https://docs.img-processing.com/errors/validation-error"
    with pytest.raises(SdkError) as caught:
        sdk.upload_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "test_image", "image/svg+xml")
    assert (caught.value.status, caught.value.error) == (422, "Validation Error")


@pytest.mark.parametrize("name, verdict", [
    ("Cre\u0300me bru\u0302le\u0301e fraiche xxxxxxxxx", 201),  # NFD: 33 code points, 30 in NFC
    ("Crème brûlée fraiche xxxxxxxxx", 201),  # the same 30 visible characters, NFC
    ("\u200b\u200b", 422), ("\u3164", 422), ("\u2800 \u200d", 422), ("   ", 422),  # invisible
    ("tab\tname", 422), ("bell\x07", 422), ("line\nbreak", 422),  # control characters
])
def test_names_are_judged_as_they_look(svc, name, verdict) -> None:
    key = svc.key()
    answer = svc.upload(key, png(marked()), name=name)
    assert answer.status_code == verdict, answer.text
    if verdict == 201:
        assert answer.json()["name"] == unicodedata.normalize("NFC", name)
        renamed = svc.op(key, answer.json()["id"], "mirror", {"mode": "both", "name": name})
        assert renamed.status_code == 201 and renamed.json()["name"] == answer.json()["name"]
    else:
        assert answer.json()["errors"][0].startswith("name: ")
        assert svc.op(key, "image_" + "0" * 24, "mirror", {"mode": "both", "name": name}
                      ).status_code == 422  # the same verdict for an operation's name


def test_an_unreachable_store_is_a_503_in_the_dialect_shape_and_not_charged(
        base_settings, segmenter, dynalite, moto_server, tmp_path, astronaut_jpeg) -> None:
    table, bucket = f"imgproc-{uuid.uuid4().hex[:10]}", f"imgproc-{uuid.uuid4().hex[:10]}"
    DynamoStore(table).create_table()
    boto3.client("s3").create_bucket(Bucket=bucket)
    app = create_app(replace(base_settings, table=table, bucket=bucket, allow_anonymous=False,
                             key_cache_seconds=3600, data_dir=str(tmp_path)), segmenter)
    url, stop = start(app)
    try:
        svc = Service(app, url)
        key = svc.key()
        image = svc.upload(key, astronaut_jpeg).json()["id"]
        svc.call("GET", f"/v1/images/{image}", key)  # the key is now cached in-process
        with dynalite.stopped():
            for response in (svc.call("GET", f"/v1/images/{image}", key),
                             svc.call("GET", "/v1/images", key)):
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "service_unavailable"
        assert svc.usage(key)["calls"] == 1
    finally:
        stop()


@pytest.mark.parametrize("kind", ["local", "aws"])
def test_files_too_large_for_one_response_are_redirected_to_an_expiring_url(
        request, kind, base_settings, segmenter, tmp_path, astronaut_jpeg) -> None:
    changes: dict[str, Any] = dict(data_dir=str(tmp_path), table="", bucket="",
                                   allow_anonymous=False, max_response_bytes=120_000,
                                   result_url_ttl=600)
    if kind == "aws":
        request.getfixturevalue("dynalite")
        request.getfixturevalue("moto_server")
        changes["table"] = f"imgproc-{uuid.uuid4().hex[:10]}"
        changes["bucket"] = f"imgproc-{uuid.uuid4().hex[:10]}"
        DynamoStore(changes["table"]).create_table()
        boto3.client("s3").create_bucket(Bucket=changes["bucket"])
    app = create_app(replace(base_settings, **changes), segmenter)
    url, stop = start(app)
    try:
        svc = Service(app, url)
        key = svc.key()
        big = svc.upload(key, astronaut_jpeg).json()["id"]
        small = svc.upload(key, png(np.zeros((4, 4, 3), np.uint8)), filename="s.png",
                           ctype="image/png").json()["id"]
        assert svc.call("GET", f"/v1/images/{small}/download", key).status_code == 200
        moved = svc.call("GET", f"/v1/images/{big}/download", key)
        assert moved.status_code == 307
        location = moved.headers["location"]
        assert ("X-Amz-Expires=600" in location) == (kind == "aws")
        assert httpx.get(location).content == astronaut_jpeg  # no key: the URL is the permission
        public = svc.call("POST", f"/v1/images/{big}/publish", key).json()["url"]
        assert httpx.get(public, follow_redirects=True).content == astronaut_jpeg
        svc.call("POST", f"/v1/images/{big}/unpublish", key)
        assert httpx.get(public).status_code == 404
    finally:
        stop()
