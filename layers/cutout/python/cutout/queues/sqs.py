"""Amazon SQS as the job queue: one message per job, consumed by the jobs function."""
from __future__ import annotations

from typing import Any

from .. import deadline
from . import JobMessage, QueueUnavailable


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
                retries={"max_attempts": 3, "mode": "standard"},
            )))
        return self._client

    def send(self, message: JobMessage) -> None:
        """One SendMessage; an unreachable queue becomes QueueUnavailable (503)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=message.body())
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailable("The job queue cannot be reached; retry in a few seconds.") from exc
