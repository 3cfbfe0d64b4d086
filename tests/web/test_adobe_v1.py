"""Adobe Photoshop API v1 (`/sensei/cutout`, `/sensei/mask`, `/sensei/status`) as its clients call it.

The first tests run Adobe's own SDK (`@adobe/photoshop-apis` 2.0.1, installed from npm by
`make install`) in Node against the app under `cutout serve`'s server (real sockets):
its bodies, headers, the 202's `_links`, its polling. Input and output are presigned-style
URLs of a real HTTP server on 127.0.0.1 (allow-listed, as a private deployment would):
the job GETs the input and PUTs the result to the output URL, its query kept byte for
byte. The rest replay requests from Python: a doc sample's form content type, refusals,
an output URL that refuses the PUT, charges and refunds.
"""
from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import keyed_app, new_key
from local_http import AppServer, Route
from photos import assert_subject_found

SDK_SCRIPT = Path(__file__).parent / "sdks" / "adobe_v1.cjs"
SIGNED = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261207%2Fus-east-1%2Fs3&X-Amz-Signature=ab%2Bcd"


@pytest.fixture(scope="module")
def app(base_settings, segmenter, tmp_path_factory):
    application = keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("v1")))
    yield application
    application.state.services.jobs.queue.close()


@pytest.fixture(scope="module")
def server(app, base_settings):
    """The app behind `cutout serve`'s uvicorn configuration (httptools, deadlines)."""
    served = AppServer(app, base_settings)
    yield served.url
    served.close()


@pytest.fixture(scope="module")
def http(app) -> TestClient:
    return TestClient(app)


def usage(app, key: str) -> float:
    from cutout.accounts.keys import month_of

    account = app.state.services.accounts.authenticate(key)
    return app.state.services.store.usage(account.id, month_of(time.time()),
                                            account.shards).credits


def sdk(base: str, token: str, calls: list[dict]) -> list[dict]:
    """Run the calls through Adobe's SDK in Node; one outcome per call (see the script)."""
    sent = json.dumps({"base": base, "token": token, "clientId": "my-adobe-client-id",
                       "calls": calls})
    done = subprocess.run(["node", str(SDK_SCRIPT)], input=sent, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def body(web_server, source: str, output: str, **extra) -> dict:
    return {"input": {"href": web_server.url(source + SIGNED), "storage": "external"},
            "output": {"href": web_server.url(output + SIGNED), "storage": "external", **extra}}


def put_to(web_server, path: str) -> tuple[dict, bytes]:
    (found,) = [(headers, data) for sent, headers, data in web_server.puts
                if sent == path + SIGNED]  # the presigned query exactly as given
    return found


def test_adobes_sdk_removes_the_background_and_makes_a_mask(server, app, web_server,
                                                             astronaut_jpeg):
    web_server.routes["/in/astronaut.jpg"] = Route(body=astronaut_jpeg,
                                                   headers={"Content-Type": "image/jpeg"})
    key = new_key(app, "adobe-sdk")
    cutout, soft, binary = sdk(server, key, [
        {"method": "removeBackground", "body": body(web_server, "/in/astronaut.jpg", "/out/cut.png")},
        {"method": "createMask", "body": body(web_server, "/in/astronaut.jpg", "/out/soft.png",
                                              mask={"format": "soft"})},
        {"method": "createMask", "body": body(web_server, "/in/astronaut.jpg", "/out/hard.png",
                                              mask={"format": "binary"})},
    ])
    assert cutout["ok"] and soft["ok"] and binary["ok"], (cutout, soft, binary)
    status = cutout["result"]
    assert status["status"] == "succeeded" and status["output"]["status"] == "succeeded"
    assert status["_links"]["self"]["href"] == f"{server}/sensei/status/{status['jobId']}"
    assert status["outputs"][0]["_links"]["self"]["href"] == web_server.url("/out/cut.png" + SIGNED)
    headers, data = put_to(web_server, "/out/cut.png")
    assert headers["Content-Type"] == "image/png" and int(headers["Content-Length"]) == len(data)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGBA" and image.size == (512, 512)
    assert_subject_found(np.asarray(image.getchannel("A")), "astronaut")
    soft_mask = np.asarray(Image.open(io.BytesIO(put_to(web_server, "/out/soft.png")[1])))
    hard_mask = np.asarray(Image.open(io.BytesIO(put_to(web_server, "/out/hard.png")[1])))
    assert soft_mask.ndim == 2 and hard_mask.ndim == 2
    assert_subject_found(soft_mask, "astronaut")
    assert len(np.unique(soft_mask)) > 2 and set(np.unique(hard_mask)) == {0, 255}
    assert np.array_equal(hard_mask, np.where(soft_mask >= 128, 255, 0))
    assert soft["result"]["output"]["mask"] == {"format": "soft"}
    assert usage(app, key) == 3  # one credit a job, settled when each succeeded


def test_the_sdk_hears_a_refused_body_and_a_failed_job(server, app, web_server, astronaut_jpeg):
    web_server.routes["/in/astronaut.jpg"] = Route(body=astronaut_jpeg)
    key = new_key(app, "adobe-sdk-failures")
    web_server.put_status = 403  # an expired presigned PUT URL
    try:
        refused, failed = sdk(server, key, [
            {"method": "removeBackground", "body": {"input": {"href": "s3://bucket/in.jpg",
                                                              "storage": "adobe"},
                                                    "output": {"storage": "external"}}},
            {"method": "removeBackground", "body": body(web_server, "/in/astronaut.jpg",
                                                        "/out/denied.png")},
        ])
    finally:
        web_server.put_status = 200
    assert not refused["ok"] and refused["status"] == 400
    assert refused["body"]["type"] == "InputValidationError"
    assert {d["name"] for d in refused["body"]["details"]} == {"input.storage", "input.href",
                                                               "output.href"}
    assert not failed["ok"] and failed["body"]["status"] == "failed", failed
    assert failed["body"]["errors"]["code"] == "422404"
    assert "HTTP 403" in failed["body"]["errors"]["title"]
    assert usage(app, key) == 0  # refused before any charge; the failed job refunded


def test_adobes_form_content_type_sample_and_the_status_of_a_job(http, app, web_server,
                                                                  coffee_jpeg):
    """Adobe's curl sample sends JSON as application/x-www-form-urlencoded; the status
    document has v1's fields, and a job of another account is not found."""
    web_server.routes["/in/coffee.jpg"] = Route(body=coffee_jpeg)
    key = new_key(app, "adobe-curl")
    answer = http.post("/sensei/cutout", content=json.dumps(body(
        web_server, "/in/coffee.jpg", "/out/coffee.jpg", type="image/jpeg")),
        headers={"Authorization": f"Bearer {key}", "x-api-key": "client-id",
                 "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 202, answer.text
    assert answer.headers["x-credits-charged"] == "1"
    href = answer.json()["_links"]["self"]["href"]
    deadline = time.monotonic() + 60
    while (status := http.get(href, headers={"Authorization": f"Bearer {key}"}).json())["status"] \
            not in ("succeeded", "failed"):
        assert status["status"] in ("pending", "running") and time.monotonic() < deadline
        time.sleep(0.1)
    assert status["status"] == "succeeded", status
    assert set(status) >= {"jobId", "created", "modified", "status", "input", "output", "_links"}
    assert status["input"] == web_server.url("/in/coffee.jpg" + SIGNED)
    assert status["output"]["type"] == "image/jpeg"
    assert Image.open(io.BytesIO(put_to(web_server, "/out/coffee.jpg")[1])).format == "JPEG"
    other = new_key(app, "someone else")
    missing = http.get(href, headers={"Authorization": f"Bearer {other}"})
    assert missing.status_code == 404
    assert missing.json()["type"] == "FileNotFound" and missing.json()["code"] == "404"


@pytest.mark.parametrize("sent, name", [
    (b"not json", "body"),
    (json.dumps({"input": {"href": "https://a.example/x.jpg"}, "output": {
        "href": "https://a.example/y.png", "storage": "dropbox"}}).encode(), "output.storage"),
    (json.dumps({"input": {"href": "https://a.example/x.jpg"}, "output": {
        "href": "https://a.example/y.png", "type": "image/gif"}}).encode(), "output.type"),
    (json.dumps({"input": {"href": "https://a.example/x.jpg"}, "output": {
        "href": "https://a.example/y.png", "color": {"space": "cmyk"}}}).encode(), "output.color.space"),
])
def test_refusals_name_the_field_and_charge_nothing(http, app, sent, name):
    key = new_key(app, f"v1-refusal-{name}")
    answer = http.post("/sensei/mask", content=sent, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert answer.status_code == 400
    refusal = answer.json()
    assert refusal["type"] == "InputValidationError" and refusal["code"] == "400"
    assert name in [d["name"] for d in refusal["details"]]
    assert usage(app, key) == 0


def test_keys_are_checked_as_for_v2(http):
    answer = http.post("/sensei/cutout", json={}, headers={"x-api-key": "client-id-only"})
    assert answer.status_code == 403 and answer.json()["type"] == "Unauthorized"
    answer = http.get("/sensei/status/3f0c2b8e-5a1d-4c8e-9f4b-2d7e6a1c0b9f")
    assert answer.status_code == 401 and answer.json()["type"] == "Unauthorized"
