"""The one metering door (cutout.metering.Meter.cut): header, preflight, charge, cut, refund."""
from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.accounts.keys import Account, month_of
from cutout.accounts.ratelimit import Limiter, QuotaExceeded, RateLimited
from cutout.config import Settings
from cutout.engine import geometry, images, pipeline
from cutout.errors import ImageTooLarge, InputError, InvalidImage, InvalidOption
from cutout.metering import Meter
from cutout.stores import open_store
from photos import assert_subject_found

LIMITS = images.Limits(max_megapixels=25, max_bytes=16 * 1024 * 1024)


@pytest.fixture
def limiter(tmp_path: Path) -> Limiter:
    return Limiter(open_store(replace(Settings(), table="", data_dir=str(tmp_path))))


def who(limit: int = 100, quota: float | None = 10.0) -> Account:
    return Account("door", "key", "test", limit, quota)


def spent(limiter: Limiter, account: Account) -> tuple[int, float]:
    usage = limiter.store.usage(account.id, month_of(time.time()))
    return usage.calls, usage.credits


def test_a_cut_is_charged_once_with_its_megapixels_and_credits(segmenter, limiter, astronaut_jpeg):
    account, seen = who(), []
    metered = Meter(segmenter, LIMITS, limiter).cut(
        astronaut_jpeg, pipeline.Options(), account=account, credits=0.25, admitted=seen.append)
    assert (metered.header.width, metered.header.height) == (512, 512)
    assert seen == [metered.ticket] and metered.ticket.charged == 0.25
    assert spent(limiter, account) == (1, 0.25)
    cutout = np.asarray(Image.open(io.BytesIO(metered.result.data)))
    assert cutout.shape == (512, 512, 4)
    assert_subject_found(cutout[..., 3], "astronaut")


@pytest.mark.parametrize("data, options, error", [
    (b"%PDF-1.7 not an image", pipeline.Options(), InvalidImage),
    ("big", pipeline.Options(), ImageTooLarge),
    ("coffee", pipeline.Options(roi=geometry.parse_region("0px 0px 900px 900px")), InvalidOption),
])
def test_bad_input_is_refused_before_the_charge(segmenter, limiter, coffee_jpeg, data, options, error):
    account, seen = who(), []
    if data == "big":
        data = coffee_jpeg
        meter = Meter(segmenter, images.Limits(max_megapixels=0.1, max_bytes=LIMITS.max_bytes), limiter)
    else:
        data = coffee_jpeg if data == "coffee" else data
        meter = Meter(segmenter, LIMITS, limiter)
    with pytest.raises(error) as refused:
        meter.cut(data, options, account=account, admitted=seen.append)
    assert isinstance(refused.value, InputError) and not refused.value.retryable
    assert seen == [] and spent(limiter, account) == (0, 0.0)


def test_pixels_that_fail_after_the_header_are_refunded(segmenter, limiter, coffee_jpeg):
    account, seen = who(), []
    truncated = coffee_jpeg[: len(coffee_jpeg) // 3]  # the header reads, the pixels do not
    with pytest.raises(InvalidImage):
        Meter(segmenter, LIMITS, limiter).cut(truncated, pipeline.Options(), account=account,
                                             admitted=seen.append)
    (ticket,) = seen
    assert ticket.refunded and ticket.charged == 0
    assert spent(limiter, account) == (0, 0.0)


def test_a_failed_delivery_is_refunded_and_re_raised(segmenter, limiter, coffee_jpeg):
    account, seen = who(), []

    def deliver(result: pipeline.Result) -> None:
        assert result.format == "png"
        raise ConnectionError("the bucket went away")

    with pytest.raises(ConnectionError):
        Meter(segmenter, LIMITS, limiter).cut(coffee_jpeg, pipeline.Options(), account=account,
                                             admitted=seen.append, deliver=deliver)
    assert seen[0].refunded and spent(limiter, account) == (0, 0.0)


def test_refusals_by_the_limiter_cut_nothing(segmenter, limiter, coffee_jpeg):
    meter = Meter(segmenter, LIMITS, limiter)
    poor = who(quota=1.0)
    meter.cut(coffee_jpeg, pipeline.Options(), account=poor)
    delivered = []
    with pytest.raises(QuotaExceeded) as refused:
        meter.cut(coffee_jpeg, pipeline.Options(), account=poor, deliver=delivered.append)
    assert not refused.value.retryable and delivered == []
    busy = replace(who(limit=1), id="busy")
    meter.cut(coffee_jpeg, pipeline.Options(), account=busy)
    with pytest.raises(RateLimited) as limited:
        meter.cut(coffee_jpeg, pipeline.Options(), account=busy, deliver=delivered.append)
    assert limited.value.retryable and "Retry-After" in limited.value.headers and delivered == []


def test_without_a_limiter_or_an_account_nothing_is_metered(segmenter, limiter, coffee_jpeg):
    assert Meter(segmenter, LIMITS).cut(coffee_jpeg, pipeline.Options(), account=who()).ticket is None
    metered = Meter(segmenter, LIMITS, limiter).cut(coffee_jpeg, pipeline.Options(), account=None)
    assert metered.ticket is None and metered.result.content_type == "image/png"
