"""The job record family of the store port, on both adapters: SQLite and DynamoDB (dynalite)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cutout.stores import JobExists, JobItem, StoreUnavailable


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


def test_unfinished_jobs_come_oldest_first_up_to_the_limit(store):
    now = time.time()
    ages = {"a": 50, "b": 10, "c": 40, "d": 30, "e": 20, "f": 60}
    for job_id, age in ages.items():
        status = "succeeded" if job_id == "f" else "running" if job_id == "c" else "pending"
        created = job(job_id, status=status)
        store.create_job(replace(created, doc={**created.doc, "created": now - age}))
    store.claim_idempotency("acct#key", "a", int(now) + 3600)  # JOBKEY# items are not jobs
    assert [item.job_id for item in store.unfinished_jobs()] == ["a", "c", "d", "e", "b"]
    oldest = store.unfinished_jobs(limit=2)
    assert [(item.job_id, item.status) for item in oldest] == [("a", "pending"), ("c", "running")]


def test_sqlite_finds_unfinished_jobs_through_its_partial_index(tmp_path):
    """Only unfinished jobs are in the index: a restart reads them, not every job ever kept."""
    from cutout.stores.sqlite import _UNFINISHED_JOBS, SqliteStore

    store = SqliteStore(tmp_path / "jobs.sqlite3")
    store.create_job(job())
    plan = store._connect().execute("EXPLAIN QUERY PLAN " + _UNFINISHED_JOBS, (10,)).fetchall()
    assert any("USING INDEX items_unfinished_jobs" in row[-1] for row in plan), plan
    assert not any("TEMP B-TREE" in row[-1] for row in plan), plan  # no sort: the index is in order


def test_a_binding_that_keeps_vanishing_is_unavailable_not_endless(dynamo_table):
    """DynamoDB: the write sees a live binding, the read finds none (expired and purged in
    between), again and again: a bounded number of tries, then StoreUnavailable."""
    from cutout.stores.dynamodb import CLAIM_ATTEMPTS, DynamoStore

    class Purging(DynamoStore):
        """Reads every idempotency binding as TTL's purge would leave it: gone."""

        writes = 0

        def _call(self, operation, **params):
            if operation == "put_item" and params["Item"]["pk"]["S"].startswith("JOBKEY#"):
                self.writes += 1
            return super()._call(operation, **params)

        def _get(self, pk, sk):
            return None if pk.startswith("JOBKEY#") else super()._get(pk, sk)

    store = Purging(dynamo_table)
    expires = int(time.time()) + 3600
    assert store.claim_idempotency("acct#k", "first", expires) == "first"
    with pytest.raises(StoreUnavailable):
        store.claim_idempotency("acct#k", "second", expires)
    assert store.writes == 1 + CLAIM_ATTEMPTS
