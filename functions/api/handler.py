"""AWS Lambda entry point of the HTTP API: API Gateway (payload 2.0) -> Mangum -> FastAPI.

Everything slow happens once per execution environment, at import, during
Lambda's init phase: the app is built and the ONNX model session created
(never per request, and never in a lifespan hook, which Mangum would run on
every invocation). The init time is logged.

Per invocation, Powertools puts the Lambda and API Gateway request ids on every
log line (never the event: it holds the image) and traces when tracing is on
(boto3 patched, so DynamoDB, S3 and SQS calls are subsegments, and a job's SQS
message carries the trace on to the jobs function). The request's metrics go
out as one EMF line when the invocation ends: Requests, Latency, Megapixels
and Images by dialect, tier and outcome (`RequestMetrics`); what the package
reports meanwhile (credits, cut time, fetch failures: cutout/telemetry.py)
goes out as EMF lines of their own. The finished response gets a last check
against Lambda's 6 MB response limit, so an oversized response becomes a 413
that says so instead of API Gateway's bare 502.
"""
from __future__ import annotations

import time

_IMPORT_STARTED = time.perf_counter()

import logging  # noqa: E402
import os  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

from aws_lambda_powertools import Logger, Metrics  # noqa: E402
from aws_lambda_powertools.logging import correlation_paths  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: E402
from mangum import Mangum  # noqa: E402

from cutout import telemetry  # noqa: E402
from cutout.config import Settings, settings  # noqa: E402
from cutout.web import create_app  # noqa: E402
from cutout.web.delivery import LAMBDA_RESPONSE_LIMIT, fit_lambda_response  # noqa: E402
from cutout.web.dialects import too_large_body  # noqa: E402
from cutout.web.route_dialect import dialect_of  # noqa: E402

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "cutout")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Cutout")
REFUSALS = {401, 402, 403, 429}


def lambda_settings() -> Settings:
    """The environment's settings, with the response limit that Lambda imposes."""
    cfg = settings()
    limit = cfg.max_response_bytes
    if limit <= 0 or limit > LAMBDA_RESPONSE_LIMIT:
        cfg = replace(cfg, max_response_bytes=LAMBDA_RESPONSE_LIMIT)
    if "CUTOUT_RECONCILE_SECONDS" not in os.environ:
        # Not in every API instance: the scheduled reconcile function does it (template.yaml).
        cfg = replace(cfg, reconcile_seconds=0.0)
    if "CUTOUT_TRIM_IDLE_SECONDS" not in os.environ:
        # One request at a time in memory Lambda reserves anyway: handing it back while
        # frozen between invocations would only make the next request page-fault again.
        cfg = replace(cfg, trim_idle_seconds=-1.0)
    if "CUTOUT_ALLOWED_HOSTS" not in os.environ:
        # API Gateway hands this function only requests whose Host is the API's own
        # (its execute-api domain, or a custom domain mapped to it): a Host that reaches
        # the function may name the API's URLs (CUTOUT_PUBLIC_BASE_URL, the template's
        # PublicBaseUrl, fixes them instead).
        cfg = replace(cfg, allowed_hosts=("*",))
    return cfg


def outcome_of(status: int) -> str:
    if status >= 500:
        return "error"
    if status in REFUSALS:
        return "refused"
    return "client_error" if status >= 400 else "ok"


class RequestMetrics:
    """One request's metrics, by dialect, tier and outcome, flushed when the invocation ends.

    An ASGI wrapper around the app: it sees the status sent, the matched route (the
    dialect) and what the route noted for the access log (`outcome`: "failure" for an
    unusable image answered 200); while the request runs it hears the package's
    measurements (telemetry): the tier of a cut, the megapixels charged. Powertools keeps
    one metric set per process, flushed by `Metrics.log_metrics` at the end of the
    invocation: Requests, Latency (ms), and for a charged request Megapixels, with Images
    1 when it succeeded. Dimensions stay few (5 dialects x 5 tiers x 5 outcomes at most).
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.tier = "none"
        self.megapixels = 0.0

    def heard(self, measurement: telemetry.Measurement) -> None:
        if measurement.name == telemetry.CUT_TIME:
            self.tier = measurement.dimensions.get("tier", self.tier)
        elif measurement.name == telemetry.CREDITS_CHARGED:
            self.megapixels += measurement.detail.get("megapixels", 0.0)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.tier, self.megapixels = "none", 0.0
        status = {"code": 500}
        started = time.perf_counter()

        async def sent(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            noted = scope.get("state", {}).get("log_fields", {})
            outcome = noted.get("outcome") or outcome_of(status["code"])
            self.metrics.add_dimension("dialect", dialect_of(scope.get("route")))
            self.metrics.add_dimension("tier", self.tier)
            self.metrics.add_dimension("outcome", outcome)
            self.metrics.add_metric("Requests", MetricUnit.Count, 1)
            self.metrics.add_metric("Latency", MetricUnit.Milliseconds,
                                    round((time.perf_counter() - started) * 1000, 1))
            if self.megapixels:
                self.metrics.add_metric("Megapixels", MetricUnit.Count, round(self.megapixels, 6))
                if outcome == "ok":
                    self.metrics.add_metric("Images", MetricUnit.Count, 1)


CONFIG = lambda_settings()
app = create_app(CONFIG)  # loads the model: the slow part of a cold start
# Created after the app, whose logs.configure() resets the root handlers: the Powertools
# logger owns the "cutout" logger tree and keeps its records off the root handler.
logger = Logger(service=SERVICE, level=CONFIG.log_level)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
    def capture(function):  # no tracer at all: constructing one imports the X-Ray SDK (~0.2 s)
        return function
else:
    from aws_lambda_powertools import Tracer

    # Patches botocore: the store's, the blobs' and the queue's calls become subsegments, and
    # every AWS request carries the trace header (SQS keeps it on the job's message).
    tracer = Tracer(service=SERVICE)
    capture = tracer.capture_lambda_handler(capture_response=False)  # bodies hold images
logging.getLogger("mangum").setLevel(logging.WARNING)  # the access-log line says it all
request_metrics = RequestMetrics(app, metrics)
# What the package reports, as EMF lines of their own (service + their dimensions).
emit = telemetry.single_metric_sink(single_metric, MetricUnit, NAMESPACE, SERVICE)
asgi = Mangum(request_metrics, lifespan="off")
INIT_SECONDS = time.perf_counter() - _IMPORT_STARTED

_segmenter = app.state.services.meter.segmenter
logger.info(
    "init complete",
    extra={"init_seconds": round(INIT_SECONDS, 3), "model": _segmenter.spec.name,
           "model_load_seconds": round(_segmenter.load_seconds, 3),
           "threads": _segmenter.threads, "max_response_bytes": CONFIG.max_response_bytes},
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP,
                              log_event=False, clear_state=True)
@capture
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One HTTP API request -> one response, never larger than Lambda accepts.

    The package's measurements reach this invocation's metrics only while it runs: a sink
    left connected (another copy of this module, an app served outside Lambda) would count
    another request's charges here.
    """
    disconnect = telemetry.connect(_heard)
    try:
        response = asgi(event, context)
    finally:
        disconnect()
    return fit_lambda_response(response, CONFIG.max_response_bytes, too_large_body)


def _heard(measurement: telemetry.Measurement) -> None:
    emit(measurement)
    request_metrics.heard(measurement)
