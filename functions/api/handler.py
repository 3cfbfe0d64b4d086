"""AWS Lambda entry point of the HTTP API: API Gateway (payload 2.0) -> Mangum -> FastAPI.

Everything slow happens once per execution environment, at import, during
Lambda's init phase: the app is built and the ONNX model session created
(never per request, and never in a lifespan hook, which Mangum would run on
every invocation). The init time is logged.

Per invocation, Powertools puts the Lambda and API Gateway request ids on every
log line (never the event: it holds the image), turns the request's access-log
record into EMF metrics, and traces when tracing is on; the finished response
gets a last check against Lambda's 6 MB response limit, so an oversized
response becomes a 413 that says so instead of API Gateway's bare 502.
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
from aws_lambda_powertools.metrics import MetricUnit  # noqa: E402
from mangum import Mangum  # noqa: E402

from cutout.config import Settings, settings  # noqa: E402
from cutout.web import create_app  # noqa: E402
from cutout.web.delivery import LAMBDA_RESPONSE_LIMIT, fit_lambda_response  # noqa: E402
from cutout.web.dialects import too_large_body  # noqa: E402

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
    return cfg


def outcome_of(status: int) -> str:
    if status >= 500:
        return "error"
    if status in REFUSALS:
        return "refused"
    return "client_error" if status >= 400 else "ok"


class RequestMetrics(logging.Filter):
    """Turns each request's access-log record into metrics of the current invocation.

    The record (written by the app's RequestContext middleware) carries path,
    status and duration, and what the route noted: mode, outcome, megapixels.
    Dimensions are mode and outcome only, so the number of metrics stays small;
    `Metrics.log_metrics` flushes them as one EMF line when the invocation ends.
    The access logger stays at INFO so that metrics do not depend on the log
    level; this filter then drops the line itself when the level is higher.
    """

    def __init__(self, metrics: Metrics, log_level: str = "INFO") -> None:
        super().__init__()
        self.metrics = metrics
        self.threshold = logging.getLevelName(log_level.upper())
        if not isinstance(self.threshold, int):
            self.threshold = logging.INFO

    def filter(self, record: logging.LogRecord) -> bool:
        status = int(getattr(record, "status", 0) or 0)
        outcome = getattr(record, "outcome", None) or outcome_of(status)
        self.metrics.add_dimension("mode", str(getattr(record, "mode", None) or "none"))
        self.metrics.add_dimension("outcome", str(outcome))
        self.metrics.add_metric("Requests", MetricUnit.Count, 1)
        self.metrics.add_metric("Latency", MetricUnit.Milliseconds,
                                float(getattr(record, "duration_ms", 0.0) or 0.0))
        megapixels = getattr(record, "megapixels", None)
        if megapixels is not None and outcome == "ok":
            self.metrics.add_metric("Images", MetricUnit.Count, 1)
            self.metrics.add_metric("Megapixels", MetricUnit.Count, float(megapixels))
        return record.levelno >= self.threshold


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

    capture = Tracer(service=SERVICE).capture_lambda_handler(capture_response=False)  # bodies hold images
_access = logging.getLogger("cutout.access")
_access.setLevel(logging.INFO)
_request_metrics = RequestMetrics(metrics, CONFIG.log_level)  # on the logger during invocations only
logging.getLogger("mangum").setLevel(logging.WARNING)  # the access-log line says it all
asgi = Mangum(app, lifespan="off")
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

    The metrics filter watches the access log for this invocation only: Powertools keeps
    one metric set per process, so a filter left on the shared logger (another copy of
    this module, an app served outside Lambda) would add each request's dimensions twice.
    """
    _access.addFilter(_request_metrics)
    try:
        response = asgi(event, context)
    finally:
        _access.removeFilter(_request_metrics)
    return fit_lambda_response(response, CONFIG.max_response_bytes, too_large_body)
