"""A dialect: one vendor's API as Cutout speaks it, and everything the app needs to mount it.

A dialect module makes its `Dialect` first (its name, how it renders a
refusal, the headers its keys come in and the response headers its clients
read), then its routers from it (`DIALECT.router(...)`), then its routes. The
app mounts every router of every dialect in `dialects.DIALECTS`; CORS derives its
header lists from them, the OpenAPI spec its security schemes, the Lambda
handler its 413 body.

Every route of a dialect's routers runs inside `DialectRoute`, which does for
all of them, once:
- the dialect's key headers are where `auth.authenticate` looks;
- any `CutoutError` a route (or its dependencies) raises is rendered by the
  dialect's `render`, so a route only raises;
- a response larger than the deployment's `CUTOUT_MAX_RESPONSE_BYTES` becomes
  the dialect's 413 `result_too_large` (`delivery.ResultTooLarge`), whatever
  route made it; the metering middleware refunds it like any failed request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from ..errors import CutoutError
from . import delivery
from .auth import API_KEY_HEADERS, KEY_HEADERS_SCOPE

Render = Callable[[CutoutError], Response]
Schema = dict[str, Any]


@dataclass(frozen=True)
class Mount:
    """One router as the app includes it: at a prefix of its own, in the spec or not."""

    router: APIRouter
    prefix: str = ""
    in_schema: bool = True


@dataclass(frozen=True)
class Dialect:
    """One API dialect.

    name: short and stable (`remove.bg`), for logs and the docs.
    key: shell-friendly and stable (`removebg`): the metrics' `dialect` dimension and
        `cutout listing <key>`.
    render: any refusal (`CutoutError`) as this dialect's error response (status, body, headers).
    too_large: the fields of a 413 body where this dialect's clients look for its message
        (Lambda's last-resort 413 merges every dialect's; `delivery.fit_lambda_response`).
    key_headers: request headers an API key may come in, first found wins; `authorization`
        means its `Bearer` token.
    request_headers: other request headers its clients send that a browser must be allowed
        to (CORS), such as `idempotency-key`.
    expose_headers: response headers its clients read, which a browser hides unless exposed.
    security_schemes: OpenAPI security schemes of its own, beside the shared ones.
    secret_paths: path prefixes whose next segment is a secret (a public image's token):
        the access log shows a short hash of that segment instead.
    mounts: its routers, filled by `router()` and `alias()`.
    """

    name: str
    key: str
    render: Render
    too_large: Callable[[str], dict[str, Any]]
    key_headers: tuple[str, ...] = API_KEY_HEADERS
    request_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    security_schemes: Mapping[str, Schema] = field(default_factory=dict)
    secret_paths: tuple[str, ...] = ()
    mounts: list[Mount] = field(default_factory=list)

    def router(self, **kwargs: Any) -> APIRouter:
        """A router of this dialect (APIRouter's arguments); its routes run in `DialectRoute`."""
        route_class = type(f"{self.name}Route", (DialectRoute,), {"dialect": self})
        made = APIRouter(route_class=route_class, **kwargs)
        self.mounts.append(Mount(made))
        return made

    def alias(self, router: APIRouter, prefix: str) -> None:
        """Serve `router` a second time under `prefix` (a peer's own base path), not in the spec."""
        self.mounts.append(Mount(router, prefix, in_schema=False))


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DialectRoute(APIRoute):
    """A route of one dialect: its keys, its refusals and the response limit (see the module)."""

    dialect: Dialect

    def get_route_handler(self) -> Endpoint:
        handler = super().get_route_handler()
        dialect = self.dialect

        async def answer(request: Request) -> Response:
            request.scope[KEY_HEADERS_SCOPE] = dialect.key_headers
            try:
                response = await handler(request)
            except CutoutError as exc:
                return dialect.render(exc)
            refusal = delivery.over_the_limit(request, response)
            return response if refusal is None else dialect.render(refusal)

        return answer
