"""One contract, two backends: SQLite on a file and DynamoDB through dynalite.

Every test runs against both stores as `open_store` builds them from Settings,
so the service behaves the same on a laptop and on AWS.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from cutout.accounts import keys as accounts
from cutout.accounts.keys import Accounts, InvalidApiKey, RevokedKey
from cutout.accounts.plans import load_plans
from cutout.config import Settings
from cutout.stores import Charge, KeyRecord, QuotaFull, Usage, WindowFull, open_store
from cutout.stores.dynamodb import DynamoStore
from cutout.stores.sqlite import SqliteStore

NOW = float(int(time.time()) // 60 * 60 + 5)  # fixed for the run: windows do not move under a test
MINUTE = int(NOW // 60)
MONTH = accounts.month_of(NOW)


class Backend:
    """A store plus a way to read its raw items, as the operator would see them."""

    def __init__(self, kind: str, settings: Settings) -> None:
        self.kind = kind
        self.settings = settings
        self.store = open_store(settings)

    def raw(self, pk: str, sk: str) -> dict | None:
        if self.kind == "sqlite":
            with sqlite3.connect(Path(self.settings.data_dir) / "cutout.sqlite3") as conn:
                row = conn.execute("SELECT attrs, ttl FROM items WHERE pk = ? AND sk = ?",
                                   (pk, sk)).fetchone()
            if row is None:
                return None
            return {**json.loads(row[0]), **({"ttl": row[1]} if row[1] is not None else {})}
        client = boto3.client("dynamodb")
        item = client.get_item(TableName=self.settings.table,
                               Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        if item is None:
            return None
        return {k: (float(v["N"]) if "N" in v else v.get("S")) for k, v in item.items()}

    def all_text(self) -> str:
        """Every stored byte as text, to prove what is not stored."""
        if self.kind == "sqlite":
            with sqlite3.connect(Path(self.settings.data_dir) / "cutout.sqlite3") as conn:
                return repr(conn.execute("SELECT * FROM items").fetchall())
        return repr(boto3.client("dynamodb").scan(TableName=self.settings.table)["Items"])


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        cfg = replace(Settings(), data_dir=str(tmp_path / "data"), table="")
    else:
        cfg = replace(Settings(), table=request.getfixturevalue("dynamo_table"))
    return Backend(request.param, cfg)


def test_open_store_picks_the_backend_from_settings(backend: Backend) -> None:
    expected = SqliteStore if backend.kind == "sqlite" else DynamoStore
    assert isinstance(backend.store, expected)


def test_create_table_is_idempotent(backend: Backend) -> None:
    first = backend.store.create_table()
    again = backend.store.create_table()
    assert first and again
    if backend.kind == "dynamodb":
        assert "already exists" in again


def charge(account: str = "acct", weight: int = 1, credits: float = 1.0, *,
           now: float = NOW, megapixels: float | None = None) -> Charge:
    minute = int(now // 60)
    return Charge(account=account, window=minute, month=accounts.month_of(now), weight=weight,
                  megapixels=weight if megapixels is None else megapixels, credits=credits,
                  expires=(minute + 1) * 60 + 120)


# --- keys -------------------------------------------------------------------------------


def record(digest: str = "ab" * 32, **kw) -> KeyRecord:
    base = dict(digest=digest, key_id=digest[:16], owner="alice", plan="pro", status="active",
                created="2026-11-21T07:00:00+00:00")
    return KeyRecord(**(base | kw))


def test_keys_round_trip_with_and_without_overrides(backend: Backend) -> None:
    store = backend.store
    plain = record("aa" * 32)
    custom = record("bb" * 32, owner="bob", plan="basic", mp_per_minute=7, monthly_credits=2.5)
    store.put_key(plain)
    store.put_key(custom)
    assert store.get_key("aa" * 32) == plain
    assert store.get_key("bb" * 32) == custom
    assert store.get_key("cc" * 32) is None
    assert {r.digest for r in store.list_keys()} == {"aa" * 32, "bb" * 32}


def test_key_status_changes_and_unknown_keys_are_refused(backend: Backend) -> None:
    store = backend.store
    store.put_key(record())
    store.set_key_status("ab" * 32, "revoked")
    assert store.get_key("ab" * 32).status == "revoked"
    with pytest.raises(KeyError):
        store.set_key_status("ff" * 32, "revoked")
    assert store.get_key("ff" * 32) is None  # refusing did not create an item


def test_accounts_keep_only_the_digest_and_authenticate_by_key(backend: Backend) -> None:
    service = Accounts(backend.store, load_plans(), cache_seconds=0)
    api_key, rec = service.create_key("pro", owner="carol")
    assert api_key.startswith("live_") and len(api_key) > 40
    assert rec.digest == accounts.digest_of(api_key) and rec.key_id == rec.digest[:16]
    assert api_key not in backend.all_text()
    assert api_key[3:] not in backend.all_text()

    account = service.authenticate(api_key)
    assert (account.id, account.plan, account.owner) == (rec.key_id, "pro", "carol")
    assert (account.mp_per_minute, account.monthly_credits) == (200, 10000.0)

    with pytest.raises(InvalidApiKey):
        service.authenticate(api_key + "x")
    service.revoke(rec.key_id)
    with pytest.raises(RevokedKey):
        service.authenticate(api_key)
    assert [r.status for r in service.list_keys()] == ["revoked"]


def test_key_options_override_the_plan(backend: Backend) -> None:
    service = Accounts(backend.store, load_plans(), cache_seconds=0)
    api_key, _ = service.create_key("free", mp_per_minute=3, monthly_credits=0.5)
    account = service.authenticate(api_key)
    assert (account.plan, account.mp_per_minute, account.monthly_credits) == ("free", 3, 0.5)
    with pytest.raises(ValueError, match="Unknown plan"):
        service.create_key("platinum")
    assert len(service.list_keys()) == 1


# --- windows ----------------------------------------------------------------------------


def test_window_admits_up_to_the_limit_and_not_one_megapixel_more(backend: Backend) -> None:
    store = backend.store
    assert store.admit(charge(weight=2), limit=5, quota=None) == 2
    assert store.admit(charge(weight=2), limit=5, quota=None) == 4
    with pytest.raises(WindowFull) as refused:
        store.admit(charge(weight=2), limit=5, quota=None)
    assert refused.value.used == 4
    assert store.admit(charge(weight=1), limit=5, quota=None) == 5
    with pytest.raises(WindowFull):
        store.admit(charge(weight=1), limit=5, quota=None)
    assert store.window("acct", MINUTE).used == 5
    assert store.usage("acct", MONTH) == Usage(calls=3, megapixels=5.0, credits=3.0)


def test_windows_are_per_minute_and_per_account(backend: Backend) -> None:
    store = backend.store
    store.admit(charge(weight=3), limit=3, quota=None)
    with pytest.raises(WindowFull):
        store.admit(charge(weight=1), limit=3, quota=None)
    assert store.admit(charge("other", weight=3), limit=3, quota=None) == 3
    assert store.admit(charge(weight=3, now=NOW + 60), limit=3, quota=None) == 3
    assert store.window("acct", MINUTE).used == 3
    assert store.window("acct", MINUTE + 1).used == 3
    assert store.window("acct", MINUTE + 2).used == 0


def test_an_image_heavier_than_the_limit_is_never_admitted(backend: Backend) -> None:
    with pytest.raises(WindowFull) as refused:
        backend.store.admit(charge(weight=6), limit=5, quota=None)
    assert refused.value.used == 0
    assert backend.store.usage("acct", MONTH) == Usage()


# --- monthly quota ----------------------------------------------------------------------


def test_quota_refuses_the_charge_that_would_pass_it_and_leaves_the_window(backend: Backend) -> None:
    store = backend.store
    store.admit(charge(credits=1.0), limit=100, quota=2.5)
    store.admit(charge(credits=1.0), limit=100, quota=2.5)
    with pytest.raises(QuotaFull) as refused:
        store.admit(charge(credits=1.0), limit=100, quota=2.5)
    assert refused.value.credits == 2.0
    assert refused.value.window_used == 2
    assert store.window("acct", MINUTE).used == 2  # the refused request took nothing
    store.admit(charge(credits=0.25), limit=100, quota=2.5)
    store.admit(charge(credits=0.25), limit=100, quota=2.5)
    assert store.usage("acct", MONTH) == Usage(calls=4, megapixels=4.0, credits=2.5)
    with pytest.raises(QuotaFull):
        store.admit(charge(credits=0.25), limit=100, quota=2.5)


def test_usage_is_kept_per_month(backend: Backend) -> None:
    store = backend.store
    next_month = NOW + 40 * 86400
    store.admit(charge(credits=1.0, megapixels=0.3), limit=10, quota=1.0)
    store.admit(charge(credits=1.0, megapixels=0.7, now=next_month), limit=10, quota=1.0)
    assert store.usage("acct", MONTH) == Usage(calls=1, megapixels=0.3, credits=1.0)
    assert store.usage("acct", accounts.month_of(next_month)) == Usage(1, 0.7, 1.0)
    assert store.usage("acct", "1999-01") == Usage()


# --- refunds ----------------------------------------------------------------------------


def test_refund_returns_megapixels_and_credits(backend: Backend) -> None:
    store = backend.store
    store.admit(charge(weight=2, credits=1.0, megapixels=1.5), limit=4, quota=2.0)
    admitted = charge(weight=2, credits=1.0, megapixels=1.5)
    store.admit(admitted, limit=4, quota=2.0)
    with pytest.raises(WindowFull):
        store.admit(charge(weight=1), limit=4, quota=2.0)
    store.refund(admitted)
    assert store.window("acct", MINUTE).used == 2
    assert store.usage("acct", MONTH) == Usage(calls=1, megapixels=1.5, credits=1.0)
    assert store.admit(charge(weight=2, credits=1.0), limit=4, quota=2.0) == 4


def test_a_top_up_charge_adds_weight_and_megapixels_but_no_call(backend: Backend) -> None:
    store = backend.store
    store.admit(charge(weight=1, megapixels=1.0), limit=5, quota=1.0)
    top_up = replace(charge(weight=2, credits=0.0, megapixels=1.56), calls=0)
    assert store.admit(top_up, limit=5, quota=None) == 3
    assert store.usage("acct", MONTH) == Usage(calls=1, megapixels=2.56, credits=1.0)
    store.refund(top_up)
    assert store.window("acct", MINUTE).used == 1
    assert store.usage("acct", MONTH) == Usage(calls=1, megapixels=1.0, credits=1.0)


# --- TTL --------------------------------------------------------------------------------


def test_window_items_carry_a_ttl_and_others_do_not(backend: Backend) -> None:
    store = backend.store
    admitted = charge(weight=1)
    store.admit(admitted, limit=10, quota=None)
    window = store.window("acct", MINUTE)
    assert window.expires == admitted.expires
    assert window.expires > (MINUTE + 1) * 60  # outlives its minute, never sooner
    raw = backend.raw("KEY#acct", f"RATE#{MINUTE}")
    assert raw is not None and int(raw["ttl"]) == admitted.expires
    assert raw["mp"] == 1
    usage = backend.raw("KEY#acct", f"USAGE#{MONTH}")
    assert usage is not None and "ttl" not in usage
    store.put_key(record())
    key = backend.raw("KEY#" + "ab" * 32, "META")
    assert key is not None and "ttl" not in key


def test_sqlite_deletes_expired_windows_as_dynamodb_ttl_would(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    old = charge(weight=1, now=NOW - 40 * 86400)  # expired weeks ago, in an earlier month
    store.admit(old, limit=10, quota=None)
    assert store.window("acct", old.window).used == 1
    fresh = SqliteStore(tmp_path / "s.sqlite3")  # purges on its first write, then once a minute
    fresh.admit(charge(weight=1), limit=10, quota=None)
    assert fresh.window("acct", old.window).used == 0
    assert fresh.window("acct", old.window).expires is None
    assert fresh.usage("acct", old.month).calls == 1  # usage has no TTL
