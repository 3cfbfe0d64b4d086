"""Every store write is safe to send again: the answer to any write can be lost after the write
happened, and then it is sent again.

One contract over both backends. On DynamoDB (dynalite behind the fault proxy of
fixtures_aws) the answer is really lost: the proxy forwards the call, then drops
the connection, and the adapter sends it again. SQLite answers every write it
commits, so there the same contract is shown by sending the write twice.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from cutout.accounts import keys as accounts
from cutout.config import Settings
from cutout.jobs import FAILED, PENDING, RUNNING, SUCCEEDED
from cutout.reconcile import reconcile
from cutout.stores import Charge, ImageRecord, JobExists, JobItem, open_store

NOW = float(int(time.time()) // 60 * 60 + 5)
MINUTE = int(NOW // 60)
MONTH = accounts.month_of(NOW)


class Faults:
    """The backend's store, and a way to lose the answer to its next write of a kind."""

    def __init__(self, kind: str, store, proxy=None) -> None:
        self.kind, self.store, self.proxy = kind, store, proxy

    def lose(self, operation: str, matching: str = "", count: int = 1) -> None:
        if self.proxy is not None:
            self.proxy.drop(count, operation, matching=matching)

    def sent_twice(self, call):
        """`call()` as a lost answer makes it happen: sent twice on SQLite, once through the
        proxy (which loses the first answer, so the adapter sends it again) on DynamoDB."""
        first = call()
        return call() if self.proxy is None else first

    @property
    def answers_lost(self) -> int:
        return 0 if self.proxy is None else len(self.proxy.throttled)


@pytest.fixture(params=["sqlite", "dynamodb"])
def faults(request: pytest.FixtureRequest, tmp_path: Path) -> Faults:
    if request.param == "sqlite":
        return Faults("sqlite", open_store(replace(Settings(), data_dir=str(tmp_path), table="")))
    table = request.getfixturevalue("dynamo_table")
    proxy = request.getfixturevalue("throttling_proxy")
    return Faults("dynamodb", open_store(replace(Settings(), table=table)), proxy)


def charge(weight: int = 2, credits: float = 1.0, account: str = "acct", **kw) -> Charge:
    return Charge(account=account, window=MINUTE, month=MONTH, weight=weight,
                  megapixels=float(weight), credits=credits, expires=(MINUTE + 1) * 60 + 86400,
                  settle_by=int(NOW) + 300, **kw)


def counted(store, account: str = "acct") -> tuple[int, int, float]:
    usage = store.usage(account, MONTH)
    return store.window(account, MINUTE).used, usage.calls, usage.credits


# --- counters: admission, refund, settlement -------------------------------------------


def test_an_admission_whose_window_answer_is_lost_is_charged_once(faults: Faults) -> None:
    paid = charge()
    faults.lose("UpdateItem", matching="RATE#")
    assert faults.sent_twice(lambda: faults.store.admit(paid, limit=10, quota=5.0)) == 2
    assert counted(faults.store) == (2, 1, 1.0)
    assert faults.answers_lost == (1 if faults.proxy else 0)


def test_an_admission_whose_usage_answer_is_lost_is_charged_once(faults: Faults) -> None:
    paid = charge()
    faults.lose("UpdateItem", matching="USAGE#")
    faults.sent_twice(lambda: faults.store.admit(paid, limit=10, quota=5.0))
    assert counted(faults.store) == (2, 1, 1.0)


def test_a_resent_admission_is_recognised_even_at_the_limits(faults: Faults) -> None:
    """Sent again after it filled the window and the quota, it is not refused: it was admitted."""
    paid = charge(weight=10, credits=5.0)
    faults.store.admit(paid, limit=10, quota=5.0)
    assert faults.store.admit(paid, limit=10, quota=5.0) == 10
    assert counted(faults.store) == (10, 1, 5.0)


def test_a_refund_is_made_once_however_often_it_is_sent(faults: Faults) -> None:
    paid = charge()
    faults.store.admit(paid, limit=10, quota=5.0)
    faults.lose("UpdateItem", matching="RATE#")
    assert faults.store.refund(paid) is True
    assert faults.store.refund(paid) is False
    assert counted(faults.store) == (0, 0, 0.0)


def test_a_refund_whose_usage_answer_is_lost_is_made_once(faults: Faults) -> None:
    paid = charge()
    faults.store.admit(paid, limit=10, quota=5.0)
    faults.lose("UpdateItem", matching="USAGE#")
    assert faults.store.refund(paid) is True
    assert counted(faults.store) == (0, 0, 0.0)


def test_a_settled_charge_stands_and_is_never_refunded(faults: Faults) -> None:
    paid = charge()
    faults.store.admit(paid, limit=10, quota=5.0)
    faults.lose("UpdateItem", matching="REMOVE")
    faults.sent_twice(lambda: faults.store.settle(paid))
    assert faults.store.refund(paid) is False
    assert counted(faults.store) == (2, 1, 1.0)
    assert faults.store.unsettled() == []


def test_pending_charges_are_listed_until_settled_or_refunded(faults: Faults) -> None:
    first, second, third = charge(), charge(job="job-1"), charge(weight=1)
    for paid in (first, second, third):
        faults.store.admit(paid, limit=10, quota=5.0)
    assert sorted(c.id for c in faults.store.unsettled()) == sorted([first.id, second.id, third.id])
    assert [c for c in faults.store.unsettled() if c.id == second.id] == [second]
    faults.store.settle(first)
    faults.store.refund(third)
    assert [c.id for c in faults.store.unsettled()] == [second.id]


# --- the reconciler -----------------------------------------------------------------------


def job_item(job_id: str, status: str) -> JobItem:
    return JobItem(job_id, status, 1, 0, int(NOW) + 3600, {"account": "acct"})


def test_the_reconciler_refunds_overdue_charges_and_lets_jobs_decide(faults: Faults) -> None:
    store = faults.store
    overdue, recent = charge(), replace(charge(), id="recent", settle_by=int(NOW) + 10_000)
    later = {"settle_by": int(NOW) + 10_000}  # a job's charge is due when its job could be
    done_job, failed_job, running_job, lost_job = (
        charge(job="job-done"), charge(job="job-failed"), charge(job="job-running"),
        charge(job="job-gone"))
    running_job = replace(running_job, **later)
    for paid in (overdue, recent, done_job, failed_job, running_job, lost_job):
        store.admit(paid, limit=100, quota=100.0)
    store.create_job(job_item("job-done", SUCCEEDED))
    store.create_job(job_item("job-failed", FAILED))
    store.create_job(job_item("job-running", RUNNING))
    assert counted(store) == (12, 6, 6.0)

    done = reconcile(store, now=NOW + 301)
    assert (done.refunded, done.settled, done.pending) == (3, 1, 2)  # overdue, failed, gone
    assert counted(store) == (6, 3, 3.0)  # recent, the running job's, the succeeded job's
    assert sorted(c.id for c in store.unsettled()) == sorted([recent.id, running_job.id])
    again = reconcile(store, now=NOW + 301)
    assert (again.refunded, again.settled) == (0, 0)
    assert counted(store) == (6, 3, 3.0)


# --- records: jobs, idempotency bindings, publication ------------------------------------


def test_a_job_whose_create_answer_is_lost_is_created_not_refused(faults: Faults) -> None:
    item = job_item("job-1", PENDING)
    faults.lose("PutItem", matching="JOB#")
    faults.store.create_job(item)  # the resend finds its own write: no JobExists
    with pytest.raises(JobExists):
        faults.store.create_job(item)  # another submission of the same id is refused
    assert faults.store.get_job("job-1").status == PENDING


def test_a_job_swap_whose_answer_is_lost_reports_the_swap(faults: Faults) -> None:
    item = job_item("job-2", PENDING)
    faults.store.create_job(item)
    moved = replace(item, status=RUNNING, version=2)
    faults.lose("PutItem", matching="JOB#")
    assert faults.store.swap_job(moved, expected_version=1) is True
    assert faults.store.swap_job(replace(moved, status=SUCCEEDED, version=3), expected_version=1) is False
    stored = faults.store.get_job("job-2")
    assert (stored.status, stored.version) == (RUNNING, 2)


def test_an_idempotency_binding_whose_answer_is_lost_binds_its_own_job(faults: Faults) -> None:
    faults.lose("PutItem", matching="JOBKEY#")
    assert faults.store.claim_idempotency("acct#key", "job-a", int(NOW) + 3600) == "job-a"
    assert faults.store.claim_idempotency("acct#key", "job-b", int(NOW) + 3600) == "job-a"


def image(now: float) -> ImageRecord:
    return ImageRecord(account="alice", id="image_0000000000aaaaaaaaaaaaaaaa", name="photo",
                       format="png", width=3, height=2, size=10,
                       created_at="2026-11-30T00:00:00.000Z")


def test_racing_publishes_all_get_the_one_url_that_stands(faults: Faults) -> None:
    store = faults.store
    store.put_image(image(NOW))
    start = threading.Barrier(8)

    def publish(n: int) -> str | None:
        start.wait()
        record = store.set_image_token("alice", image(NOW).id, f"token-{n}")
        return record.token if record else None

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(publish, range(8)))
    assert len(set(tokens)) == 1 and tokens[0] is not None
    assert store.find_public(tokens[0]).token == tokens[0]
    assert all(store.find_public(f"token-{n}") is None for n in range(8) if f"token-{n}" != tokens[0])
    if faults.kind == "dynamodb":  # no orphan pointer items are left behind
        items = boto3.client("dynamodb").scan(TableName=store.table)["Items"]
        assert [i["pk"]["S"] for i in items if i["pk"]["S"].startswith("PUBLIC#")] == [f"PUBLIC#{tokens[0]}"]


def test_a_publish_whose_answer_is_lost_keeps_its_own_url(faults: Faults) -> None:
    store = faults.store
    store.put_image(image(NOW))
    faults.lose("PutItem", matching="IMAGES#")
    published = store.set_image_token("alice", image(NOW).id, "token-x")
    assert published is not None and published.token == "token-x"
    assert store.find_public("token-x") == published
