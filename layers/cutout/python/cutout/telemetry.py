"""What happened, for whoever measures it: the package's metrics, without a metrics library.

The package imports no metrics client (the Lambda handlers own Powertools). At
the moments an operator cares about, the code that knows calls one function
here; each call becomes a `Measurement` handed to every connected sink:

    charged(credits, megapixels)  the limiter admitted a request (accounts/ratelimit.py)
    refunded(credits)             a charge was taken back (the limiter, the job worker)
    refund_failed(credits)        a refund could not be written: the charge stands
    cut(started, tier)            a cut-out's pixel work ended (metering.py)
    fetch_failed(error)           an image download failed or was refused (fetch.py)
    job_finished(status, age)     a job ended, `age` seconds after it was accepted
    webhook(outcome)              a job's webhook was delivered, refused or given up

The functions' handlers connect a sink that writes each measurement as
CloudWatch embedded-metric-format through Powertools (functions/*/handler.py);
elsewhere (`make run`, the CLI, library use) nothing is connected and a call
costs a tuple lookup. Names, units and dimensions are CloudWatch's: `unit` is
one of CloudWatch's standard units (Count, Seconds, Milliseconds), dimension
values are short fixed words, never ids. docs/observability.md lists them all.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

COUNT = "Count"
SECONDS = "Seconds"
MILLISECONDS = "Milliseconds"

# Metric names, written once (the template's dashboard and alarm use the same words).
CREDITS_CHARGED = "CreditsCharged"
CREDITS_REFUNDED = "CreditsRefunded"
REFUND_FAILURES = "RefundFailures"
CUT_TIME = "CutTime"
FETCH_FAILURES = "FetchFailures"
JOB_AGE = "JobAge"
WEBHOOK_DELIVERIES = "WebhookDeliveries"


@dataclass(frozen=True)
class Measurement:
    """One value of one metric.

    `unit` is a CloudWatch standard unit; `dimensions` (name -> short fixed word) split
    the metric; `detail` holds numbers that ride along for a sink that wants them and are
    never dimensions (a charge's megapixels: the API handler counts them per request, by
    dialect, tier and outcome).
    """

    name: str
    value: float
    unit: str = COUNT
    dimensions: Mapping[str, str] = field(default_factory=dict)
    detail: Mapping[str, float] = field(default_factory=dict)


Sink = Callable[[Measurement], None]
_sinks: tuple[Sink, ...] = ()
_lock = threading.Lock()


def connect(sink: Sink) -> Callable[[], None]:
    """Hand every later measurement to `sink` (called in the thread that measured); returns
    the function that disconnects it. A sink that raises is logged and skipped."""
    global _sinks
    with _lock:
        _sinks = (*_sinks, sink)

    def disconnect() -> None:
        global _sinks
        with _lock:
            _sinks = tuple(s for s in _sinks if s is not sink)

    return disconnect


def single_metric_sink(single_metric: Callable[..., Any], unit: Callable[[str], Any],
                       namespace: str, service: str) -> Sink:
    """A sink writing each measurement as one EMF line with Powertools' `single_metric`
    (handed in by the handler: the package imports no Powertools): dimensions `service` and
    the measurement's own, `unit` Powertools' MetricUnit (built from CloudWatch's name)."""

    def sink(measurement: Measurement) -> None:
        with single_metric(name=measurement.name, unit=unit(measurement.unit),
                           value=measurement.value, namespace=namespace,
                           default_dimensions={"service": service, **measurement.dimensions}):
            pass

    return sink


def record(name: str, value: float, unit: str = COUNT, *, detail: Mapping[str, float] | None = None,
           **dimensions: str) -> None:
    """Hand one measurement to the connected sinks (none: nothing happens)."""
    sinks = _sinks
    if not sinks:
        return
    measurement = Measurement(name, float(value), unit, dimensions, detail or {})
    for sink in sinks:
        try:
            sink(measurement)
        except Exception:  # a metric must never fail the work it describes
            log.exception("metrics sink failed", extra={"metric": name})


def charged(credits: float, megapixels: float) -> None:
    """The limiter admitted a request: `credits` this month, `megapixels` against the window."""
    record(CREDITS_CHARGED, credits, detail={"megapixels": megapixels})


def refunded(credits: float) -> None:
    """A charge of `credits` was taken back (the request or job failed on our side)."""
    record(CREDITS_REFUNDED, credits)


def refund_failed(credits: float) -> None:
    """A refund of `credits` could not be written: the customer stays charged (alarmed)."""
    record(REFUND_FAILURES, 1)


def clock() -> float:
    """The start of a timed step, for `cut` (a monotonic clock, seconds)."""
    return time.perf_counter()


def cut(started: float, tier: str) -> None:
    """A cut-out's pixel work, begun at `started` (`clock()`), ended; `tier` is its quality
    tier (engine/tiers.py: fast, fast-tta, quality, quality-tta)."""
    record(CUT_TIME, (time.perf_counter() - started) * 1000.0, MILLISECONDS, tier=tier)


def fetch_failed(error: BaseException) -> None:
    """An image download failed: reason `refused` (the guard or a limit said no) or `failed`
    (unreachable, an HTTP error, a timeout), from the error's class name."""
    record(FETCH_FAILURES, 1, reason="refused" if "Refused" in type(error).__name__ else "failed")


def counts_failures(errors: type[BaseException], report: Callable[[BaseException], None]
                    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: call `report(error)` whenever the function raises one of `errors`, then re-raise."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except errors as exc:
                report(exc)
                raise

        return wrapper

    return decorate


def job_finished(status: str, age_seconds: float) -> None:
    """A job ended `status` (succeeded, failed) `age_seconds` after it was accepted."""
    record(JOB_AGE, max(0.0, age_seconds), SECONDS, status=status)


def webhook(outcome: str) -> None:
    """A job's webhook ended: `delivered` (a 2xx), `refused` (the SSRF guard said no) or
    `failed` (every attempt failed)."""
    record(WEBHOOK_DELIVERIES, 1, outcome=outcome)
