"""Build the FastAPI application: engine, routers, middleware, error handlers.

The model is loaded here, when the app is created (module import time in the
Lambda handler), never in a lifespan hook: Mangum would run it per invocation.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .. import __version__, blobs, imagelib, logs
from ..engine import model
from ..jobs.submit import open_jobs
from ..config import Settings, settings
from ..engine.workload import Workload
from . import account, auth, health, large_results, openapi
from .cors import add_cors
from .dialects import adobe, api4ai, azure, imgproc, imgproc_ops, imgproc_params, removebg
from .page import add_page
from .middleware import RequestContext
from .processing import Engine

log = logging.getLogger(__name__)


def create_app(cfg: Settings | None = None, segmenter: model.Segmenter | None = None) -> FastAPI:
    cfg = cfg or settings()
    logs.configure(cfg.log_level)
    segmenter = segmenter or model.load(cfg)
    app = FastAPI(
        title="Cutout",
        version=__version__,
        description="Background removal: cut-outs, masks and shadows from any photo.",
        docs_url=None, redoc_url=None,  # FastAPI's pages load a CDN; openapi.install serves /docs
    )
    app.state.engine = Engine(segmenter, cfg, auth.Access(cfg),
                              Workload(cfg.max_concurrent_cuts, cfg.trim_idle_seconds))
    # Accounts and metering: 401/402/403/429/503 in the route's dialect (a dialect adds
    # its shape with app.state.access_renderers[prefix] = body_fn), rate-limit headers
    # on metered responses, refunds when the server fails after admission.
    app.state.access_renderers = {}
    app.add_exception_handler(auth.AccessError, auth.access_error_handler)
    app.add_middleware(auth.MeteringHeaders)
    app.include_router(account.router)
    app.include_router(api4ai.router)
    # API4AI's own hosts serve the same API under this prefix; clients with it in their
    # base URL work unchanged (one operation each in the spec: the alias is not listed).
    app.include_router(api4ai.router, prefix=api4ai.HOSTED_PREFIX, include_in_schema=False)
    app.include_router(removebg.router)
    app.include_router(azure.router)
    # Results over the response limit go to the result store (S3 on Lambda); see large_results.
    app.state.blobs = blobs.open_blobs(cfg)
    app.include_router(large_results.router)
    # Asynchronous jobs (Adobe's Remove Background v2): SQS, or a worker pool in this process.
    app.state.jobs = open_jobs(cfg, app.state.engine.access.store, app.state.blobs, segmenter)
    app.state.access_renderers["/v2/"] = adobe.access_body
    app.include_router(adobe.router)
    app.state.jobs.resume()
    # Stored images (IMG Processing's API): records in the store, bytes under images/.
    app.state.image_library = imagelib.ImageLibrary(app.state.engine.access.store, app.state.blobs,
                                                    cfg.image_ttl_days)
    app.state.access_renderers[imgproc.PREFIX] = imgproc_params.access_body
    app.include_router(imgproc.router)
    app.include_router(imgproc_ops.router)  # after: its catch-all answers unknown operations
    app.include_router(imgproc.public_router)
    openapi.install(app)  # the spec's shared parts, and /docs from the package
    app.include_router(health.router)
    add_page(app)
    app.add_middleware(RequestContext, max_body=cfg.max_request_bytes)
    add_cors(app, cfg.cors_origins)  # outermost: 413s and refusals carry CORS headers too

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
               "threads": segmenter.threads,
               "store": f"dynamodb:{cfg.table}" if cfg.table else f"sqlite:{cfg.data_dir}",
               "results": f"s3:{cfg.bucket}" if cfg.bucket else f"local:{cfg.data_dir}",
               "anonymous": cfg.allow_anonymous},
    )
    return app
