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


Runner = Callable[[JobMessage], None]  # processes one message; raising means "deliver again later"


def open_queue(cfg: Settings, runner: Runner | None = None) -> JobQueue:
    """SQS when CUTOUT_JOB_QUEUE_URL is set, else the in-process pool running `runner`."""
    if cfg.job_queue_url:
        from .sqs import SqsJobQueue

        return SqsJobQueue(cfg.job_queue_url, timeout=cfg.store_timeout)
    if runner is None:
        raise ValueError("a local job queue needs the worker that runs its jobs")
    from .local import LocalJobQueue

    return LocalJobQueue(runner, workers=cfg.job_workers, capacity=cfg.job_queue_capacity)
