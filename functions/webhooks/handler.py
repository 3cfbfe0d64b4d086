"""Lambda entry point of the webhooks function: SQS messages {"jobId"} -> one webhook attempt.

The jobs function finishes a job, then queues its webhook on the webhook queue;
this function POSTs it (cutout.jobs.webhook.Webhooks.run), one attempt per
delivery. A receiver that fails or does not answer raises WebhookFailed: the
message is reported as a batch item failure (Powertools BatchProcessor,
ReportBatchItemFailures in the template), SQS delivers it again after the
queue's visibility timeout and, after its redrive policy's maxReceiveCount,
moves it to the webhook dead-letter queue. A function of its own, not a second
event source of the jobs function: a hanging receiver then holds a small
function with no model instead of one of the jobs function's reserved (3 GB)
instances, and jobs never wait behind webhooks.
"""
from __future__ import annotations

import time

_started = time.perf_counter()

from aws_lambda_powertools import Logger  # noqa: E402
from aws_lambda_powertools.utilities.batch import (  # noqa: E402
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: E402

from cutout.config import settings  # noqa: E402
from cutout.queues import JobMessage  # noqa: E402
from cutout.services import webhook_deliveries  # noqa: E402

logger = Logger(service="cutout-webhooks")
cfg = settings()
webhooks = webhook_deliveries(cfg)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
logger.info("init done", extra={"init_seconds": round(time.perf_counter() - _started, 3),
                                "table": cfg.table or None, "bucket": cfg.bucket or None})


def record_handler(record: SQSRecord) -> dict:
    """One delivery; raising marks it failed (delivered again). A malformed body is dropped."""
    try:
        message = JobMessage.parse(record.body)
    except ValueError:
        logger.error("malformed webhook message dropped", extra={"message_id": record.message_id})
        return {"action": "dropped"}
    return {"jobId": message.job_id, "action": webhooks.run(message)}


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
