"""Numbers a client or a source server writes are read as ASCII digits (issue 23, item 13).

`'²'.isdigit()` is true and `int('²')` a ValueError: a source server answering
`Content-Length: ²` was a 500 on every URL route and an `internal_error` job, and
a `take=²` query a 500. Through a live server, each route now treats the
header as what it is (not a number: the body is read, still bounded) and the
query as a bad parameter; a form field's number in Arabic-Indic or
full-width digits (which `float()` and re's digit class took) is refused like any
other malformed number.
"""
from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest

from conftest import new_key
from local_http import AppServer, Route

ODD = "²"  # Latin-1 0xB2: what http.client decodes the header byte to


@pytest.fixture(scope="module")
def live(base_settings, segmenter, tmp_path_factory):
    from cutout.web import create_app

    cfg = replace(base_settings, table="", bucket="", allow_anonymous=False, key_cache_seconds=0,
                  data_dir=str(tmp_path_factory.mktemp("peer-numbers")),
                  fetch_allow_hosts=("127.0.0.1",))
    app = create_app(cfg, segmenter)
    server = AppServer(app)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield app, http
    server.close()


@pytest.fixture
def odd_source(web_server, coffee_jpeg) -> str:
    web_server.routes["/coffee.jpg"] = Route(body=coffee_jpeg, headers={
        "Content-Type": "image/jpeg", "Content-Length": ODD})
    return web_server.url("/coffee.jpg")


def test_every_url_route_reads_a_source_whose_content_length_is_not_a_number(live, odd_source):
    app, http = live
    key = new_key(app)
    keyed = {"x-api-key": key}
    api4ai = http.post("/v1/results", headers=keyed, data={"url": odd_source})
    assert api4ai.status_code == 200, api4ai.text
    assert api4ai.json()["results"][0]["status"]["code"] == "ok"
    removebg = http.post("/v1.0/removebg", headers=keyed, data={"image_url": odd_source,
                                                                "size": "full"})
    assert removebg.status_code == 200, removebg.text
    assert removebg.headers["content-type"] == "image/png"
    azure = http.post("/computervision/imageanalysis:segment", json={"url": odd_source},
                      params={"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"},
                      headers={"Ocp-Apim-Subscription-Key": key})
    assert azure.status_code == 200, azure.text
    created = http.post("/v1/images", headers=keyed, json={"name": "coffee", "url": odd_source})
    assert created.status_code == 201, created.text
    assert (created.json()["width"], created.json()["height"]) == (600, 400)


def test_a_job_whose_source_has_such_a_content_length_succeeds(live, odd_source):
    app, http = live
    key = new_key(app)
    accepted = http.post("/v2/remove-background", headers={"x-api-key": key},
                         json={"image": {"source": {"url": odd_source}}})
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 90
    while (status := http.get(accepted.json()["statusUrl"], headers={"x-api-key": key}).json()
           )["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "succeeded", status


@pytest.mark.parametrize("take", [ODD, "٣", "３", "1_0", "+5"])
def test_a_take_that_is_not_ascii_digits_is_refused_as_a_bad_parameter(live, take):
    app, http = live
    answer = http.get("/v1/images", params={"take": take}, headers={"x-api-key": new_key(app)})
    assert answer.status_code == 422, answer.text  # IMG Processing's validation error
    assert answer.json()["errors"] == ["take: must be an integer from 1 to 100"]


@pytest.mark.parametrize("field, value, code", [
    ("shadow_opacity", "٥٠", "invalid_shadow_opacity"),  # Arabic-Indic 50
    ("scale", "５０%", "invalid_scale"),  # full-width 50
    ("roi", "٠% ٠% ١٠٠% ١٠٠%", "invalid_roi"),
])
def test_form_numbers_in_other_digits_are_refused(live, coffee_jpeg, field, value, code):
    app, http = live
    answer = http.post("/v1.0/removebg", headers={"x-api-key": new_key(app)},
                       data={"size": "full", "bg_color": "white", "shadow_type": "drop", field: value},
                       files={"image_file": ("c.jpg", coffee_jpeg, "image/jpeg")})
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["code"] == code
