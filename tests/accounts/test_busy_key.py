"""A busy key: its counters split into shards, admission still exact (issue 28, "A busy key").

Real races against dynalite and SQLite: 16 threads send 120 requests at once to an
account whose window is split over 4 shards. The account never passes its limit or
its quota (each shard's check is exact, the shares sum to the limit), and it is
refused only when the shards a request tried were full. A small account has one
shard and keeps the old exactness both ways. bench/busy_key.py simulates the store
calls per partition at 10, 1,000 and 10,000 requests a second.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from cutout.accounts import keys as accounts
from cutout.accounts.keys import Account
from cutout.accounts.ratelimit import (
    MP_PER_SHARD,
    SHARD_TRIES,
    Limiter,
    QuotaExceeded,
    RateLimited,
    share,
    shards_for,
)
from cutout.config import Settings
from cutout.stores import open_store

from .test_ratelimit_concurrency import race

NOW = float(int(time.time()) // 60 * 60 + 5)
MINUTE = int(NOW // 60)


@pytest.fixture(params=["dynamodb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "dynamodb":
        return open_store(replace(Settings(), table=request.getfixturevalue("dynamo_table")))
    return open_store(replace(Settings(), table="", data_dir=str(tmp_path)))


def test_shards_follow_the_limit_and_their_shares_sum_to_it() -> None:
    assert [shards_for(limit) for limit in (1, 500, MP_PER_SHARD, MP_PER_SHARD + 1, 600_000)] == \
        [1, 1, 1, 2, 60]
    for limit, shards in ((40, 4), (41, 4), (600_000, 60), (7, 3)):
        parts = [share(limit, shards, s) for s in range(shards)]
        assert sum(parts) == limit and max(parts) - min(parts) <= 1
    assert [shards_for(600_000, credits) for credits in (None, 100_000.0, 5_000.0, 1.0)] == \
        [60, 60, 5, 1]  # no shard holds less than CREDITS_PER_SHARD of the quota
    assert Account("a", "key", "mega", 500, None).shards == 1  # every plan of plans.json: one
    assert Account("c", "key", "big", 100_000, 1.0).shards == 1  # a tiny quota: one shard
    assert Account("b", "key", "big", 600_000, None).shards == 60


def test_racing_requests_never_pass_a_sharded_limit(store) -> None:
    """40 megapixels a minute over 4 shards of 10; 120 one-megapixel requests at once."""
    busy = Account("busy", "key", "big", 40, None, shards=4)
    limiter = Limiter(store)
    outcomes = race(120, lambda i: limiter.admit(busy, 1.0, 0.0, now=NOW))
    admitted = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(admitted) + len(refused) == 120
    assert len(admitted) <= 40  # the limit, exactly: never passed
    # Each request tries up to SHARD_TRIES of the 4 (all of them): every shard ends full.
    assert SHARD_TRIES >= 4 and len(admitted) == 40
    assert store.window(busy.id, MINUTE, busy.shards).used == 40
    assert Counter(t.charge.shard for t in admitted) == {0: 10, 1: 10, 2: 10, 3: 10}
    usage = store.usage(busy.id, accounts.month_of(NOW), busy.shards)
    assert usage.calls == 40


def test_a_sharded_quota_is_never_passed_either(store) -> None:
    """12 credits a month over 3 shards; 30 one-credit requests at once."""
    busy = Account("quota", "key", "big", 1_000, 12.0, shards=3)
    limiter = Limiter(store)
    outcomes = race(30, lambda i: limiter.admit(busy, 1.0, 1.0, now=NOW))
    admitted = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(admitted) == 12
    assert all(isinstance(o, QuotaExceeded) for o in outcomes if isinstance(o, Exception))
    assert store.usage(busy.id, accounts.month_of(NOW), busy.shards).credits == 12.0


def test_a_refund_goes_back_to_its_own_shard(store) -> None:
    busy = Account("refunds", "key", "big", 20, None, shards=2)
    limiter = Limiter(store)
    tickets = [limiter.admit(busy, 3.0, 0.0, now=NOW) for _ in range(4)]
    assert store.window(busy.id, MINUTE, 2).used == 12
    for ticket in tickets:
        assert limiter.refund(ticket)
    assert store.window(busy.id, MINUTE, 2).used == 0
    assert store.unsettled() == []


def test_one_shard_is_exact_both_ways(store) -> None:
    """A small account: refused exactly when the window has no room, as before shards."""
    small = Account("small", "key", "pro", 10, None)
    assert small.shards == 1
    limiter = Limiter(store)
    for _ in range(3):
        limiter.admit(small, 3.0, 0.0, now=NOW)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(small, 2.0, 0.0, now=NOW)
    assert refused.value.headers["X-RateLimit-Remaining"] == "1"
    limiter.admit(small, 1.0, 0.0, now=NOW)  # the last megapixel still fits
    assert store.window(small.id, MINUTE).used == 10


def test_a_plan_with_fewer_shards_still_counts_what_the_others_hold(store) -> None:
    """Charged on 4 shards, then the plan shrinks to 1 mid-month (a downgrade, or the
    key-less account restarted with another CUTOUT_ANONYMOUS_PLAN): the report still sums
    all 4, and the quota still counts their credits."""
    month = accounts.month_of(NOW)
    busy = Account("downgraded", "key", "big", 40, 40.0, shards=4)
    limiter = Limiter(store)
    for _ in range(8):
        limiter.admit(busy, 1.0, 1.0, now=NOW)
    assert store.usage(busy.id, month, 4).credits == 8.0 > store.usage(busy.id, month, 1).credits
    small = Account("downgraded", "key", "basic", 40, 10.0, shards=1)
    assert accounts.report(store, small, now=NOW).usage.credits == 8.0  # not shard 0's alone
    fresh = Limiter(store)  # a process that never saw the 4 shards
    fresh.admit(small, 1.0, 1.0, now=NOW)
    fresh.admit(small, 1.0, 1.0, now=NOW)  # 10 of 10
    with pytest.raises(QuotaExceeded, match="10 of 10"):
        fresh.admit(small, 1.0, 1.0, now=NOW)
    assert accounts.report(store, small, now=NOW).usage.credits == 10.0
    assert store.record_shards(busy.id, month, 2) == 4 == store.record_shards(busy.id, month, 0)


def test_the_simulation_keeps_a_busy_key_under_a_partitions_throughput() -> None:
    """bench/busy_key.py at 1,000 requests a second (docs/scale-and-cost.md shows 10 to 10,000):
    on one partition it would be throttled; over its shards the busiest partition is not, and
    the whole minute's limit is admitted, never more."""
    from bench.busy_key import PARTITION_WRITES_PER_SECOND, simulate

    run = simulate(1_000)
    assert run.shards == 6
    assert run.unsharded > PARTITION_WRITES_PER_SECOND > run.busiest
    assert run.admitted == run.limit
