"""The job queue port: where an accepted job's message goes until a worker takes it.

Two adapters: `SqsJobQueue` (deployed: Amazon SQS; the jobs function consumes it,
functions/jobs/handler.py) and `LocalJobQueue` (`make run`: a bounded queue and a
small pool of threads in the server process). Both carry only the job id and its
account: the job itself (options, source, charge) is in the job store, so a
message is tiny and a redelivered one finds the job's current state there. The
account orders the queue fairly: SQS fair queues group messages by it, the local
pool takes turns by it, so one account's slow or many jobs never hold up another's.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Callable, Protocol

from ..config import Settings
from ..errors import Unavailable

# What SQS accepts as a MessageGroupId: 1-128 of a-z, A-Z, 0-9 and punctuation.
_GROUP_ID = re.compile(r"[!-~]{1,128}")


@dataclass(frozen=True)
class JobMessage:
    """What is queued for one job: its id (the record holds the rest) and its account,
    the tenant the queue is fair across ("" when unknown: its own)."""

    job_id: str
    account: str = ""

    def body(self) -> str:
        return json.dumps({"jobId": self.job_id})

    def group_id(self) -> str:
        """The account as an SQS message group id (the tenant of a fair queue): itself
        when SQS accepts it, else its SHA-256 (a RapidAPI user name may be any text);
        "" for no account (SQS then takes the message as a tenant of its own)."""
        if not self.account or _GROUP_ID.fullmatch(self.account):
            return self.account
        return "sha256:" + hashlib.sha256(self.account.encode()).hexdigest()

    @classmethod
    def parse(cls, body: str) -> "JobMessage":
        """Raises ValueError for a body that is not `{"jobId": "<id>"}`."""
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("jobId"), str):
            raise ValueError("a job message is a JSON object with a string jobId")
        return cls(data["jobId"])


class QueueFull(Unavailable):
    """The queue takes no more jobs now (the local pool's bound); retry after a few seconds."""

    code = "queue_full"


class QueueUnavailable(Unavailable):
    """The queue could not be reached; nothing was sent."""

    code = "queue_unavailable"


class JobQueue(Protocol):
    def send(self, message: JobMessage) -> None:
        """Queue one job; raises QueueFull or QueueUnavailable (then nothing was queued)."""


Runner = Callable[[JobMessage], object]  # runs one message (any result ignored); raising: "again later"


def open_queue(cfg: Settings, runner: Runner | None = None) -> JobQueue:
    """The job queue: SQS when CUTOUT_JOB_QUEUE_URL is set, else the in-process pool
    running `runner` (CUTOUT_JOB_WORKERS threads, CUTOUT_JOB_QUEUE_CAPACITY waiting)."""
    if cfg.job_queue_url:
        return _sqs(cfg.job_queue_url, cfg)
    from .local import LocalJobQueue

    return LocalJobQueue(_needed(runner), workers=cfg.job_workers, capacity=cfg.job_queue_capacity)


def open_webhook_queue(cfg: Settings, runner: Runner | None = None) -> JobQueue:
    """The webhook delivery queue: SQS when CUTOUT_WEBHOOK_QUEUE_URL is set (its redrive
    policy and dead-letter queue bound the tries), else the in-process pool running
    `runner` (CUTOUT_WEBHOOK_WORKERS threads; CUTOUT_WEBHOOK_ATTEMPTS tries, the first
    retry after CUTOUT_WEBHOOK_BACKOFF seconds, doubling; as many waiting as jobs)."""
    if cfg.webhook_queue_url:
        return _sqs(cfg.webhook_queue_url, cfg)
    from .local import LocalJobQueue

    return LocalJobQueue(_needed(runner), workers=cfg.webhook_workers,
                         capacity=cfg.job_queue_capacity, redelivery_delay=cfg.webhook_backoff,
                         max_receives=max(1, cfg.webhook_attempts), kind="webhook")


def _sqs(url: str, cfg: Settings) -> JobQueue:
    from .sqs import SqsJobQueue

    return SqsJobQueue(url, timeout=cfg.store_timeout)


def _needed(runner: Runner | None) -> Runner:
    if runner is None:
        raise ValueError("a local queue needs the code that runs its messages")
    return runner
