"""Amazon SQS as the job queue: one message per job, consumed by the jobs function.

Each message carries its account as the message group id of a standard queue,
which makes it an Amazon SQS fair queue (2025): when one account has more
messages in flight, or takes more of the consumers' time, than the others,
SQS hands out the other accounts' messages first ("Amazon SQS fair queues",
SQS Developer Guide). No FIFO ordering is implied and the queue needs no setting.

A message is sent once: botocore's own retries are off, because a send whose answer
was lost (a read timeout) may have been queued, and a resend would queue the job
twice. Only a send that never reached SQS (the connection was not made) is sent
again. A send that fails either way is `QueueUnavailable`: the caller marks the job
failed and refunds it, and a message that did arrive finds a failed job and is dropped.
"""
from __future__ import annotations

from typing import Any

from .. import deadline
from . import JobMessage, QueueUnavailable

SEND_ATTEMPTS = 2  # a send whose connection was never made is tried once more


class SqsJobQueue:
    """Sends job messages to one SQS queue; boto3 finds the endpoint (AWS_ENDPOINT_URL_SQS)."""

    def __init__(self, queue_url: str, client: Any = None, timeout: float = 2.0) -> None:
        self.queue_url = queue_url
        self._client = client
        self._timeout = timeout

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = deadline.bound(boto3.client("sqs", config=Config(  # a request's deadline
                connect_timeout=self._timeout, read_timeout=self._timeout * 2,
                retries={"total_max_attempts": 1, "mode": "standard"},
            )))
        return self._client

    def send(self, message: JobMessage) -> None:
        """One SendMessage, grouped by account (sent again only if it never left); failures
        are QueueUnavailable (503)."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.exceptions import ConnectionError as NotSent

        group = {"MessageGroupId": message.group_id()} if message.account else {}
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                self.client.send_message(QueueUrl=self.queue_url, MessageBody=message.body(),
                                         **group)
                return
            except NotSent as exc:
                if attempt == SEND_ATTEMPTS:
                    raise QueueUnavailable("The job queue cannot be reached; retry in a few "
                                           "seconds.") from exc
            except (BotoCoreError, ClientError) as exc:
                raise QueueUnavailable("The job queue cannot be reached; retry in a few "
                                       "seconds.") from exc
