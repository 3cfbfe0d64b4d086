"""Assemble the FastAPI application: the composition root, every dialect, middleware.

The model is loaded here, when the app is created (module import time in the
Lambda handler), never in a lifespan hook: Mangum would run it per invocation.
No dialect is named here: `dialects.DIALECTS` lists them.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .. import __version__, logs
from ..config import Settings, settings
from ..engine import model
from ..reconcile import Reconciler
from ..services import Services
from ..stores import store_label
from . import blob_routes, health, openapi, origin
from .auth import Access
from .cors import add_cors
from .dialects import DIALECTS
from .inputs import Downloads
from .middleware import MeteringHeaders, RequestContext
from .page import add_page

log = logging.getLogger(__name__)


def create_app(cfg: Settings | None = None, segmenter: model.Segmenter | None = None) -> FastAPI:
    """The app for `cfg` (default: the environment's) on `segmenter` (default: loaded now)."""
    cfg = cfg or settings()
    origin.check(cfg)  # a bad CUTOUT_PUBLIC_BASE_URL or CUTOUT_TRUSTED_PROXIES stops the start
    logs.configure(cfg.log_level)
    segmenter = segmenter or model.load(cfg)
    found = Services.build(cfg, segmenter)
    app = FastAPI(
        title="Cutout",
        version=__version__,
        description="Background removal: cut-outs, masks and shadows from any photo.",
        docs_url=None, redoc_url=None,  # FastAPI's pages load a CDN; openapi.install serves /docs
    )
    app.state.services = found
    app.state.downloads = Downloads.of(cfg)  # URL inputs: their own threads, a bound per key
    app.state.access = Access(found.accounts, found.proxy_secret,
                              # fails fast on a bad plan name
                              found.accounts.anonymous(cfg.anonymous_plan) if cfg.allow_anonymous
                              else None)
    # Rate-limit and credit headers on metered responses, refunds of failed ones.
    app.add_middleware(MeteringHeaders)
    for dialect in DIALECTS:
        for mount in dialect.mounts:
            app.include_router(mount.router, prefix=mount.prefix, include_in_schema=mount.in_schema)
    app.include_router(blob_routes.router)  # the local result store's signed URLs
    found.jobs.resume()  # the in-process pool picks up jobs a stopped server left
    # Pending charges of requests that never ended are refunded: now, then on a timer
    # (CUTOUT_RECONCILE_SECONDS; the Lambda handlers set 0, a scheduled function runs it).
    app.state.reconciler = Reconciler(found.store, cfg.reconcile_seconds)
    app.state.reconciler.start()
    openapi.install(app, DIALECTS)  # the spec's shared parts, and /docs from the package
    app.include_router(health.router)
    add_page(app)
    app.add_middleware(RequestContext, max_body=cfg.max_request_bytes,
                       secret_paths=tuple(p for d in DIALECTS for p in d.secret_paths),
                       backend_deadline_seconds=cfg.backend_deadline_seconds)
    add_cors(app, cfg.cors_origins)  # 413s and refusals carry CORS headers too
    # Outermost: a trusted proxy's X-Forwarded-* become the request's scheme, Host and client.
    app.add_middleware(origin.ForwardedHeaders, trusted=cfg.trusted_proxies)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(
            {"detail": "Internal error; the request was not processed.",
             "request_id": request.scope.get("state", {}).get("request_id")},
            status_code=500,
        )

    quality = found.meter.quality
    log.info(
        "service ready",
        extra={"model": segmenter.spec.name, "model_path": str(segmenter.path),
               "model_load_seconds": round(segmenter.load_seconds, 3),
               "threads": segmenter.threads,
               "quality_model": quality.name if quality else None,
               "store": store_label(cfg),
               "results": f"s3:{cfg.bucket}" if cfg.bucket else f"local:{cfg.data_dir}",
               "anonymous": cfg.allow_anonymous},
    )
    return app
