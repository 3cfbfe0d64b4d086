"""Who may call: API keys (both headers), anonymous use, the RapidAPI proxy, and the CLI's keys."""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from PIL import Image

from conftest import run_cli
from cutout.config import Settings, settings
from cutout.web import create_app

SECRET = "proxy-secret-8c1f0d"


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> bytes:
    """A small real photo: the astronaut's head and shoulders, 128 x 128."""
    out = io.BytesIO()
    Image.fromarray(astronaut[40:296, 128:384]).resize((128, 128)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def make_client(base_settings: Settings, segmenter, tmp_path: Path):
    """A client for an app with its own empty store; keys required unless overridden."""

    def make(**overrides) -> TestClient:
        cfg = replace(base_settings, data_dir=str(tmp_path / "data"), table="",
                      allow_anonymous=False, anonymous_plan="free", key_cache_seconds=0,
                      rapidapi_proxy_secret="", rapidapi_proxy_secret_id="")
        return TestClient(create_app(replace(cfg, **overrides), segmenter))

    return make


def new_key(client: TestClient, plan: str = "pro", **kw) -> tuple[str, str]:
    """(key, key id) made by the app's own account service."""
    api_key, record = client.app.state.services.accounts.create_key(plan, **kw)
    return api_key, record.key_id


def cut(client: TestClient, photo: bytes, **headers: str):
    return client.post("/v1/results", headers=headers,
                       files={"image": ("photo.jpg", photo, "image/jpeg")})


# --- API keys -------------------------------------------------------------------------------


def test_no_key_is_401_with_a_clear_message(make_client, photo: bytes) -> None:
    client = make_client()
    for response in (cut(client, photo), client.get("/v1/account")):
        assert response.status_code == 401
        assert response.json() == {"detail": "Missing API key: send it in the X-Api-Key header."}
        assert "X-RateLimit-Limit" not in response.headers


def test_unknown_and_revoked_keys_are_403(make_client, photo: bytes) -> None:
    client = make_client()
    api_key, key_id = new_key(client)
    response = cut(client, photo, **{"X-Api-Key": "ck_not-a-real-key"})
    assert response.status_code == 403 and response.json() == {"detail": "Invalid API key."}
    assert cut(client, photo, **{"X-Api-Key": api_key}).status_code == 200
    client.app.state.services.accounts.revoke(key_id)
    response = cut(client, photo, **{"X-Api-Key": api_key})
    assert response.status_code == 403
    assert response.json() == {"detail": "This API key has been revoked."}


def test_both_key_headers_name_the_same_account(make_client, photo: bytes) -> None:
    client = make_client()
    api_key, key_id = new_key(client, "basic", owner="dana")
    by_removebg_header = client.get("/v1/account", headers={"X-Api-Key": api_key})
    by_azure_header = client.get("/v1/account", headers={"Ocp-Apim-Subscription-Key": api_key})
    for response in (by_removebg_header, by_azure_header):
        assert response.status_code == 200
        body = response.json()
        assert (body["account"], body["plan"], body["owner"]) == (key_id, "basic", "dana")
    response = cut(client, photo, **{"Ocp-Apim-Subscription-Key": api_key})
    assert response.status_code == 200
    assert response.json()["results"][0]["status"]["code"] == "ok"


def test_anonymous_use_is_off_by_default_and_metered_on_the_free_plan_when_on(
    make_client, photo: bytes
) -> None:
    assert Settings().allow_anonymous is False
    client = make_client(allow_anonymous=True)
    response = cut(client, photo)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "50"  # the free plan's megapixels a minute
    assert response.headers["X-Credits-Charged"] == "1"
    body = client.get("/v1/account").json()
    assert (body["account"], body["kind"], body["plan"]) == ("anonymous", "anonymous", "free")
    assert body["usage"]["calls"] == 1 and body["usage"]["credits_remaining"] == 49
    # a wrong key is refused, never quietly treated as anonymous
    assert cut(client, photo, **{"X-Api-Key": "ck_wrong"}).status_code == 403


def test_the_environment_switches_anonymous_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOUT_ALLOW_ANONYMOUS", "1")
    monkeypatch.setenv("CUTOUT_ANONYMOUS_PLAN", "basic")
    settings.cache_clear()
    try:
        assert (settings().allow_anonymous, settings().anonymous_plan) == (True, "basic")
        monkeypatch.setenv("CUTOUT_ALLOW_ANONYMOUS", "0")
        settings.cache_clear()
        assert settings().allow_anonymous is False
    finally:
        monkeypatch.undo()
        settings.cache_clear()


def test_a_dialect_renders_refusals_in_its_own_shape_and_reads_its_own_key_header(make_client) -> None:
    """A new dialect is a `Dialect` and its routers: its routes only raise; its render shapes it."""
    from fastapi.responses import JSONResponse

    from cutout.web.auth import authenticate
    from cutout.web.dialect import Dialect

    def render(exc):
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=418)

    sixth = Dialect("sixth", key="sixth", render=render, too_large=lambda message: {"oops": message},
                    key_headers=("x-sixth-key",))
    router = sixth.router(prefix="/sixth")

    @router.get("/whoami")
    async def whoami(request: Request) -> dict:
        return {"account": (await authenticate(request)).account.id}

    client = make_client()
    client.app.include_router(router)
    response = client.get("/sixth/whoami")
    assert response.status_code == 418
    assert response.json() == {"error": {"code": "missing_api_key",
                                         "message": "Missing API key: send it in the X-Api-Key header."}}
    key, key_id = new_key(client, "pro")
    assert client.get("/sixth/whoami", headers={"X-Api-Key": key}).status_code == 418  # not its header
    found = client.get("/sixth/whoami", headers={"X-Sixth-Key": key})
    assert found.status_code == 200 and found.json() == {"account": key_id}


# --- RapidAPI ---------------------------------------------------------------------------------


def rapid(secret: str | None, user: str = "alice", subscription: str = "PRO") -> dict[str, str]:
    headers = {"X-RapidAPI-User": user, "X-RapidAPI-Subscription": subscription,
               "X-RapidAPI-Key": "consumer-key-from-rapidapi"}
    if secret is not None:
        headers["X-RapidAPI-Proxy-Secret"] = secret
    return headers


@pytest.mark.parametrize("subscription, plan, limit", [
    ("BASIC", "basic", 100), ("PRO", "pro", 200), ("ULTRA", "ultra", 300), ("MEGA", "mega", 500),
    ("mega", "mega", 500),
])
def test_rapidapi_plans_follow_the_subscription(make_client, subscription: str, plan: str,
                                                limit: int) -> None:
    client = make_client(rapidapi_proxy_secret=SECRET)
    response = client.get("/v1/account", headers=rapid(SECRET, "alice", subscription))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["account"], body["kind"], body["plan"]) == ("rapidapi:alice", "rapidapi", plan)
    assert body["limits"]["megapixels_per_minute"] == limit
    assert response.headers["X-RateLimit-Limit"] == str(limit)


def test_rapidapi_right_secret_is_metered_per_user(make_client, photo: bytes) -> None:
    client = make_client(rapidapi_proxy_secret=SECRET)
    assert cut(client, photo, **rapid(SECRET, "bob")).status_code == 200
    assert client.get("/v1/account", headers=rapid(SECRET, "bob")).json()["usage"]["calls"] == 1
    assert client.get("/v1/account", headers=rapid(SECRET, "carl")).json()["usage"]["calls"] == 0


def test_rapidapi_wrong_secret_is_403(make_client, photo: bytes) -> None:
    client = make_client(rapidapi_proxy_secret=SECRET, allow_anonymous=True)
    for wrong in ("nope", SECRET + "x", SECRET[:-1], ""):
        response = cut(client, photo, **rapid(wrong))
        assert response.status_code == 403
        assert response.json() == {"detail": "Invalid X-RapidAPI-Proxy-Secret."}


def test_rapidapi_headers_without_the_secret_grant_nothing(make_client) -> None:
    client = make_client(rapidapi_proxy_secret=SECRET)
    response = client.get("/v1/account", headers=rapid(None))
    assert response.status_code == 401  # treated as a plain request without a key
    # with anonymous use on, they get the anonymous account, not alice's plan
    client = make_client(rapidapi_proxy_secret=SECRET, allow_anonymous=True)
    assert client.get("/v1/account", headers=rapid(None)).json()["account"] == "anonymous"


def test_rapidapi_headers_are_ignored_when_no_secret_is_configured(make_client) -> None:
    client = make_client()
    response = client.get("/v1/account", headers=rapid("anything"))
    assert response.status_code == 401


def test_rapidapi_unknown_subscription_or_missing_user_is_403(make_client) -> None:
    client = make_client(rapidapi_proxy_secret=SECRET)
    response = client.get("/v1/account", headers=rapid(SECRET, "alice", "PLATINUM"))
    assert response.status_code == 403
    assert response.json() == {"detail": "Unknown RapidAPI subscription 'PLATINUM'."}
    response = client.get("/v1/account", headers=rapid(SECRET, "", "PRO"))
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing X-RapidAPI-User header."}


def test_rapidapi_secret_can_come_from_secrets_manager(make_client, moto_server: str) -> None:
    name = "cutout/rapidapi-proxy-secret"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=SECRET)
    client = make_client(rapidapi_proxy_secret_id=name)
    assert client.get("/v1/account", headers=rapid(SECRET)).status_code == 200
    assert client.get("/v1/account", headers=rapid("wrong")).status_code == 403
    missing = make_client(rapidapi_proxy_secret_id="cutout/no-such-secret")
    response = missing.get("/v1/account", headers=rapid(SECRET))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_plans_file_overrides_the_defaults(make_client, tmp_path: Path) -> None:
    plans = tmp_path / "plans.json"
    plans.write_text('{"plans": {"pro": {"mp_per_minute": 77, "monthly_credits": 5}},'
                     ' "rapidapi": {"PRO": "pro"}}')
    client = make_client(plans_file=str(plans), rapidapi_proxy_secret=SECRET)
    body = client.get("/v1/account", headers=rapid(SECRET)).json()
    assert body["limits"] == {"megapixels_per_minute": 77, "monthly_credits": 5.0}


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_manages_keys_in_dynamodb(
    dynalite, base_settings: Settings, segmenter, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture, photo: bytes, same_minute,
) -> None:
    table = "cutout-cli-keys"
    monkeypatch.setenv("CUTOUT_TABLE", table)
    code, out, _ = run_cli(capsys, "table", "create")
    assert code == 0 and f"Created table {table}." in out
    code, out, _ = run_cli(capsys, "table", "create")
    assert code == 0 and "already exists" in out

    code, out, _ = run_cli(capsys, "keys", "create", "--plan", "basic", "--owner", "erin",
                           "--mp-per-minute", "3", "--monthly-credits", "2")
    assert code == 0
    lines = out.strip().splitlines()
    api_key = lines[-1]
    assert api_key.startswith("live_") and " " not in api_key
    key_id = lines[0].split()[-1]
    assert "3 megapixels/minute, 2 credits/month" in out
    assert f"store    dynamodb:{table}\n" in out  # where the key went

    code, out, _ = run_cli(capsys, "keys", "list")
    assert code == 0 and key_id in out and "erin" in out and "basic" in out
    assert api_key not in out
    code, made, _ = run_cli(capsys, "keys", "create", "--plan", "mega", "--sandbox",
                            "--owner", "sandy")
    sandbox_id = made.strip().splitlines()[0].split()[-1]
    code, out, _ = run_cli(capsys, "keys", "list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows[sandbox_id][2:5] == ["sandbox", "mega", "10"]  # the sandbox's real MP/min
    assert rows[key_id][2:5] == ["live", "basic", "3"]

    cfg = replace(base_settings, table=table, allow_anonymous=False, key_cache_seconds=0)
    client = TestClient(create_app(cfg, segmenter))
    response = cut(client, photo, **{"X-Api-Key": api_key})
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "3"

    code, out, _ = run_cli(capsys, "keys", "usage", key_id)
    assert code == 0
    assert "calls       1" in out and "credits     1 of 2" in out and "this minute 1 of 3" in out

    code, out, _ = run_cli(capsys, "keys", "revoke", key_id)
    assert code == 0 and "Revoked key" in out
    assert cut(client, photo, **{"X-Api-Key": api_key}).status_code == 403

    code, _, err = run_cli(capsys, "keys", "revoke", "0000000000000000")
    assert code == 1 and "No key with id" in err
    code, _, err = run_cli(capsys, "keys", "create", "--plan", "platinum")
    assert code == 2 and "Unknown plan 'platinum'" in err


def test_cli_table_create_explains_sqlite(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CUTOUT_TABLE", "")
    code, _, err = run_cli(capsys, "table", "create")
    assert code == 2 and "CUTOUT_TABLE is not set" in err


def test_cli_reports_an_unreachable_store(dynalite, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CUTOUT_TABLE", "cutout-never-created")
    code, _, err = run_cli(capsys, "keys", "list")
    assert code == 1 and "run `cutout table create`" in err
