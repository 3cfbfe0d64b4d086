"""Lambda entry point of the jobs function: SQS messages {"jobId"} -> cutout.jobs.worker.

Batch size 1 and partial batch failure reporting (Powertools BatchProcessor,
ReportBatchItemFailures in the template): a message whose run raised (JobBusy,
storage down, a crash) is reported failed, so SQS delivers it again after the
visibility timeout and, after maxReceiveCount, moves it to the dead-letter
queue. A finished job's message is dropped by the worker, so a redelivery never
cuts, charges or refunds twice. Slow things (model, clients) happen at import.
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

import os  # noqa: E402
from dataclasses import replace  # noqa: E402

from cutout.config import settings  # noqa: E402
from cutout.engine import model  # noqa: E402
from cutout.queues import JobMessage  # noqa: E402
from cutout.services import Services  # noqa: E402

logger = Logger(service="cutout-jobs")
cfg = settings()
if "CUTOUT_TRIM_IDLE_SECONDS" not in os.environ:  # memory Lambda reserves anyway: keep it
    cfg = replace(cfg, trim_idle_seconds=-1.0)
worker = Services.build(cfg, model.load(cfg)).worker
# With batch size 1 every failure is a whole batch's: report it as a batch item failure
# (the message comes back) rather than an invocation error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
logger.info("init done", extra={"init_seconds": round(time.perf_counter() - _started, 3),
                                "table": cfg.table or None, "bucket": cfg.bucket or None})


def record_handler(record: SQSRecord) -> dict:
    """One message; raising marks it failed (delivered again). A malformed body is dropped."""
    try:
        message = JobMessage.parse(record.body)
    except ValueError:
        logger.error("malformed job message dropped", extra={"message_id": record.message_id})
        return {"action": "dropped"}
    outcome = worker.run(message)
    return {"jobId": outcome.job_id, "action": outcome.action}


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
