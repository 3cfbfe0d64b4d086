"""Lambda entry point of the jobs function: SQS messages {"jobId"} -> cutout.jobs.worker.

Batch size 1 and partial batch failure reporting (Powertools BatchProcessor,
ReportBatchItemFailures in the template): a message whose run raised (JobBusy,
storage down, a crash) is reported failed, so SQS delivers it again after the
visibility timeout and, after maxReceiveCount, moves it to the dead-letter
queue. A finished job's message is dropped by the worker, so a redelivery never
cuts, charges or refunds twice. Slow things (model, clients) happen at import.

Metrics (EMF through Powertools, namespace Cutout): QueueWait, the seconds a
message waited before its first delivery (SQS's SentTimestamp to
ApproximateFirstReceiveTimestamp); and what the worker reports
(cutout/telemetry.py): JobAge by status, CutTime by tier, refunds, webhook
deliveries, fetch failures. With tracing on, boto3 is patched (the store's and
the bucket's calls are subsegments) and each invocation is annotated with its
job id, so the API function's trace of the submission and this one are found
together (X-Ray links them through the message's AWSTraceHeader).
"""
from __future__ import annotations

import os
import time

_started = time.perf_counter()

from aws_lambda_powertools import Logger, Metrics  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: E402
from aws_lambda_powertools.utilities.batch import (  # noqa: E402
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: E402

from dataclasses import replace  # noqa: E402

from cutout import telemetry  # noqa: E402
from cutout.config import settings  # noqa: E402
from cutout.engine import model  # noqa: E402
from cutout.queues import JobMessage  # noqa: E402
from cutout.services import Services  # noqa: E402

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "cutout")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Cutout")
logger = Logger(service="cutout-jobs")
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = None
if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true"):
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE)  # patches botocore (its class: every client is traced)
cfg = settings()
if "CUTOUT_TRIM_IDLE_SECONDS" not in os.environ:  # memory Lambda reserves anyway: keep it
    cfg = replace(cfg, trim_idle_seconds=-1.0)
worker = Services.build(cfg, model.load(cfg)).worker
# With batch size 1 every failure is a whole batch's: report it as a batch item failure
# (the message comes back) rather than an invocation error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
logger.info("init done", extra={"init_seconds": round(time.perf_counter() - _started, 3),
                                "table": cfg.table or None, "bucket": cfg.bucket or None})


# What the package reports, as EMF lines (service + the measurement's own dimensions),
# heard during an invocation only (a copy of this module left loaded must not echo them).
emit = telemetry.single_metric_sink(single_metric, MetricUnit, NAMESPACE, SERVICE)


def queue_wait(record: SQSRecord) -> float | None:
    """Seconds the message waited before its first delivery; None on a redelivery."""
    attributes = record.attributes
    if attributes.approximate_receive_count != "1":
        return None
    sent, received = attributes.sent_timestamp, attributes.approximate_first_receive_timestamp
    return max(0, int(received) - int(sent)) / 1000 if sent and received else None


def record_handler(record: SQSRecord) -> dict:
    """One message; raising marks it failed (delivered again). A malformed body is dropped."""
    waited = queue_wait(record)
    if waited is not None:
        metrics.add_metric("QueueWait", MetricUnit.Seconds, waited)
    try:
        message = JobMessage.parse(record.body)
    except ValueError:
        logger.error("malformed job message dropped", extra={"message_id": record.message_id})
        return {"action": "dropped"}
    if tracer is not None:
        tracer.put_annotation("job_id", message.job_id)
    outcome = worker.run(message)
    return {"jobId": outcome.job_id, "action": outcome.action}


def _handle(event: dict, context: object) -> dict:
    disconnect = telemetry.connect(emit)
    try:
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)
    finally:
        disconnect()


_traced = tracer.capture_lambda_handler(_handle, capture_response=False) if tracer else _handle


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    try:
        return _traced(event, context)
    finally:
        if metrics.metric_set:  # QueueWait: a redelivery has none, and then nothing is written
            metrics.flush_metrics()
