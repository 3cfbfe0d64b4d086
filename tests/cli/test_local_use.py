"""A local server does not meter its owner dry, and every metered account's usage is readable."""
from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cutout.accounts.keys import Account
from cutout.accounts.plans import load_plans
from cutout.accounts.ratelimit import QuotaExceeded, RateLimited
from conftest import run_cli
from cutout.config import settings
from cutout.web import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_serves_anonymous_requests_on_the_unlimited_plan() -> None:
    done = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    command = next(line for line in done.stdout.splitlines() if "cutout serve" in line)
    assert "CUTOUT_ALLOW_ANONYMOUS=${CUTOUT_ALLOW_ANONYMOUS:-1}" in command
    assert "CUTOUT_ANONYMOUS_PLAN=${CUTOUT_ANONYMOUS_PLAN:-unlimited}" in command
    plan = load_plans().get("unlimited")
    assert plan.monthly_credits is None and plan.mp_per_minute >= 1_000_000


def test_the_unlimited_plan_is_never_refused_where_free_is(base_settings, segmenter, tmp_path,
                                                          coffee_jpeg) -> None:
    cfg = replace(base_settings, data_dir=str(tmp_path), allow_anonymous=True,
                  anonymous_plan="unlimited")
    app = create_app(cfg, segmenter)
    limiter, anonymous = app.state.services.limiter, app.state.access.anonymous
    free = load_plans().get("free")
    tight = Account("free-local", "anonymous", "free", free.mp_per_minute, free.monthly_credits)
    with pytest.raises(QuotaExceeded):
        limiter.admit(tight, megapixels=1, credits=free.monthly_credits + 1)
    with pytest.raises(RateLimited):
        limiter.admit(tight, megapixels=free.mp_per_minute + 1, credits=0)
    # A month of a busy shop's photos, then a minute of a folder of 12 MP ones: admitted.
    limiter.admit(anonymous, megapixels=1, credits=100_000)
    for _ in range(20):
        limiter.admit(anonymous, megapixels=12, credits=1)
    client = TestClient(app)
    response = client.post("/v1.0/removebg", files={"image_file": ("c.jpg", coffee_jpeg, "image/jpeg")})
    assert response.status_code == 200
    report = client.get("/v1/account").json()
    assert report["plan"] == "unlimited" and report["usage"]["credits_remaining"] is None
    assert report["usage"]["calls"] == 22


def test_keys_usage_reports_every_metered_account(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("CUTOUT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUTOUT_TABLE", "")
    monkeypatch.setenv("CUTOUT_S3_ACCOUNT", "s3")
    monkeypatch.setenv("CUTOUT_S3_PLAN", "mega")
    monkeypatch.setenv("CUTOUT_ANONYMOUS_PLAN", "unlimited")
    from cutout.accounts.keys import Accounts
    from cutout.accounts.ratelimit import Limiter
    from cutout.stores import open_store

    settings.cache_clear()
    store = open_store(settings())
    plans = load_plans()
    limiter = Limiter(store)
    mega = plans.get("mega")
    accounts = Accounts(store, plans)
    limiter.admit(Account("s3", "service", "mega", mega.mp_per_minute, mega.monthly_credits),
                  megapixels=4.2, credits=1)
    limiter.admit(accounts.anonymous("unlimited"), megapixels=2, credits=0.25)
    limiter.admit(Account("rapidapi:ann", "rapidapi", "pro", 200, 10_000), megapixels=1, credits=1)
    limiter.admit(Account("jobs:acme", "service", "mega", 500, None), megapixels=3, credits=1)

    code, out, err = run_cli(capsys, "keys", "usage", "s3")
    assert code == 0, err
    assert "No key with id" not in out + err
    assert "S3 upload trigger" in out and "plan        mega" in out
    assert "calls       1" in out and "megapixels  4.2" in out and "credits     1 of 200000" in out
    assert "this minute 5 of 500 megapixels" in out

    code, out, _ = run_cli(capsys, "keys", "usage", "anonymous")
    assert code == 0 and "plan        unlimited" in out and "credits     0.25 of unlimited" in out

    code, out, _ = run_cli(capsys, "keys", "usage", "rapidapi:ann")
    assert code == 0 and "RapidAPI" in out and "calls       1" in out

    code, out, _ = run_cli(capsys, "keys", "usage", "jobs:acme")
    assert code == 0 and "calls       1" in out and "megapixels  3" in out

    code, out, _ = run_cli(capsys, "keys", "usage", "0123456789abcdef")  # no such key, no usage
    assert code == 0 and "no key has this id" in out and "calls       0" in out
