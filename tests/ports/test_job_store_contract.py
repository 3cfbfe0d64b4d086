"""The job record family of the store port, on both adapters: SQLite and DynamoDB (dynalite)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cutout.stores import JobExists, JobItem


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from cutout.stores.sqlite import SqliteStore

        return SqliteStore(tmp_path / "jobs.sqlite3")
    from cutout.stores.dynamodb import DynamoStore

    return DynamoStore(request.getfixturevalue("dynamo_table"))


def job(job_id: str = "j1", **changes) -> JobItem:
    base = JobItem(job_id, "pending", 0, 0, int(time.time()) + 3600,
                   {"account": "a", "created": time.time(), "options": {"mode": "fg-image"}})
    return replace(base, **changes)


def test_a_job_is_created_once_and_read_back_whole(store):
    store.create_job(job())
    with pytest.raises(JobExists):
        store.create_job(job(status="running"))
    found = store.get_job("j1")
    assert found.status == "pending" and found.version == 0
    assert found.doc["options"] == {"mode": "fg-image"} and found.doc["account"] == "a"
    assert store.get_job("nope") is None


def test_swap_is_a_compare_and_swap_on_the_version(store):
    store.create_job(job())
    assert store.swap_job(job(status="running", version=1, lease_until=99), expected_version=0)
    # a second run holding the old version loses: the job moves on once
    assert not store.swap_job(job(status="running", version=1, lease_until=77), expected_version=0)
    assert store.get_job("j1").lease_until == 99
    assert store.swap_job(job(status="succeeded", version=2), expected_version=1)
    assert not store.swap_job(job(status="failed", version=2), expected_version=1)
    assert store.get_job("j1").status == "succeeded"
    assert not store.swap_job(job("ghost", version=1), expected_version=0)


def test_unfinished_jobs_are_pending_and_running_only(store):
    for n, status in enumerate(["pending", "running", "succeeded", "failed"]):
        store.create_job(job(f"u{n}", status=status))
    assert sorted(item.job_id for item in store.unfinished_jobs()) == ["u0", "u1"]


def test_an_idempotency_key_binds_its_first_job(store):
    expires = int(time.time()) + 3600
    assert store.claim_idempotency("acct#k", "first", expires) == "first"
    assert store.claim_idempotency("acct#k", "second", expires) == "first"
    assert store.claim_idempotency("other#k", "third", expires) == "third"
    # an expired binding is replaced
    assert store.claim_idempotency("old#k", "stale", int(time.time()) - 1) == "stale"
    assert store.claim_idempotency("old#k", "fresh", expires) == "fresh"
