"""Lambda entry point for S3 ObjectCreated events under uploads/ (see cutout.jobs.s3_uploads).

Everything slow happens once per container, at import: the model session, the
S3 client (shared by the blob store of every bucket an event names), the
account store and the idempotency layer.
"""
from __future__ import annotations

import time

_started = time.perf_counter()

import boto3  # noqa: E402
from aws_lambda_powertools import Logger  # noqa: E402
from aws_lambda_powertools.utilities.idempotency import (  # noqa: E402
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

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

logger = Logger(service="cutout-s3-trigger")
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


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    if cfg.table:
        idempotency.register_lambda_context(context)
    return trigger.handle(event)
