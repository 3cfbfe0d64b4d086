"""CORS: browsers may call every dialect's routes from any allowed origin.

Starlette's CORSMiddleware answers preflights (`OPTIONS` with `Origin` and
`Access-Control-Request-Method`) and adds `Access-Control-Allow-Origin` and
`Access-Control-Expose-Headers` to real responses. The lists below are the
single source: `template.yaml`'s HTTP API `CorsConfiguration` must list the same
headers (tests/deploy/test_template.py checks it), since API Gateway answers
preflights itself when it has a CORS configuration.

Keys travel in headers, never cookies, so credentials are not allowed and the
default origin `*` (CUTOUT_CORS_ORIGINS) is safe for a key-authenticated API.
"""
from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

# Request headers the dialects read (API keys, RapidAPI's proxy headers, idempotency, ids).
# content-type, accept and the other CORS-safelisted headers are always allowed too.
ALLOW_HEADERS: tuple[str, ...] = (
    "authorization",
    "content-type",
    "x-api-key",
    "ocp-apim-subscription-key",
    "x-rapidapi-key",
    "x-rapidapi-host",
    "x-rapidapi-proxy-secret",
    "x-rapidapi-user",
    "x-rapidapi-subscription",
    "idempotency-key",
    "x-request-id",
)
# Response headers clients read; a browser hides any header not listed here from scripts.
EXPOSE_HEADERS: tuple[str, ...] = (
    "X-Request-Id",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "X-Credits-Charged",
    "X-Width",
    "X-Height",
    "X-Max-Width",
    "X-Max-Height",
    "X-Foreground-Top",
    "X-Foreground-Left",
    "X-Foreground-Width",
    "X-Foreground-Height",
    "X-Image-Processing-Usage",
    "X-Uncertainty-Score",
    "x-ms-error-code",
    "Content-Disposition",
)
ALLOW_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
MAX_AGE_SECONDS = 600  # how long a browser may cache a preflight answer


def add_cors(app: FastAPI, origins: tuple[str, ...]) -> None:
    """Let `origins` (exact origins such as `https://shop.example`, or `*`) call `app` from a browser.

    Add it last, so it wraps the other middleware and its headers reach every
    answer, the 413s and the access refusals included.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[origin.rstrip("/") for origin in origins] or ["*"],  # Origin has no "/"
        allow_methods=list(ALLOW_METHODS),
        allow_headers=list(ALLOW_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
        allow_credentials=False,
        max_age=MAX_AGE_SECONDS,
    )
