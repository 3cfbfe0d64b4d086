"""Meter.run, the metering door for pixel work that is not a cut-out (stored-image operations):
charge by the header's megapixels and the credits given, run, refund when the work fails."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from cutout.accounts.keys import Account, month_of
from cutout.accounts.ratelimit import Limiter, QuotaExceeded
from cutout.config import Settings
from cutout.engine import images
from cutout.errors import InvalidOption
from cutout.metering import Meter
from cutout.stores import open_store

LIMITS = images.Limits(max_megapixels=25, max_bytes=16 * 1024 * 1024)
TWELVE_MP = images.Header("JPEG", 4000, 3000)


@pytest.fixture
def limiter(tmp_path: Path) -> Limiter:
    return Limiter(open_store(replace(Settings(), table="", data_dir=str(tmp_path))))


def state(limiter: Limiter, account: Account) -> tuple[int, float, int]:
    now = time.time()
    usage = limiter.store.usage(account.id, month_of(now))
    return usage.calls, usage.credits, limiter.store.window(account.id, int(now // 60)).used


def test_work_is_charged_its_credits_and_the_headers_megapixels(segmenter, limiter) -> None:
    account, seen = Account("ops", "key", "test", 100, 10.0), []
    answer = Meter(segmenter, LIMITS, limiter).run(
        TWELVE_MP, lambda: "done", account=account, credits=2, admitted=seen.append)
    assert answer == "done" and seen[0].charged == 2
    assert state(limiter, account) == (1, 2.0, 12)


def test_failed_work_is_refunded_and_refused_work_never_runs(segmenter, limiter) -> None:
    account = Account("ops", "key", "test", 100, 3.0)
    meter = Meter(segmenter, LIMITS, limiter)

    def fail() -> None:
        raise InvalidOption("the box is outside the image")

    with pytest.raises(InvalidOption):
        meter.run(TWELVE_MP, fail, account=account, credits=2)
    assert state(limiter, account) == (0, 0.0, 0)
    meter.run(TWELVE_MP, lambda: None, account=account, credits=2)
    ran = []
    with pytest.raises(QuotaExceeded):
        meter.run(TWELVE_MP, lambda: ran.append(1), account=account, credits=2)
    assert ran == [] and state(limiter, account) == (1, 2.0, 12)
