"""Metering as a client sees it over HTTP: headers, 429, 402, refunds, outages, /v1/account."""
from __future__ import annotations

import io
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from PIL import Image

from cutout.engine import model, pipeline
from cutout.config import Settings
from cutout.errors import Unavailable
from cutout.metering import Meter
from cutout import services
from cutout.web import create_app, processing


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> bytes:
    """A small real photo (128 x 128): weighs 1 megapixel, costs 1 credit."""
    return jpeg(np.asarray(Image.fromarray(astronaut).resize((128, 128))))


@pytest.fixture(scope="module")
def big_photo(coffee: np.ndarray) -> bytes:
    """1200 x 1000 = 1.2 megapixels: weighs 2."""
    return jpeg(np.asarray(Image.fromarray(coffee).resize((1200, 1000))))


@pytest.fixture
def make_client(base_settings: Settings, segmenter, tmp_path: Path):
    def make(segmenter_=None, **overrides) -> TestClient:
        defaults = dict(data_dir=str(tmp_path / "data"), table="", allow_anonymous=False,
                        key_cache_seconds=0)
        return TestClient(create_app(replace(base_settings, **(defaults | overrides)),
                                     segmenter_ or segmenter))

    return make


def new_key(client: TestClient, plan: str = "pro", **kw) -> str:
    return client.app.state.services.accounts.create_key(plan, **kw)[0]


def cut(client: TestClient, data: bytes, key: str, mode: str = "fg-image"):
    return client.post("/v1/results", params={"mode": mode}, headers={"X-Api-Key": key},
                       files={"image": ("photo.jpg", data, "image/jpeg")})


def usage(client: TestClient, key: str) -> dict:
    response = client.get("/v1/account", headers={"X-Api-Key": key})
    assert response.status_code == 200, response.text
    return response.json()["usage"]


def ok(response) -> bool:
    return response.status_code == 200 and response.json()["results"][0]["status"]["code"] == "ok"


# --- success -----------------------------------------------------------------------------------


def test_a_success_carries_rate_limit_and_credit_headers(make_client, photo: bytes) -> None:
    client = make_client()
    key = new_key(client, "pro")
    before = time.time()
    response = cut(client, photo, key)
    assert ok(response)
    assert response.headers["X-RateLimit-Limit"] == "200"
    assert response.headers["X-RateLimit-Remaining"] == "199"
    reset = int(response.headers["X-RateLimit-Reset"])
    assert reset % 60 == 0 and before < reset <= before + 61
    assert response.headers["X-Credits-Charged"] == "1"
    assert usage(client, key) == {"month": time.strftime("%Y-%m", time.gmtime()), "calls": 1,
                                  "megapixels": 0.016384, "credits": 1.0,
                                  "credits_remaining": 9999.0}


def test_weight_is_the_megapixels_rounded_up(make_client, big_photo: bytes) -> None:
    client = make_client()
    key = new_key(client, "basic")
    response = cut(client, big_photo, key, mode="fg-mask")
    assert ok(response)
    assert response.headers["X-RateLimit-Remaining"] == str(100 - math.ceil(1.2))
    assert usage(client, key)["megapixels"] == 1.2


def test_account_reports_plan_limits_and_usage(make_client, photo: bytes, same_minute) -> None:
    client = make_client()
    key = new_key(client, "ultra", owner="fay", monthly_credits=10)
    cut(client, photo, key)
    response = client.get("/v1/account", headers={"X-Api-Key": key})
    body = response.json()
    assert body["plan"] == "ultra" and body["owner"] == "fay" and body["kind"] == "key"
    assert body["limits"] == {"megapixels_per_minute": 300, "monthly_credits": 10.0}
    assert body["rate_limit"]["limit"] == 300 and body["rate_limit"]["remaining"] == 299
    assert body["usage"]["calls"] == 1 and body["usage"]["credits_remaining"] == 9.0
    assert response.headers["X-RateLimit-Remaining"] == "299"
    assert "X-Credits-Charged" not in response.headers  # looking is free


# --- refusals ----------------------------------------------------------------------------------


def test_over_the_minute_limit_is_429_with_retry_after_and_not_charged(
    make_client, photo: bytes, same_minute
) -> None:
    client = make_client()
    key = new_key(client, "free", mp_per_minute=2)
    assert ok(cut(client, photo, key)) and ok(cut(client, photo, key))
    started = time.time()
    response = cut(client, photo, key)
    assert response.status_code == 429
    assert response.json()["detail"].startswith("Rate limit exceeded: 2 megapixels a minute.")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert int(response.headers["X-RateLimit-Reset"]) - started <= retry_after + 1
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Limit"] == "2"
    assert "X-Credits-Charged" not in response.headers
    assert usage(client, key)["calls"] == 2


def test_an_image_heavier_than_the_plan_allows_says_so(make_client, big_photo: bytes) -> None:
    client = make_client()
    key = new_key(client, "free", mp_per_minute=1)
    response = cut(client, big_photo, key)
    assert response.status_code == 429
    assert response.json()["detail"] == ("This image weighs 2 megapixels; the plan allows 1 megapixels a "
                                         "minute, so no minute can admit it: send a smaller image.")
    assert "Retry-After" not in response.headers  # waiting would not help: a client must not loop
    assert response.headers["X-RateLimit-Limit"] == "1"
    assert usage(client, key)["calls"] == 0


def test_an_exhausted_monthly_quota_is_402(make_client, photo: bytes, same_minute) -> None:
    client = make_client()
    key = new_key(client, "basic", monthly_credits=1)
    assert ok(cut(client, photo, key))
    response = cut(client, photo, key)
    assert response.status_code == 402
    assert response.json() == {"detail": "Monthly credits used up: 1 of 1 this month; "
                                         "this request needs 1."}
    assert response.headers["X-RateLimit-Remaining"] == "99"  # the refusal took nothing
    assert usage(client, key)["calls"] == 1


# --- never charged for bad input or our failures --------------------------------------------------


def test_bad_input_is_never_charged(make_client, photo: bytes, base_settings: Settings) -> None:
    client = make_client()
    key = new_key(client)
    not_an_image = client.post("/v1/results", headers={"X-Api-Key": key},
                               files={"image": ("x.jpg", b"this is not a photo", "image/jpeg")})
    assert not_an_image.status_code == 200
    assert not_an_image.json()["results"][0]["status"]["code"] == "failure"
    assert not_an_image.headers["X-RateLimit-Remaining"] == "200"  # headers on every response
    bad_mode = cut(client, photo, key, mode="fg-everything")
    assert bad_mode.status_code == 422 and bad_mode.headers["X-RateLimit-Limit"] == "200"
    small = make_client(max_megapixels=0.01)
    small_key = new_key(small)
    too_large = cut(small, photo, small_key)
    assert too_large.json()["results"][0]["status"]["code"] == "failure"
    assert "exceeds 0.01 megapixels" in too_large.json()["results"][0]["status"]["message"]
    assert usage(client, key)["calls"] == 0 and usage(small, small_key)["calls"] == 0


def test_pixels_that_fail_after_admission_are_refunded(make_client, photo: bytes) -> None:
    client = make_client()
    key = new_key(client)
    truncated = photo[: len(photo) // 2]  # the header reads fine; the pixels do not
    response = cut(client, truncated, key)
    assert response.status_code == 200
    assert response.json()["results"][0]["status"]["code"] == "failure"
    assert response.headers["X-Credits-Charged"] == "0"
    assert response.headers["X-RateLimit-Remaining"] == "200"
    assert usage(client, key) == {**usage(client, key), "calls": 0, "credits": 0.0,
                                  "megapixels": 0.0}


class ExhaustedSegmenter(model.Segmenter):
    """The real model, on a machine that has run out of memory."""

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        raise MemoryError("simulated: the model could not allocate its tensors")


def test_a_server_failure_after_admission_is_refunded(make_client, photo: bytes, segmenter) -> None:
    broken = ExhaustedSegmenter(segmenter.path, segmenter.spec, threads=1)
    client = make_client(broken)
    client_no_raise = TestClient(client.app, raise_server_exceptions=False)
    key = new_key(client)
    response = cut(client_no_raise, photo, key)
    assert response.status_code == 500
    assert usage(client, key)["calls"] == 0
    assert client.get("/v1/account", headers={"X-Api-Key": key}).json()["rate_limit"]["remaining"] == 200


class UnreachableModelSegmenter(model.Segmenter):
    """The real model behind an inference backend that refused the call: a service fault."""

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        raise Unavailable("The model is unavailable; please retry shortly.")


def test_a_service_fault_is_a_503_with_retry_after_not_a_failure_result(
        make_client, photo: bytes, segmenter) -> None:
    """API4AI: the image is fine, so no `failure` result; the caller is told to retry, not charged."""
    client = make_client(UnreachableModelSegmenter(segmenter.path, segmenter.spec, threads=1))
    key = new_key(client)
    response = cut(client, photo, key)
    assert response.status_code == 503
    assert response.json() == {"detail": "The model is unavailable; please retry shortly."}
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Credits-Charged"] == "0"
    assert usage(client, key)["calls"] == 0


class HeldSegmenter(model.Segmenter):
    """The real model, held inside its pass until the test lets it go."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(30)
        return super().predict(rgb)


def test_a_refused_request_does_not_wait_for_a_busy_cut_slot(
        make_client, photo: bytes, big_photo: bytes, segmenter) -> None:
    held = HeldSegmenter(segmenter.path, segmenter.spec, threads=1)
    client = make_client(held, max_concurrent_cuts=1)
    busy, limited = new_key(client), new_key(client, "free", mp_per_minute=1)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(cut, client, photo, busy)  # takes the only slot and holds it
        try:
            assert held.entered.wait(30)
            started = time.monotonic()
            refused = cut(client, big_photo, limited)  # weighs 2 MP against a 1 MP window
            waited = time.monotonic() - started
        finally:
            held.release.set()
        assert refused.status_code == 429
        assert waited < 10  # answered while the slot was still taken (the hold lasts up to 30 s)
        assert ok(first.result(30))
    assert usage(client, limited)["calls"] == 0 and usage(client, busy)["calls"] == 1


def test_the_app_builds_one_meter_for_every_request(
        make_client, photo: bytes, monkeypatch) -> None:
    built: list[Meter] = []

    class CountedMeter(Meter):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(services, "Meter", CountedMeter)
    client = make_client()
    key = new_key(client)
    assert ok(cut(client, photo, key)) and ok(cut(client, photo, key, mode="fg-mask"))
    assert len(built) == 1 and client.app.state.services.meter is built[0]
    assert usage(client, key)["calls"] == 2  # the one meter charged both


def test_any_route_that_fails_after_charging_is_refunded(make_client, photo: bytes) -> None:
    """A route whose own step fails after the cut (upload, encoding) still refunds."""
    client = make_client(allow_anonymous=True, anonymous_plan="basic")
    app = client.app

    @app.post("/test/raises-after-cut")
    async def raises_after_cut(request: Request) -> JSONResponse:
        await processing.cut(request, photo, pipeline.Options())
        raise RuntimeError("simulated: the result store is down")

    @app.post("/test/502-after-cut")
    async def bad_gateway_after_cut(request: Request) -> JSONResponse:
        await processing.cut(request, photo, pipeline.Options())
        return JSONResponse({"detail": "upstream failed"}, status_code=502)

    @app.post("/test/ok-after-cut")
    async def ok_after_cut(request: Request) -> JSONResponse:
        await processing.cut(request, photo, pipeline.Options())
        return JSONResponse({"detail": "done"})

    quiet = TestClient(app, raise_server_exceptions=False)
    assert quiet.post("/test/raises-after-cut").status_code == 500
    failed = quiet.post("/test/502-after-cut")
    assert failed.status_code == 502 and failed.headers["X-Credits-Charged"] == "0"
    assert client.get("/v1/account").json()["usage"]["calls"] == 0
    done = quiet.post("/test/ok-after-cut")  # metered as anonymous without the dependency
    assert done.headers["X-Credits-Charged"] == "1" and done.headers["X-RateLimit-Limit"] == "100"
    assert client.get("/v1/account").json()["usage"]["calls"] == 1


# --- the store goes away ---------------------------------------------------------------------------


def test_store_outage_is_503_with_retry_after_and_nothing_is_charged_twice(
    dynalite, dynamo_table: str, base_settings: Settings, segmenter, photo: bytes
) -> None:
    cfg = replace(base_settings, table=dynamo_table, allow_anonymous=False, key_cache_seconds=300,
                  store_timeout=1.0)
    closed = TestClient(create_app(cfg, segmenter))
    key = new_key(closed, "pro")
    open_ = TestClient(create_app(replace(cfg, limiter_fail_open=True), segmenter))
    assert ok(cut(closed, photo, key))
    assert usage(open_, key)["calls"] == 1  # also puts the key in open_'s cache

    with dynalite.stopped():
        started = time.monotonic()
        refused = cut(closed, photo, key)
        assert time.monotonic() - started < 10
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.json() == {"detail": "The rate limiter is unavailable; please retry shortly."}
        unknown = cut(closed, photo, "ck_never-seen-before")
        assert unknown.status_code == 503 and unknown.headers["Retry-After"] == "5"
        account = closed.get("/v1/account", headers={"X-Api-Key": key})
        assert account.status_code == 503

        admitted = cut(open_, photo, key)  # fail-open: served, unmetered
        assert ok(admitted)
        assert admitted.headers["X-Credits-Charged"] == "0"
        assert admitted.headers["X-RateLimit-Limit"] == "200"

    after = usage(closed, key)
    assert after["calls"] == 1 and after["credits"] == 1.0  # neither the 503s nor fail-open
    assert ok(cut(closed, photo, key))
    assert usage(closed, key)["calls"] == 2  # exactly one more: no stale double writes
