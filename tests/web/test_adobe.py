"""Adobe Remove Background v2 over HTTP with the local worker pool: post, poll, download, pixels.

Every job here really runs: the app's in-process pool takes the message, the
model cuts the photo, the result goes to the local result store and comes back
through the signed URL the status names. URL sources are served by a real
HTTP server on 127.0.0.1 (allow-listed, as a private deployment would).
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import keyed_app, new_key
from local_http import Hooks, Route
from adobe_client import run, submit, wait
from photos import assert_subject_found


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    application = keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("jobs")))
    yield application
    application.state.services.jobs.queue.close()


@pytest.fixture(scope="module")
def http(app) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def key(app) -> str:
    return new_key(app, "adobe")


def alpha_of(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    return np.asarray(img if img.mode == "L" else img.getchannel("A"))


def test_cutout_of_an_upload_poll_and_download(http, key, astronaut_jpeg):
    status, data = run(http, key, {"output": {"mediaType": "image/png"}}, astronaut_jpeg)
    assert status["createdTime"] <= status["modifiedTime"]
    assert status["createdTime"].endswith("Z")
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(alpha_of(data), "astronaut")


def test_the_output_defaults_to_the_input_format_and_honours_media_type(http, key, astronaut_jpeg):
    status, data = run(http, key, {}, astronaut_jpeg)
    assert status["result"]["outputs"][0]["mediaType"] == "image/jpeg"
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    status, data = run(http, key, {"output": {"mediaType": "image/webp"}}, astronaut_jpeg)
    assert status["result"]["outputs"][0]["mediaType"] == "image/webp"
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def test_mask_mode_is_the_grey_matte(http, key, astronaut_jpeg):
    _, data = run(http, key, {"mode": "mask", "output": {"mediaType": "image/png"}}, astronaut_jpeg)
    img = Image.open(io.BytesIO(data))
    assert img.mode == "L" and img.size == (512, 512)
    assert_subject_found(np.asarray(img), "astronaut")


def test_trim_crops_to_the_subjects_box(http, key, coffee_jpeg):
    _, mask = run(http, key, {"mode": "mask", "output": {"mediaType": "image/png"}}, coffee_jpeg)
    rows, cols = np.nonzero(np.asarray(Image.open(io.BytesIO(mask))))
    box = (cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min())
    _, data = run(http, key, {"trim": True, "output": {"mediaType": "image/png"}}, coffee_jpeg)
    trimmed = Image.open(io.BytesIO(data))
    assert trimmed.size == box and box != (600, 400)
    alpha = np.asarray(trimmed.getchannel("A"))
    # the subject touches every edge of a tight box
    assert alpha[0].max() > 0 and alpha[-1].max() > 0 and alpha[:, 0].max() > 0 and alpha[:, -1].max() > 0


def test_background_colour_with_alpha_fills_the_background(http, key, astronaut_jpeg):
    body = {"backgroundColor": {"red": 0, "green": 128, "blue": 255, "alpha": 0.5},
            "output": {"mediaType": "image/png"}}
    _, data = run(http, key, body, astronaut_jpeg)
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)
    corner = pixels[0:40, 400:500].reshape(-1, 4).mean(axis=0)
    assert np.allclose(corner, (0, 128, 255, 128), atol=3)
    face = pixels[60:110, 200:270, 3]
    assert face.mean() > 250  # the subject stays opaque over the half-transparent fill


def test_psd_mode_has_the_photo_layer_with_the_cutout_as_its_mask(http, key, astronaut, astronaut_jpeg):
    from psd_tools import PSDImage

    status, data = run(http, key, {"mode": "psd"}, astronaut_jpeg)
    assert status["result"]["outputs"][0]["mediaType"] == "image/vnd.adobe.photoshop"
    document = PSDImage.open(io.BytesIO(data))
    assert document.size == (512, 512)
    (layer,) = list(document)
    assert layer.name == "Photo" and layer.has_mask()
    photo = np.asarray(layer.topil().convert("RGB")).astype(int)
    original = np.asarray(Image.open(io.BytesIO(astronaut_jpeg)).convert("RGB")).astype(int)
    assert np.abs(photo - original).max() == 0  # the layer is the decoded photo, untouched
    assert_subject_found(np.asarray(layer.mask.topil()), "astronaut")


def test_bearer_token_is_a_key_and_a_url_source_is_fetched(http, key, web_server, coffee_jpeg):
    web_server.routes["/coffee.jpg"] = Route(200, coffee_jpeg, {"Content-Type": "image/jpeg"})
    body = {"image": {"source": {"url": web_server.url("/coffee.jpg")}},
            "output": {"mediaType": "image/png"}}
    _, data = run(http, key, body, auth="authorization")
    assert_subject_found(alpha_of(data), "coffee")


def usage(app, key: str) -> float:
    from cutout.accounts.keys import month_of

    account = app.state.services.accounts.authenticate(key)
    return app.state.services.store.usage(account.id, month_of(time.time()), account.shards).credits


@pytest.mark.parametrize("path, code", [
    ("/x.jpg", "fetch_failed"),  # localhost is not on the allow-list: refused as private
])
def test_a_private_source_url_fails_the_job_and_refunds(app, http, path, code):
    key = new_key(app, "private-url")
    status, _ = run(http, key, {"image": {"source": {"url": f"http://localhost:9{path}"}}})
    assert status["status"] == "failed"
    (detail,) = status["errorDetails"]
    assert detail["errorCode"] == "400401" and detail["reason"] == code
    assert "non-public address" in detail["message"]
    assert "result" not in status
    assert usage(app, key) == 0  # charged at accept, refunded when it failed


def test_an_unreachable_source_or_a_corrupt_image_fails_the_job(app, http, web_server):
    from fixtures_aws import free_port

    key = new_key(app, "bad-sources")
    status, _ = run(http, key, {"image": {"source": {"url": f"http://127.0.0.1:{free_port()}/a.jpg"}}})
    assert status["status"] == "failed"
    assert status["errorDetails"][0]["reason"] == "fetch_failed"
    web_server.routes["/broken.jpg"] = Route(200, b"\xff\xd8\xff\xe0 not really a jpeg" * 50)
    status, _ = run(http, key, {"image": {"source": {"url": web_server.url("/broken.jpg")}}})
    assert status["status"] == "failed"
    assert status["errorDetails"][0] == {"errorCode": "400401", "reason": "invalid_image",
                                         "message": "Can not load image."}
    assert usage(app, key) == 0


@pytest.mark.parametrize("options, width, reason", [
    ({"output": {"mediaType": "image/webp"}}, 20_000, "invalid_format"),  # WebP: 16383 px a side
    ({"mode": "psd", "output": {"mediaType": "image/vnd.adobe.photoshop"}}, 40_000, "psd_unsupported"),
])
def test_an_output_its_format_cannot_hold_fails_as_unable_to_process_outputs(app, http, options, width,
                                                                             reason):
    """A panorama within the pixel limit, wider than the output format allows: the job fails
    with Adobe's 422404 ("unable to process outputs"), names the limit, and is refunded."""
    strip = np.full((2, width, 3), 240, np.uint8)
    strip[:, width // 3: 2 * width // 3] = (30, 60, 200)
    out = io.BytesIO()
    Image.fromarray(strip).save(out, "PNG")
    key = new_key(app, f"too-wide-{reason}")
    status, _ = run(http, key, options, out.getvalue())
    assert status["status"] == "failed"
    (detail,) = status["errorDetails"]
    assert (detail["errorCode"], detail["reason"]) == ("422404", reason), detail
    assert f"{width}x2" in detail["message"]
    assert usage(app, key) == 0


def test_validation_errors_answer_at_once_in_adobes_shape(http, key):
    answer = submit(http, key, {"mode": "cutout"})
    assert answer.status_code == 422
    assert answer.json()["error_code"] == "validation_error" and "errors" not in answer.json()
    assert "image.source.url is required" in answer.json()["message"]
    answer = submit(http, key, {"image": {"source": {"url": "ftp://x/y.jpg"}}, "mode": "cut",
                                "trim": "yes", "colorDecontamination": 2,
                                "backgroundColor": {"red": 300, "green": 0, "blue": 0}})
    assert answer.status_code == 422
    assert len(answer.json()["errors"]) == 5
    assert all(set(e) == {"error_code", "message"} for e in answer.json()["errors"])
    answer = submit(http, key, {"image": {"source": {"url": "https://example.com/a.jpg"}},
                                "mode": "cutout", "output": {"mediaType": "image/vnd.adobe.photoshop"}})
    assert answer.status_code == 422 and "mode psd" in answer.json()["message"]
    answer = http.post("/v2/remove-background", headers={"x-api-key": key,
                       "content-type": "application/json"}, content=b"{not json")
    assert answer.status_code == 400 and answer.json()["error_code"] == "invalid_json"
    answer = http.post("/v2/remove-background", headers={"x-api-key": key,
                       "content-type": "text/plain"}, content=b"hello")
    assert answer.status_code == 400 and answer.json()["error_code"] == "invalid_content_type"
    answer = submit(http, key, {}, upload=b"not an image at all")
    assert answer.status_code == 400 and answer.json()["error_code"] == "invalid_image"


def test_keys_are_checked_and_jobs_are_private_to_their_account(app, http, key, coffee_jpeg):
    body = {"image": {"source": {"url": "https://example.com/a.jpg"}}}
    answer = http.post("/v2/remove-background", json=body)
    assert answer.status_code == 401 and answer.json()["error_code"] == "unauthorized"
    answer = submit(http, "ck_not-a-key", body)
    assert answer.status_code == 403 and answer.json()["error_code"] == "unauthorized_forbidden"
    status, _ = run(http, key, {"output": {"mediaType": "image/png"}}, coffee_jpeg)
    other = new_key(app, "someone else")
    answer = http.get(f"/v2/status/{status['jobId']}", headers={"x-api-key": other})
    assert answer.status_code == 404 and answer.json()["error_code"] == "unknown_job_id"
    answer = http.get("/v2/status/no-such-job", headers={"x-api-key": key})
    assert answer.status_code == 404 and answer.json()["error_code"] == "unknown_job_id"


def test_over_the_rate_limit_is_429_at_once_and_over_the_quota_403(app, http, coffee_jpeg, same_minute):
    key = new_key(app, "slow plan", mp_per_minute=1)
    assert submit(http, key, {}, coffee_jpeg).status_code == 202
    answer = submit(http, key, {}, coffee_jpeg)
    assert answer.status_code == 429 and answer.json()["error_code"] == "rate_limited"
    assert int(answer.headers["retry-after"]) >= 1
    key = new_key(app, "tiny quota", monthly_credits=1)
    assert submit(http, key, {}, coffee_jpeg).status_code == 202
    answer = submit(http, key, {}, coffee_jpeg)
    assert answer.status_code == 403 and answer.json()["error_code"] == "unauthorized_forbidden"
    assert "Monthly credits" in answer.json()["message"]


def test_an_idempotency_key_returns_the_first_job_and_charges_once(app, http, coffee_jpeg):
    key = new_key(app, "retrying client")
    first = submit(http, key, {}, coffee_jpeg, headers={"Idempotency-Key": "order-1"})
    again = submit(http, key, {}, coffee_jpeg, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["jobId"] == again.json()["jobId"]
    # Each answer says what it charged (the spec requires the header on every 202).
    assert (first.headers["x-credits-charged"], again.headers["x-credits-charged"]) == ("1", "0")
    other = submit(http, key, {}, coffee_jpeg, headers={"Idempotency-Key": "order-2"})
    assert other.json()["jobId"] != first.json()["jobId"]
    wait(http, key, first.json()["statusUrl"])
    wait(http, key, other.json()["statusUrl"])
    assert usage(app, key) == 2


@pytest.fixture
def hooked(base_settings, segmenter, tmp_path):
    cfg = replace(base_settings, table="", data_dir=str(tmp_path), allow_anonymous=False,
                  fetch_allow_hosts=("127.0.0.1",), webhook_secret="whsec-test",
                  webhook_attempts=3, webhook_backoff=0.05)
    from cutout.web import create_app

    application = create_app(cfg, segmenter)
    yield application, TestClient(application), new_key(application)
    application.state.services.jobs.queue.close()


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_webhook_gets_the_signed_status_once_after_a_retry(hooked, coffee_jpeg):
    import hashlib
    import hmac

    _, http, key = hooked
    hooks = Hooks([503, 200])
    try:
        status, _ = run(http, key, {"callback": {"url": hooks.url},
                                    "output": {"mediaType": "image/png"}}, coffee_jpeg)
        wait_for(lambda: len(hooks.calls) >= 2)
        time.sleep(0.3)
        assert len(hooks.calls) == 2  # one failure retried, then delivered, then nothing more
        headers, body = hooks.calls[-1]
        sent = json.loads(body)
        assert sent["jobId"] == status["jobId"] and sent["status"] == "succeeded"
        assert sent["result"]["outputs"][0]["mediaType"] == "image/png"
        # the check the README shows a receiver
        fields = dict(part.split("=", 1) for part in headers["X-Cutout-Signature"].split(","))
        expected = hmac.new(b"whsec-test", f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(fields["v1"], expected)
        assert abs(time.time() - int(fields["t"])) < 60
    finally:
        hooks.close()


def test_a_webhook_target_that_stays_down_is_given_up_and_the_job_still_succeeds(hooked, coffee_jpeg):
    _, http, key = hooked
    hooks = Hooks([500])
    try:
        status, data = run(http, key, {"callback": {"url": hooks.url}}, coffee_jpeg)
        assert status["status"] == "succeeded" and data
        wait_for(lambda: len(hooks.calls) >= 3)
        time.sleep(0.5)
        assert len(hooks.calls) == 3  # CUTOUT_WEBHOOK_ATTEMPTS, then given up
    finally:
        hooks.close()


def test_a_callback_needs_a_signing_secret(http, key):
    answer = submit(http, key, {"image": {"source": {"url": "https://example.com/a.jpg"}},
                                "callback": {"url": "https://example.com/hook"}})
    assert answer.status_code == 422 and "CUTOUT_WEBHOOK_SECRET" in answer.json()["message"]


def test_the_openapi_spec_declares_the_adobe_routes(http):
    spec = http.get("/openapi.json").json()
    post = spec["paths"]["/v2/remove-background"]["post"]
    assert post["security"][0] == {"ApiKey": []}
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert post["requestBody"]["content"]["application/json"]["example"]["mode"] == "cutout"
    assert {"202", "400", "401", "403", "413", "422", "429", "503"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    get = spec["paths"]["/v2/status/{job_id}"]["get"]
    assert get["responses"]["404"]["content"]["application/json"]["example"]["error_code"] == "unknown_job_id"
    assert "201" in spec["paths"]["/v2/uploads"]["post"]["responses"]


def test_a_presigned_upload_then_a_job_that_names_it(app, http, key, coffee_jpeg):
    answer = http.post("/v2/uploads", headers={"x-api-key": key})
    assert answer.status_code == 201
    upload = answer.json()
    assert upload["method"] == "PUT" and upload["expiresIn"] > 0
    # the URL is the permission: no key, and a GET URL's signature does not let anyone PUT
    put = http.put(upload["uploadUrl"], content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    assert put.status_code == 200
    forged = upload["uploadUrl"].replace("signature=", "signature=0")
    assert http.put(forged, content=b"x").status_code == 403
    body = {"image": {"source": {"uploadId": upload["uploadId"]}}, "output": {"mediaType": "image/png"}}
    status, data = run(http, key, body)
    assert_subject_found(alpha_of(data), "coffee")
    # another account cannot use the id: its job finds nothing there
    other = new_key(app, "upload thief")
    status, _ = run(http, other, body)
    assert status["status"] == "failed"
    error = status["errorDetails"][0]
    assert (error["errorCode"], error["reason"]) == ("400401", "upload_not_found")
    assert "uploadId" in error["message"] and "jobs/uploads" not in error["message"]  # no storage key
    answer = submit(http, key, {"image": {"source": {"uploadId": "../../etc/passwd"}}})
    assert answer.status_code == 422


def test_an_upload_over_the_byte_limit_fails_its_job_unread(base_settings, segmenter, tmp_path):
    from cutout.web import create_app

    application = create_app(replace(base_settings, table="", data_dir=str(tmp_path),
                                     allow_anonymous=False, max_bytes=100_000), segmenter)
    try:
        http, key = TestClient(application), new_key(application)
        upload = http.post("/v2/uploads", headers={"x-api-key": key}).json()
        assert http.put(upload["uploadUrl"], content=b"\0" * 150_000).status_code == 200
        status, _ = run(http, key, {"image": {"source": {"uploadId": upload["uploadId"]}}})
        assert status["status"] == "failed"
        assert status["errorDetails"][0]["reason"] == "image_too_large"
        assert "150000 bytes exceeds 100000 bytes" in status["errorDetails"][0]["message"]
    finally:
        application.state.services.jobs.queue.close()


def test_an_uploaded_image_over_the_limits_is_a_400_in_adobes_shape(base_settings, segmenter, tmp_path,
                                                                  astronaut_jpeg):
    """Adobe's v2 spec answers a bad payload 400 (it has no 413); so do our docs and OpenAPI."""
    from cutout.web import create_app

    application = create_app(replace(base_settings, table="", data_dir=str(tmp_path),
                                     allow_anonymous=False, max_bytes=40_000, max_megapixels=0.1),
                             segmenter)
    try:
        http, key = TestClient(application), new_key(application)
        assert len(astronaut_jpeg) > 40_000
        answer = submit(http, key, upload=astronaut_jpeg)
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error_code": "image_too_large",
                                 "message": f"Image is too large: {len(astronaut_jpeg)} bytes "
                                            "exceeds 40000 bytes."}
        buffer = io.BytesIO()
        Image.new("RGB", (600, 400), (200, 200, 200)).save(buffer, "PNG")
        answer = submit(http, key, upload=buffer.getvalue())
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error_code": "image_too_large",
                                 "message": "Image is too large: 600x400 exceeds 0.1 megapixels."}
        assert http.get("/v1/account", headers={"x-api-key": key}).json()["usage"]["calls"] == 0
    finally:
        application.state.services.jobs.queue.close()


def test_psd_with_a_background_colour_and_trim(http, key, coffee_jpeg):
    from psd_tools import PSDImage

    body = {"mode": "psd", "trim": True,
            "backgroundColor": {"red": 10, "green": 200, "blue": 30, "alpha": 1}}
    _, data = run(http, key, body, coffee_jpeg)
    document = PSDImage.open(io.BytesIO(data))
    background, photo = list(document)
    assert background.name == "Background colour" and photo.name == "Photo" and photo.has_mask()
    assert document.size != (600, 400) and photo.size == document.size  # trimmed to the cup
    fill = np.asarray(background.topil().convert("RGBA"))
    assert (fill == (10, 200, 30, 255)).all()
    # the composite stored in the file is the photo through its mask over the fill
    composite = np.asarray(document.topil().convert("RGB")).astype(int)
    assert np.abs(composite[0, 0] - (10, 200, 30)).max() <= 2


def test_a_malformed_multipart_body_is_a_clear_400(http, key):
    answer = http.post("/v2/remove-background", content=b"--xyz\r\nnot a part",
                       headers={"x-api-key": key,
                                "content-type": "multipart/form-data; boundary=xyz"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "invalid_request"
    assert answer.json()["message"].startswith("Malformed request body")
    answer = http.post("/v2/remove-background", content=b"abc",
                       headers={"x-api-key": key, "content-type": "multipart/form-data"})
    assert answer.status_code == 400 and "boundary" in answer.json()["message"]


def test_fields_of_the_wrong_type_are_validation_errors_not_crashes(http, key):
    for body in ({"image": {"source": {"url": "https://example.com/a.jpg"}}, "mode": {"x": 1}},
                 {"image": {"source": {"url": "https://example.com/a.jpg"}}, "output": {"mediaType": ["a"]}},
                 {"image": {"source": {"url": 7}}, "callback": "https://example.com"},
                 {"image": "https://example.com/a.jpg"}, ["not", "an", "object"]):
        answer = submit(http, key, body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error_code"] == "validation_error"


def window_used(app, key: str, since: float) -> int:
    """Megapixels charged to the key's minute windows from `since` until now."""
    from cutout.accounts.keys import minute_of

    services = app.state.services
    account = services.accounts.authenticate(key)
    return sum(services.store.window(account.id, minute, account.shards).used
               for minute in range(minute_of(since), minute_of(time.time()) + 1))


def test_a_url_job_is_charged_its_real_megapixels_once_read(app, http, web_server, big_jpeg,
                                                            same_minute):
    web_server.routes["/big.jpg"] = Route(200, big_jpeg, {"Content-Type": "image/jpeg"})
    key = new_key(app, "url-weight", mp_per_minute=10)
    start = time.time()
    status, data = run(http, key, {"image": {"source": {"url": web_server.url("/big.jpg")}},
                                   "output": {"mediaType": "image/png"}})
    assert status["status"] == "succeeded", status
    assert Image.open(io.BytesIO(data)).size == (1600, 1600)
    assert window_used(app, key, start) == 3  # 1 at accept + 2 once the header was read
    report = http.get("/v1/account", headers={"x-api-key": key})
    assert report.status_code == 200
    assert report.json()["rate_limit"]["remaining"] == 10 - window_used(app, key, start)
    assert report.json()["usage"]["calls"] == 1 and report.json()["usage"]["credits"] == 1
    assert report.json()["usage"]["megapixels"] == pytest.approx(2.56)


def test_a_url_job_over_the_remaining_window_fails_and_leaves_nothing_charged(
        app, http, web_server, big_jpeg, same_minute):
    web_server.routes["/big2.jpg"] = Route(200, big_jpeg, {"Content-Type": "image/jpeg"})
    key = new_key(app, "url-over-window", mp_per_minute=2)  # room for 1 at accept, not for 3
    start = time.time()
    status, _ = run(http, key, {"image": {"source": {"url": web_server.url("/big2.jpg")}}})
    assert status["status"] == "failed" and "result" not in status
    (detail,) = status["errorDetails"]
    assert detail["errorCode"] == "429001" and detail["reason"] == "rate_limited"
    assert detail["message"].startswith("Rate limit exceeded at processing time")
    assert "3 megapixels" in detail["message"] and "2 megapixels a minute" in detail["message"]
    assert window_used(app, key, start) == 0
    assert usage(app, key) == 0


def test_a_presigned_upload_that_cannot_be_stored_is_a_503_with_retry_after(app, http, coffee_jpeg):
    """The local store's folder is unusable (here: a file where its folder must go)."""
    from urllib.parse import unquote, urlsplit

    key = new_key(app, "full disk")
    upload = http.post("/v2/uploads", headers={"x-api-key": key}).json()
    object_key = unquote(urlsplit(upload["uploadUrl"]).path.removeprefix("/v1/blobs/"))
    blocker = app.state.services.blobs.root / "objects" / object_key
    blocker.parent.parent.mkdir(parents=True, exist_ok=True)
    blocker.parent.write_bytes(b"not a folder")
    try:
        put = http.put(upload["uploadUrl"], content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    finally:
        blocker.parent.unlink()
    assert put.status_code == 503 and put.headers["retry-after"] == "5"
    assert "Could not store" in put.json()["detail"]
