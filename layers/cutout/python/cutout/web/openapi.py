"""The OpenAPI description of every route, and `/docs` served without a CDN.

A marketplace listing and every generated client are built from `/openapi.json`,
so it must say what the routes really accept and answer. FastAPI infers little
for these routes (they read their bodies themselves, in four encodings), so each
route states its operation with the helpers here; `install()` adds what applies
to every route (security schemes, shared schemas, `X-Request-Id`, the 413 of
the body cap) and serves Swagger UI from the package (`static/swagger-ui/`,
vendored from the npm package `swagger-ui-dist` by `make swagger-ui`).

How to describe a route (a new dialect does the same):

    from . import openapi as oa

    MY_ERROR = oa.schema("MyDialectError", {...JSON schema of the error body...})

    @router.post("/v2/thing", **oa.operation(
        "Do the thing",                     # summary; the route's docstring is the description
        security=oa.KEYED,                  # oa.AZURE_KEYED puts Ocp-Apim-Subscription-Key first;
                                            # leave it out for an open route
        parameters=[oa.query("mode", {"type": "string", "enum": [...]}, required=True)],
        body=oa.body(multipart=..., urlencoded=..., json=..., raw=oa.RAW_IMAGE_TYPES),
        responses={
            200: oa.image(["image/png"], headers=oa.METERED_SUCCESS),
            400: oa.json(MY_ERROR, "Bad input", example={...}),
            **oa.refusals(MY_ERROR, 401, 402, 403, 429, 503),
        },
    ))
    async def thing(request: Request) -> Response: ...

- Declare every status the route can answer, each with its body shape and the
  headers it always (`required`) or sometimes carries; undeclared statuses fail
  tests/web/test_openapi.py (schemathesis against the live app).
- Read query parameters from `request.query_params` when declaring them here:
  a FastAPI `Query(...)` parameter makes FastAPI add a 422 `HTTPValidationError`
  that no dialect answers. (Reading them as `Query` and declaring a 422 is fine
  when the route really answers 422, as /v1/results does.)
- Every schema body you write is OpenAPI 3.1 JSON Schema; reuse a shape across
  routes with `schema(name, ...)`, which returns its `$ref`.
- After changing a description, run `make openapi` and commit docs/openapi.json.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..engine import tiers

Schema = dict[str, Any]

# --- security schemes ------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, Schema] = {
    "ApiKey": {
        "type": "apiKey", "in": "header", "name": "X-Api-Key",
        "description": "A Cutout API key (`cutout keys create`). Every metered route accepts it.",
    },
    "SubscriptionKey": {
        "type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key",
        "description": "The same Cutout API key in Azure's header; every metered route accepts it.",
    },
    "RapidAPIProxySecret": {
        "type": "apiKey", "in": "header", "name": "X-RapidAPI-Proxy-Secret",
        "description": "Sent by the RapidAPI proxy (with `X-RapidAPI-User` and "
                       "`X-RapidAPI-Subscription`) when `CUTOUT_RAPIDAPI_PROXY_SECRET` is set; "
                       "the account is `rapidapi:<user>`, the plan follows the subscription.",
    },
}
# Alternatives: any one of them authenticates (a list of requirement objects is an OR).
Security = tuple[dict[str, list[str]], ...]
KEYED: Security = ({"ApiKey": []}, {"SubscriptionKey": []}, {"RapidAPIProxySecret": []})
AZURE_KEYED: Security = ({"SubscriptionKey": []}, {"ApiKey": []}, {"RapidAPIProxySecret": []})

# --- shared schemas ------------------------------------------------------------------------

_SCHEMAS: dict[str, Schema] = {}


def schema(name: str, body: Schema) -> Schema:
    """Register `body` under components/schemas/`name`; returns the `$ref` to use in its place."""
    if name in _SCHEMAS and _SCHEMAS[name] != body:
        raise ValueError(f"schema {name!r} is declared twice with different bodies")
    _SCHEMAS[name] = body
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: Iterable[str] = (), **properties: Schema) -> Schema:
    """A JSON object schema with these properties (others allowed, as the routes ignore them)."""
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BINARY: Schema = {"type": "string", "format": "binary"}
URL: Schema = {"type": "string", "format": "uri", "example": "https://example.com/photo.jpg"}
BASE64: Schema = {"type": "string", "contentEncoding": "base64",
                  "description": "Base64 (standard or URL-safe; a `data:` URI prefix is allowed)."}
# The `model` parameter every synchronous dialect takes (README, Quality tiers).
QUALITY_TIER: Schema = {"type": "string", "enum": list(tiers.TIERS), "default": tiers.DEFAULT_TIER}
QUALITY_TIER_TEXT = ("Cutout's quality tier: `fast` (the deployment's model), `fast-tta` (the same "
                     "with a second pass on the subject's close-up averaged in), `quality` "
                     "(U^2-Net INT8) or `quality-tta` (the same with flip averaging).")
DETAIL = schema("Detail", {
    **obj(["detail"], detail=STRING),
    "description": "API4AI's and FastAPI's error shape: `detail` is one human-readable string.",
})

# --- headers --------------------------------------------------------------------------------


def header(description: str, kind: Schema = INTEGER, required: bool = False) -> Schema:
    """A response header; `required` only when every response of that status carries it."""
    return {"description": description, "required": required, "schema": kind}


RATE_LIMIT = {
    "X-RateLimit-Limit": header("Megapixels the account may process per minute."),
    "X-RateLimit-Remaining": header("Megapixels left in the current one-minute window."),
    "X-RateLimit-Reset": header("Unix time (seconds) at which the current window ends."),
}
CREDITS_CHARGED = header("Credits this request used (e.g. `1` or `0.25`).",
                         {"type": "string", "pattern": r"^\d+(\.\d+)?$"}, required=True)
METERED_SUCCESS = {**RATE_LIMIT, "X-Credits-Charged": CREDITS_CHARGED}
UNCERTAINTY_SCORE: Schema = {"type": "number", "minimum": 0, "maximum": 1, "description":
                             "How doubtful the cut-out is: 0 (the model is sure) .. 1 (it decided "
                             "nothing), from how undecided its mask is over the subject."}


def uncertainty(required: bool = True) -> dict[str, Schema]:
    """The X-Uncertainty-Score response header of every cut-out."""
    return {"X-Uncertainty-Score": header(UNCERTAINTY_SCORE["description"],
                                          {"type": "string", "pattern": r"^[01]\.\d{4}$"}, required)}
RETRY_AFTER = header("Seconds to wait before trying again.", required=True)
# A 429's wait: absent when the image alone weighs more than the plan's minute (no wait helps).
RATE_RETRY_AFTER = header("Seconds until the minute's window frees up. Absent when the image alone "
                          "weighs more than the plan's megapixels a minute: no minute admits it, so "
                          "send a smaller image instead of retrying.")
REQUEST_ID = header("The request's id: yours if you sent a safe `X-Request-Id`, else a new one.",
                    STRING, required=True)

# --- request bodies -------------------------------------------------------------------------

RAW_IMAGE_TYPES = ("image/*", "application/octet-stream")


def body(*, multipart: Schema | None = None, urlencoded: Schema | None = None,
         json: Schema | None = None, raw: Iterable[str] = (), required: bool = True,
         examples: Mapping[str, Any] | None = None) -> Schema:
    """A requestBody with one entry per accepted encoding; `raw` lists media types of raw bytes.

    `examples` maps an encoding ("json", "urlencoded", "multipart") to one example value.
    """
    content: dict[str, Schema] = {}
    for media_type, shape, key in ((
            "multipart/form-data", multipart, "multipart"),
            ("application/x-www-form-urlencoded", urlencoded, "urlencoded"),
            ("application/json", json, "json")):
        if shape is not None:
            content[media_type] = {"schema": shape}
            if examples and key in examples:
                content[media_type]["example"] = examples[key]
    for media_type in raw:
        content[media_type] = {"schema": BINARY}
    return {"required": required, "content": content}


def query(name: str, kind: Schema, *, required: bool = False, description: str = "") -> Schema:
    """A query parameter."""
    out: Schema = {"name": name, "in": "query", "required": required, "schema": kind}
    if description:
        out["description"] = description
    return out

# --- responses ------------------------------------------------------------------------------


def json(shape: Schema, description: str, *, headers: Mapping[str, Schema] | None = None,
         example: Any = None) -> Schema:
    """A JSON response of `shape`."""
    media: Schema = {"schema": shape}
    if example is not None:
        media["example"] = example
    out: Schema = {"description": description, "content": {"application/json": media}}
    if headers:
        out["headers"] = dict(headers)
    return out


def image(media_types: Iterable[str], description: str = "The image.", *,
          headers: Mapping[str, Schema] | None = None, also: Mapping[str, Schema] | None = None,
          ) -> Schema:
    """A binary response in any of `media_types`; `also` adds other media types (e.g. JSON)."""
    out: Schema = {"description": description,
                   "content": {t: {"schema": BINARY} for t in media_types}}
    out["content"].update(also or {})
    if headers:
        out["headers"] = dict(headers)
    return out


REFUSALS = {
    401: ("No API key was sent.", {}),
    402: ("The account's monthly credits are used up.", RATE_LIMIT),
    403: ("The API key is unknown or revoked (or the RapidAPI proxy secret is wrong).", {}),
    429: ("Over the account's megapixels per minute (retry after `Retry-After`), or an image "
          "heavier than the whole minute (no `Retry-After`: send a smaller one).",
          {**RATE_LIMIT, "Retry-After": RATE_RETRY_AFTER}),
    503: ("The account store (or the result store) is unreachable; nothing was charged.",
          {"Retry-After": header("Seconds to wait before trying again.")}),
}


def refusals(shape: Schema, *statuses: int, extra_headers: Mapping[str, Schema] | None = None,
             descriptions: Mapping[int, str] | None = None) -> dict[int, Schema]:
    """The account refusals (401 402 403 429 503) in a dialect's error `shape`, with their headers."""
    out = {}
    for status in statuses:
        text, headers = REFUSALS[status]
        out[status] = json(shape, (descriptions or {}).get(status, text),
                           headers={**headers, **(extra_headers or {})})
    return out


def operation(summary: str, *, responses: Mapping[int, Schema], body: Schema | None = None,
              parameters: Iterable[Schema] = (), security: Iterable[Mapping[str, Any]] = (),
              description: str | None = None) -> dict[str, Any]:
    """Keyword arguments for a route decorator (`@router.post(path, **operation(...))`)."""
    extra: Schema = {}
    if body is not None:
        extra["requestBody"] = body
    if parameters:
        extra["parameters"] = list(parameters)
    if security:
        extra["security"] = [dict(s) for s in security]
    kwargs: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    success = responses.get(200, {}).get("content", {})
    if success and "application/json" not in success:
        kwargs["response_class"] = Response  # else FastAPI declares a JSON 200 it never sends
    if extra:
        kwargs["openapi_extra"] = extra
    if description is not None:
        kwargs["description"] = description
    return kwargs

# --- the whole spec -------------------------------------------------------------------------

TOO_LARGE = "The request body is over `CUTOUT_MAX_REQUEST_BYTES` (answered before it is read)."


def complete(spec: Schema, schemes: Mapping[str, Schema] = SECURITY_SCHEMES) -> Schema:
    """Add what holds for every route: security `schemes`, shared schemas, X-Request-Id, the
    body cap's 413."""
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(schemes)
    schemas = {**components.get("schemas", {}), **_SCHEMAS}
    # by name: the order modules happen to be imported in never changes the file
    components["schemas"] = dict(sorted(schemas.items()))
    for item in spec.get("paths", {}).values():
        for op in item.values():
            responses = op.setdefault("responses", {})
            if "requestBody" in op and "413" not in responses:
                responses["413"] = json(DETAIL, TOO_LARGE)
            for response in responses.values():
                response.setdefault("headers", {})["X-Request-Id"] = REQUEST_ID
    return spec


def build(app: FastAPI, schemes: Mapping[str, Schema] = SECURITY_SCHEMES) -> Schema:
    """The app's OpenAPI document (cached on the app, as FastAPI's own `app.openapi` does)."""
    if app.openapi_schema is None:
        app.openapi_schema = complete(get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes, tags=app.openapi_tags, servers=app.servers), schemes)
    return app.openapi_schema


# --- /docs ---------------------------------------------------------------------------------

STATIC = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS = "/docs/assets"


async def docs(request: Request) -> HTMLResponse:
    """Swagger UI for /openapi.json, with URLs relative to the page.

    Relative URLs keep whatever prefix the browser sees in front of `/docs`: a
    root path (`uvicorn --root-path`), or an API Gateway stage or base path that
    Mangum strips before the app sees the request (it sets no root path).
    """
    assets = ASSETS.lstrip("/")
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url.lstrip("/"),
        title=f"{request.app.title} API",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        # No validator badge: it would load an image from the public validator's host.
        swagger_ui_parameters={"validatorUrl": None, "deepLinking": True},
    )


def install(app: FastAPI, dialects: Iterable[Any] = ()) -> None:
    """Serve the completed spec at app.openapi_url and Swagger UI at /docs from the package.

    `dialects` (`dialect.Dialect`s) may add security schemes of their own to the shared
    ones. Create the app with `docs_url=None, redoc_url=None` (FastAPI's pages load a CDN).
    """
    schemes = dict(SECURITY_SCHEMES)
    for dialect in dialects:
        schemes.update(dialect.security_schemes)
    app.openapi = lambda: build(app, schemes)  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="swagger-ui")
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
