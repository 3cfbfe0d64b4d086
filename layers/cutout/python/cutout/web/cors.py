"""CORS: browsers may call every dialect's routes from any allowed origin.

Starlette's CORSMiddleware answers preflights (`OPTIONS` with `Origin` and
`Access-Control-Request-Method`) and adds `Access-Control-Allow-Origin` and
`Access-Control-Expose-Headers` to real responses. The lists are derived here
from what every dialect declares (its key, request and response headers) and
what all share; `template.yaml`'s HTTP API `CorsConfiguration` must list the same
headers (tests/deploy/test_template.py checks it), since API Gateway answers
preflights itself when it has a CORS configuration.

Keys travel in headers, never cookies, so credentials are not allowed and the
default origin `*` (CUTOUT_CORS_ORIGINS) is safe for a key-authenticated API.
"""
from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from .dialects import DIALECTS
from .processing import UNCERTAINTY_HEADER

# Request headers every route may read (RapidAPI's proxy headers, request ids); content-type,
# accept and the other CORS-safelisted headers are always allowed too.
SHARED_REQUEST_HEADERS = ("content-type", "x-rapidapi-key", "x-rapidapi-host",
                          "x-rapidapi-proxy-secret", "x-rapidapi-user", "x-rapidapi-subscription",
                          "x-request-id")
# Response headers of every metered route; a browser hides any header not exposed from scripts.
SHARED_RESPONSE_HEADERS = ("X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                           "X-RateLimit-Reset", "Retry-After", "X-Credits-Charged",
                           UNCERTAINTY_HEADER, "Content-Disposition")


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """The headers of all groups, first spelling kept, no name twice (case-insensitive)."""
    seen: dict[str, str] = {}
    for group in groups:
        for name in group:
            seen.setdefault(name.lower(), name)
    return tuple(seen.values())


ALLOW_HEADERS: tuple[str, ...] = _union(
    SHARED_REQUEST_HEADERS, *(d.key_headers for d in DIALECTS), *(d.request_headers for d in DIALECTS))
EXPOSE_HEADERS: tuple[str, ...] = _union(SHARED_RESPONSE_HEADERS, *(d.expose_headers for d in DIALECTS))
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
