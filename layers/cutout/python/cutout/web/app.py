"""Build the FastAPI application: engine, routers, middleware, error handlers.

The model is loaded here, when the app is created (module import time in the
Lambda handler), never in a lifespan hook: Mangum would run it per invocation.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .. import __version__, logs, model
from ..config import Settings, settings
from . import api4ai
from .middleware import RequestContext
from .processing import Engine

log = logging.getLogger(__name__)


def create_app(cfg: Settings | None = None, segmenter: model.Segmenter | None = None) -> FastAPI:
    cfg = cfg or settings()
    logs.configure(cfg.log_level)
    segmenter = segmenter or model.default_segmenter()
    app = FastAPI(
        title="Cutout",
        version=__version__,
        description="Background removal: cut-outs, masks and shadows from any photo.",
    )
    app.state.engine = Engine(segmenter, cfg)
    app.include_router(api4ai.router)
    app.add_middleware(RequestContext, max_body=cfg.max_request_bytes)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(
            {"detail": "Internal error; the request was not processed.",
             "request_id": request.scope.get("state", {}).get("request_id")},
            status_code=500,
        )

    log.info(
        "service ready",
        extra={"model": segmenter.spec.name, "model_path": str(segmenter.path),
               "model_load_seconds": round(segmenter.load_seconds, 3),
               "threads": segmenter.threads},
    )
    return app
