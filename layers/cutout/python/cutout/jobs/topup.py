"""The rest of a job's megapixel charge, once the worker knows the image's size.

A job whose source is a URL or a presigned upload is admitted at accept weighing
1 megapixel (its size is unknown then). When the worker has read the header, it
records the difference (the real megapixels rounded up, as every request weighs,
minus what was charged) in the job (`Job.extra_charge`) first, then admits it
into that minute's window, with no further monthly credit. The charge's id is
the job's (`<job id>-rest`), and an admission is applied once per id: a worker
that crashes between the two steps, or after them, sends the recorded charge
again on the next delivery and it is not charged twice. The worker refunds it
with the accept's charge if the job fails.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict

from ..accounts.keys import minute_of
from ..accounts.ratelimit import TTL_GRACE, WINDOW_SECONDS, RateLimited, weight_of
from ..errors import AccessError
from ..metering import Meter
from ..stores import Charge
from . import Job


class RateLimitedAtProcessing(AccessError):
    """The minute's window has no room for the rest of the image's weight; not retried."""

    code = "rate_limited"
    retryable = False


def rest_of(job: Job, megapixels: float, now: float) -> Charge | None:
    """The top-up Charge a job still owes for an image of `megapixels` (None: nothing owed).

    Nothing is owed when the job was charged its real size at accept (no
    `mp_per_minute` recorded), admitted unmetered (no charge), or when the image
    weighs no more than the accept's charge. A top-up recorded by an earlier run is
    owed as it was recorded (its admission is applied once).
    """
    if job.mp_per_minute is None or job.charge is None:
        return None
    if job.extra_charge is not None:  # recorded by an earlier run: the same charge again
        return Charge(**job.extra_charge)
    charged = Charge(**job.charge)
    extra = weight_of(megapixels) - charged.weight
    if extra <= 0:
        return None
    minute = minute_of(now)
    return Charge(account=charged.account, window=minute, month=charged.month, weight=extra,
                  megapixels=round(max(0.0, megapixels - charged.megapixels), 6), credits=0.0,
                  calls=0, expires=(minute + 1) * WINDOW_SECONDS + TTL_GRACE,
                  id=f"{job.job_id}-rest", settle_by=charged.settle_by, job=job.job_id)


def admit_rest(meter: Meter, job: Job, charge: Charge, now: float | None = None) -> None:
    """Admit `charge` into the job account's window (limit `job.mp_per_minute`), no quota
    check, through the metering door.

    Raises RateLimitedAtProcessing when the window is full (nothing charged), or
    StoreUnavailable (nothing charged; the worker retries the job).
    """
    now = time.time() if now is None else now
    limit = job.mp_per_minute or 0
    total = charge.weight + (Charge(**job.charge).weight if job.charge else 0)
    try:
        meter.top_up(charge, limit)
    except RateLimited as full:
        retry = max(1, math.ceil((charge.window + 1) * WINDOW_SECONDS - now))
        raise RateLimitedAtProcessing(
            f"Rate limit exceeded at processing time: the image weighs "
            f"{total} megapixels and the plan allows {limit} megapixels a minute "
            f"({full.message}). Nothing was charged for this job; "
            f"submit it again after {retry} seconds.") from None


def recorded(job: Job, charge: Charge, moment: float) -> Job:
    """The job's next version with the top-up charge recorded (for a compare-and-swap)."""
    return job.moved(moment, extra_charge=asdict(charge))
