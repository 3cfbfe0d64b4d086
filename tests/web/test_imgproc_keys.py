"""Keys the IMG Processing SDK accepts (live_, and test_ sandbox keys from `cutout keys create
--sandbox`), older ck_ keys still working, and the dialect's OpenAPI declarations."""
from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from cutout.cli import main as cli
from cutout.accounts.keys import ACTIVE, digest_of, key_id_of
from cutout.config import settings
from cutout.stores import KeyRecord
from cutout.web import create_app


def test_cli_prints_live_and_sandbox_keys_that_the_service_accepts(
        base_settings, segmenter, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CUTOUT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUTOUT_SANDBOX_MP_PER_MINUTE", "7")
    printed = {}
    for flag in ("", "--sandbox"):
        settings.cache_clear()
        try:
            assert cli.main(["keys", "create", "--plan", "pro", *([flag] if flag else [])]) == 0
        finally:
            settings.cache_clear()
        out = capsys.readouterr().out
        printed[flag] = out.strip().splitlines()[-1]
        assert ("sandbox  at most 7 megapixels/minute" in out) == bool(flag)
        assert f"store    sqlite:{tmp_path}  (CUTOUT_TABLE unset: this machine's store" in out
    assert printed[""].startswith("live_") and printed["--sandbox"].startswith("test_")

    app = create_app(replace(base_settings, data_dir=str(tmp_path), table="",
                             allow_anonymous=False, sandbox_mp_per_minute=7), segmenter)
    accounts = app.state.services.accounts
    live, sandbox = accounts.authenticate(printed[""]), accounts.authenticate(printed["--sandbox"])
    assert (live.sandbox, live.mp_per_minute) == (False, 200)
    assert (sandbox.sandbox, sandbox.mp_per_minute) == (True, 7)

    old = "ck_" + "x" * 43  # a key made before live_/test_ prefixes
    accounts.store.put_key(KeyRecord(digest_of(old), key_id_of(digest_of(old)), "old", "pro",
                                     ACTIVE, "2026-01-01T00:00:00+00:00"))
    client = TestClient(app)
    listed = client.get("/v1/images", headers={"x-api-key": old})
    assert listed.status_code == 200 and listed.json() == {
        "data": [], "links": {"previous": None, "next": None}}


@pytest.fixture(scope="module")
def spec(client) -> dict:
    return client.get("/openapi.json").json()


def test_openapi_declares_every_route_with_the_x_api_key_scheme(spec) -> None:
    """IMG Processing's `x-api-key` is the shared ApiKey scheme (header names are
    case-insensitive), first in every stored-images route's security."""
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["in"], scheme["name"].lower()) == ("header", "x-api-key")
    paths = spec["paths"]
    expected = {("/v1/images/upload", "post"), ("/v1/images", "post"), ("/v1/images", "get"),
                ("/v1/images/{image_id}", "get"), ("/v1/images/{image_id}", "delete"),
                ("/v1/images/{image_id}/download", "get"),
                ("/v1/images/{image_id}/publish", "post"),
                ("/v1/images/{image_id}/unpublish", "post")}
    expected |= {(f"/v1/images/{{image_id}}/{op}", "post") for op in (
        "remove-background", "convert", "resize", "crop", "rotate", "mirror", "blur", "modulate",
        "watermark")}
    for path, method in expected:
        operation = paths[path][method]
        assert operation["security"][0] == {"ApiKey": []}, (path, method)
        if method == "post" and path != "/v1/images/upload" and "publish" not in path:
            body = operation["requestBody"]["content"]["application/json"]
            assert body["example"] and body["schema"]["type"] == "object", path
        answer = operation["responses"]["201" if method == "post" and "publish" not in path
                                        else "204" if method == "delete" else "200"]
        assert answer["description"], path
    created = paths["/v1/images/{image_id}/convert"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["example"]["id"].startswith("image_")
    assert "X-Image-Processing-Usage" in created["headers"]
    resize = paths["/v1/images/{image_id}/resize"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    assert resize["fit"]["enum"] == ["fill", "contain", "cover"] and resize["fit"]["default"] == "fill"
    assert paths["/v1/images/{image_id}"]["get"]["responses"]["404"]["content"][
        "application/json"]["example"]["type"] == "https://docs.img-processing.com/errors/not-found"
