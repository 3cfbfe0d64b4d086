"""GET /health and GET /ready: no key, not metered, and /ready follows the store."""
from __future__ import annotations

import time
from dataclasses import replace

from fastapi.testclient import TestClient

from cutout.web import create_app


def test_health_and_ready_need_no_key_and_are_not_metered(base_settings, segmenter, tmp_path) -> None:
    cfg = replace(base_settings, data_dir=str(tmp_path), allow_anonymous=False)
    client = TestClient(create_app(cfg, segmenter))
    health = client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"model": "ok", "store": "ok"},
                            "model": segmenter.spec.name}
    for response in (health, ready):
        assert not any(h.lower().startswith("x-ratelimit") for h in response.headers)
        assert "X-Credits-Charged" not in response.headers
    # A metered route on the same app still demands a key: the probes are the exception.
    assert client.get("/v1/account").status_code == 401


def test_ready_is_503_while_dynamodb_is_down_and_recovers(
    dynalite, dynamo_table: str, base_settings, segmenter
) -> None:
    cfg = replace(base_settings, table=dynamo_table, allow_anonymous=False, store_timeout=1.0)
    client = TestClient(create_app(cfg, segmenter))
    assert client.get("/ready").status_code == 200
    with dynalite.stopped():
        started = time.monotonic()
        down = client.get("/ready")
        assert time.monotonic() - started < 10  # a balancer's probe gets an answer in time
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "5"
        assert down.json() == {"status": "not ready",
                               "checks": {"model": "ok", "store": "unavailable"},
                               "model": segmenter.spec.name}
        assert client.get("/health").status_code == 200  # the process itself is fine
    assert client.get("/ready").status_code == 200
