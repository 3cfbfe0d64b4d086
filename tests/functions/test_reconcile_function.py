"""The reconcile function, invoked with the scheduled event of events/, against dynalite:
an overdue pending charge is refunded, a job's charge settles with its succeeded job."""
from __future__ import annotations

import importlib.util
import json
import time
import uuid
from pathlib import Path

from cutout.accounts.keys import Account, month_of
from cutout.accounts.ratelimit import Limiter
from cutout.config import settings
from cutout.stores import JobItem, open_store

ROOT = Path(__file__).resolve().parents[2]
HANDLER = ROOT / "functions" / "reconcile" / "handler.py"
EVENT = json.loads((ROOT / "events" / "schedule-reconcile.json").read_text())


class LambdaContext:
    function_name = "cutout-ReconcileFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cutout-ReconcileFunction"
    memory_limit_in_mb = 512
    aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def test_the_scheduled_run_refunds_overdue_charges_and_settles_finished_jobs(
        dynamo_table, monkeypatch) -> None:
    monkeypatch.setenv("CUTOUT_TABLE", dynamo_table)
    settings.cache_clear()
    store = open_store(settings())
    limiter = Limiter(store)
    who = Account("reconciled", "key", "pro", 100, 100.0)
    lost = limiter.admit(who, 2.0, settle_within=-1)  # a request that never ended: overdue
    live = limiter.admit(who, 1.0)  # a request still running: not due
    job = limiter.admit(who, 1.0, job="job-ok", settle_within=3600)
    store.create_job(JobItem("job-ok", "succeeded", 3, 0, int(time.time()) + 3600, {}))
    usage = store.usage(who.id, month_of(time.time()))
    assert (usage.calls, usage.credits) == (3, 3.0)

    spec = importlib.util.spec_from_file_location("reconcile_handler", HANDLER)
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    answer = handler.handler(EVENT, LambdaContext())

    assert answer == {"refunded": 1, "settled": 1, "pending": 1}
    usage = store.usage(who.id, month_of(time.time()))
    assert (usage.calls, usage.credits) == (2, 2.0)  # the lost request's credit came back
    assert [c.id for c in store.unsettled()] == [live.charge.id]
    assert lost.charge and job.charge
