"""GET /health and GET /ready for load balancers and containers: no key, never metered.

`/health` answers 200 while the process serves HTTP (liveness). `/ready`
(readiness) also checks what a request needs: the model session is loaded and
the store that holds keys and limits answers one read; otherwise 503 with
`Retry-After`, so a balancer sends traffic elsewhere until it recovers.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..accounts.keys import ANONYMOUS_ID, minute_of
from ..errors import RETRY_AFTER_SECONDS
from ..services import Services
from ..stores import StoreUnavailable
from .processing import services

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


# HEAD too (a route of its own, so the spec's operation ids stay stable): uptime checkers
# and load balancers send it; the answer is GET's without a body.
@router.head("/health", summary="Liveness, for HEAD probes (no body)")
@router.get("/health", summary="Liveness: the process answers (no key, not metered)")
async def health() -> dict[str, str]:
    """Liveness: 200 `{"status": "ok"}` whenever the process answers."""
    return {"status": "ok"}


def _store_check(found: Services) -> str:
    """`ok`, or why the store cannot be read (one read of the anonymous account's window)."""
    try:
        found.store.window(ANONYMOUS_ID, minute_of(time.time()))
    except StoreUnavailable as exc:
        log.warning("readiness: store unavailable", extra={"error": str(exc)})
        return "unavailable"
    return "ok"


_NOT_READY: dict[int | str, dict[str, Any]] = {503: {"description": "Not ready: the model is not loaded or the store does not "
                                   "answer; retry after Retry-After seconds."}}


@router.head("/ready", summary="Readiness, for HEAD probes (no body)", responses=_NOT_READY)
@router.get("/ready", summary="Readiness: model loaded and store reachable (no key, not metered)",
            responses=_NOT_READY)
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when the model is loaded and the store answers, else 503.

    Body: `{"status": "ready" | "not ready", "checks": {"model": "ok" | "not loaded",
    "store": "ok" | "unavailable"}, "model": <model name>}`; a 503 carries
    `Retry-After: 5` (seconds).
    """
    found = services(request)
    segmenter = found.meter.segmenter
    loaded = getattr(segmenter, "session", None) is not None
    checks: dict[str, Any] = {"model": "ok" if loaded else "not loaded",
                              "store": await run_in_threadpool(_store_check, found)}
    good = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if good else "not ready", "checks": checks,
            "model": segmenter.spec.name}
    if good:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
