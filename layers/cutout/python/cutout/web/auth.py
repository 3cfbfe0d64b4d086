"""Who is calling: the auth dependency, the per-request Caller, and the metering headers.

Precedence: a RapidAPI proxy request (when a proxy secret is configured and the
request carries `X-RapidAPI-Proxy-Secret`), then `X-Api-Key`, then
`Ocp-Apim-Subscription-Key`, then the anonymous account when
CUTOUT_ALLOW_ANONYMOUS is on; otherwise 401.

Refusals are `AccessError`s; the app's handler renders them in the dialect of
the route (API4AI's `{"detail": ...}` unless a dialect registered its own
shape in `app.state.access_renderers`).
"""
from __future__ import annotations

import hmac
import logging
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts.keys import (
    MISSING_KEY,
    Account,
    AccountReport,
    Accounts,
    InvalidApiKey,
    MissingKey,
    report,
)
from ..config import Settings
from ..errors import AccessError
from ..accounts.plans import load_plans
from ..accounts.ratelimit import Limiter, Ticket, rate_headers, unavailable
from ..stores import Store, StoreUnavailable, open_store
from .errors import headers_of, status_of

log = logging.getLogger(__name__)

API_KEY_HEADERS = ("x-api-key", "ocp-apim-subscription-key")
PROXY_SECRET_HEADER = "x-rapidapi-proxy-secret"


class ProxySecret:
    """The RapidAPI proxy secret: from the environment, or read once from Secrets Manager."""

    def __init__(self, value: str = "", secret_id: str = "", timeout: float = 2.0) -> None:
        self._value = value
        self.secret_id = secret_id
        self.timeout = timeout
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._value or self.secret_id)

    def value(self) -> str:
        with self._lock:
            if not self._value and self.secret_id:
                self._value = self._fetch()
            return self._value

    def _fetch(self) -> str:
        import boto3
        from botocore.config import Config

        try:
            session = boto3.session.Session()
            client = session.client(
                "secretsmanager", region_name=session.region_name or "us-east-1",
                config=Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                              retries={"total_max_attempts": 3, "mode": "standard"}),
            )
            secret = client.get_secret_value(SecretId=self.secret_id).get("SecretString", "")
        except Exception as exc:  # unreachable, denied, missing: the caller answers 503
            raise StoreUnavailable(f"Secrets Manager {self.secret_id}: {exc}") from exc
        if not secret:
            raise StoreUnavailable(f"Secrets Manager {self.secret_id}: no SecretString")
        return secret.strip()

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison: timing reveals nothing about the secret."""
        return hmac.compare_digest(candidate.encode("utf-8"), self.value().encode("utf-8"))


class Access:
    """Everything authentication and metering need, built once per app."""

    def __init__(self, cfg: Settings, store: Store | None = None) -> None:
        self.settings = cfg
        self.store = store or open_store(cfg)
        self.accounts = Accounts(self.store, load_plans(cfg.plans_file), cfg.key_cache_seconds,
                                 cfg.sandbox_mp_per_minute)
        self.limiter = Limiter(self.store, fail_open=cfg.limiter_fail_open)
        self.proxy_secret = ProxySecret(cfg.rapidapi_proxy_secret, cfg.rapidapi_proxy_secret_id,
                                        cfg.store_timeout)
        self.anonymous = self.accounts.anonymous(cfg.anonymous_plan)  # fails fast on a bad plan

    def identify(self, headers: Mapping[str, str]) -> Account:
        """The account a request's headers name, or an AccessError (401/403/503)."""
        proxy = headers.get(PROXY_SECRET_HEADER)
        if proxy is not None and self.proxy_secret.configured:
            try:
                genuine = self.proxy_secret.matches(proxy)
            except StoreUnavailable as exc:
                log.error("RapidAPI proxy secret unavailable", extra={"error": str(exc)})
                raise unavailable("The service cannot verify RapidAPI requests right now.") from exc
            if not genuine:
                raise InvalidApiKey("Invalid X-RapidAPI-Proxy-Secret.", code="invalid_proxy_secret")
            return self.accounts.rapidapi(headers.get("x-rapidapi-user", ""),
                                          headers.get("x-rapidapi-subscription", ""))
        for name in API_KEY_HEADERS:
            key = headers.get(name, "").strip()
            if key:
                try:
                    return self.accounts.authenticate(key)
                except StoreUnavailable as exc:
                    log.error("key store unavailable; cannot authenticate",
                              extra={"error": str(exc)})
                    raise unavailable() from exc
        if self.settings.allow_anonymous:
            return self.anonymous
        raise MissingKey(MISSING_KEY)

    def caller(self, account: Account) -> "Caller":
        return Caller(account, self)


@dataclass
class Caller:
    """One request's account and what metering decided for it (read by MeteringHeaders)."""

    account: Account
    access: Access
    ticket: Ticket | None = None
    headers: dict[str, str] = field(default_factory=dict)  # a refusal's or a report's headers

    async def response_headers(self, status: int) -> dict[str, str]:
        """Headers for the response; a server failure (5xx) after admission refunds first."""
        if self.ticket is not None:
            if status >= 500:
                await run_in_threadpool(self.access.limiter.refund, self.ticket)
            return self.ticket.headers()
        if self.headers:
            return self.headers
        try:
            return await run_in_threadpool(self.access.limiter.status, self.account)
        except StoreUnavailable:
            return {}


@dataclass
class _Slot:
    """Per-request holder shared by reference: MeteringHeaders creates it, auth fills it."""

    caller: Caller | None = None


_slot: ContextVar[_Slot | None] = ContextVar("cutout_caller_slot", default=None)


def current_caller() -> Caller | None:
    """The caller resolved for the request being handled, if any."""
    slot = _slot.get()
    return slot.caller if slot is not None else None


def bind(caller: Caller) -> None:
    """Make `caller` the current request's caller (seen by Engine.cut and MeteringHeaders)."""
    slot = _slot.get()
    if slot is None:
        slot = _Slot()
        _slot.set(slot)
    slot.caller = caller


async def authenticate(request: Request) -> Caller:
    """FastAPI dependency for metered routes: resolves the caller or raises AccessError.

    The key headers are declared in the OpenAPI spec by each route's `security`
    (web/openapi.py), not by a FastAPI security dependency.
    """
    access: Access = request.app.state.engine.access
    account = await run_in_threadpool(access.identify, request.headers)
    caller = access.caller(account)
    bind(caller)
    return caller


async def account_report(caller: Caller) -> AccountReport:
    """The caller's plan, limits and usage this month, for any dialect's account endpoint.

    Raises LimiterUnavailable (503) when the store is down; the response gets
    the rate-limit headers of what was read.
    """
    try:
        found = await run_in_threadpool(report, caller.access.store, caller.account)
    except StoreUnavailable as exc:
        log.error("account report unavailable", extra={"error": str(exc)})
        raise unavailable() from exc
    caller.headers = rate_headers(found.account.mp_per_minute, found.remaining, found.reset)
    return found


# --- rendering ------------------------------------------------------------------------

Renderer = Callable[[AccessError], Any]


def api4ai_body(exc: AccessError) -> dict[str, Any]:
    return {"detail": exc.message}


def error_response(exc: AccessError, body: Renderer = api4ai_body) -> JSONResponse:
    """An AccessError as a response: the dialect's body, the error's status and headers
    (a 503's Retry-After included, `errors.headers_of`)."""
    return JSONResponse(body(exc), status_code=status_of(exc), headers=headers_of(exc))


async def access_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """App-wide handler: the renderer registered for the longest matching path prefix."""
    assert isinstance(exc, AccessError)
    renderers: dict[str, Renderer] = getattr(request.app.state, "access_renderers", {})
    path = request.url.path
    prefixes = sorted((p for p in renderers if path.startswith(p)), key=len, reverse=True)
    return error_response(exc, renderers[prefixes[0]] if prefixes else api4ai_body)


class MeteringHeaders:
    """ASGI middleware: puts the caller's rate-limit and credit headers on the response.

    It also refunds an admitted request whose response is a server error, or
    that raised before a response was sent: the client is not charged for our
    failures, whichever dialect produced them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        slot = _Slot()
        token = _slot.set(slot)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                caller = slot.caller
                if caller is not None:
                    extra = await caller.response_headers(message["status"])
                    fields = {"account": caller.account.id, "plan": caller.account.plan}
                    if caller.ticket is not None:
                        fields["credits_charged"] = caller.ticket.charged
                    scope.setdefault("state", {}).setdefault("log_fields", {}).update(fields)
                    raw = list(message.get("headers", []))
                    present = {name.lower() for name, _ in raw}
                    for name, value in extra.items():
                        encoded = name.lower().encode("latin-1")
                        if encoded not in present:
                            raw.append((encoded, value.encode("latin-1")))
                    message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except BaseException:
            caller = slot.caller
            if caller is not None and caller.ticket is not None:
                await run_in_threadpool(caller.access.limiter.refund, caller.ticket)
            raise
        finally:
            _slot.reset(token)
