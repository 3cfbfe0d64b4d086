"""Lambda entry point for S3 ObjectCreated events under uploads/ (see cutout.jobs.s3_uploads).

Everything slow happens once per container, at import: the model session, the
S3 client (shared by the blob store of every bucket an event names), the
account store and the idempotency layer. What the package reports (credits
charged and refunded, cut time: cutout/telemetry.py) goes out as EMF lines
through Powertools; with tracing on, boto3 is patched and each invocation traced.
"""
from __future__ import annotations

import os
import time

_started = time.perf_counter()

import boto3  # noqa: E402
from aws_lambda_powertools import Logger  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: E402
from aws_lambda_powertools.utilities.idempotency import (  # noqa: E402
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from cutout import telemetry  # noqa: E402
from cutout.blobs.s3 import S3BlobStore  # noqa: E402
from cutout.engine import images, model  # noqa: E402
from cutout.engine.workload import Workload  # noqa: E402
from cutout.accounts.keys import Account  # noqa: E402
from cutout.accounts.plans import load_plans  # noqa: E402
from cutout.config import settings  # noqa: E402
from cutout.accounts.ratelimit import Limiter  # noqa: E402
from cutout.jobs.s3_uploads import Trigger  # noqa: E402
from cutout.metering import Meter  # noqa: E402
from cutout.stores import open_store  # noqa: E402

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "cutout")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Cutout")
logger = Logger(service="cutout-s3-trigger")
tracer = None
if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true"):
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE)  # patches botocore (its class: every client is traced)
cfg = settings()
segmenter = model.load(cfg)
plan = load_plans(cfg.plans_file).get(cfg.s3_plan)
account = Account(cfg.s3_account, "service", plan.name, plan.mp_per_minute, plan.monthly_credits)
once = None
limiter = None
if cfg.table:
    limiter = Limiter(open_store(cfg), fail_open=cfg.limiter_fail_open)
    idempotency = IdempotencyConfig(
        # bucket, key and ETag name one version of one object: the same upload
        event_key_jmespath="[bucket, key, etag]",
        expires_after_seconds=7 * 24 * 3600,  # longer than S3's redelivery window
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=cfg.table, key_attr="pk", sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#s3-trigger", expiry_attr="ttl",
    )

    def once(function):
        return idempotent_function(
            function, data_keyword_argument="upload", persistence_store=persistence, config=idempotency
        )

s3 = boto3.client("s3")
meter = Meter(segmenter, images.Limits(cfg.max_megapixels, cfg.max_bytes), limiter,
              workload=Workload(cfg.max_concurrent_cuts, -1.0), png_level=cfg.png_compress_level)
trigger = Trigger(lambda bucket: S3BlobStore(bucket, s3), meter, account=account, once=once)
logger.info("init done", extra={"init_seconds": round(time.perf_counter() - _started, 3),
                                "model": segmenter.spec.name, "table": cfg.table or None})


# What the package reports, as EMF lines (service + the measurement's own dimensions),
# heard during an invocation only (a copy of this module left loaded must not echo them).
emit = telemetry.single_metric_sink(single_metric, MetricUnit, NAMESPACE, SERVICE)


def _handle(event: dict, context: object) -> dict:
    if cfg.table:
        idempotency.register_lambda_context(context)
    disconnect = telemetry.connect(emit)
    try:
        return trigger.handle(event)
    finally:
        disconnect()


_traced = tracer.capture_lambda_handler(_handle, capture_response=False) if tracer else _handle


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    return _traced(event, context)
