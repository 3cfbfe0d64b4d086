"""Who is calling: the account a request's headers name, and the per-request Caller.

Precedence: a RapidAPI proxy request (when a proxy secret is configured and the
request carries `X-RapidAPI-Proxy-Secret`), then the dialect's key headers in
their order (`Dialect.key_headers`: `X-Api-Key`, then `Ocp-Apim-Subscription-Key`;
Adobe's `Authorization: Bearer` first), then the anonymous account when
CUTOUT_ALLOW_ANONYMOUS is on; otherwise `MissingKey` (401).

Refusals are raised (`AccessError`, `StoreUnavailable`); the route's dialect
renders them (`web/dialect.py`).
"""
from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Mapping

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..accounts.keys import MISSING_KEY, Account, AccountReport, Accounts, InvalidApiKey, MissingKey, report
from ..accounts.ratelimit import Limiter, Ticket, rate_headers
from ..accounts.secrets import ProxySecret
from ..stores import AccountStore, StoreUnavailable

log = logging.getLogger(__name__)

API_KEY_HEADERS = ("x-api-key", "ocp-apim-subscription-key")
PROXY_SECRET_HEADER = "x-rapidapi-proxy-secret"
KEY_HEADERS_SCOPE = "cutout.key_headers"  # a dialect route puts its key headers in the scope here


def bearer(value: str) -> str:
    """The token of an `Authorization: Bearer <token>` value, else ""."""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@dataclass(frozen=True)
class Access:
    """Everything authentication needs, built once per app from the composition root."""

    accounts: Accounts
    proxy_secret: ProxySecret
    anonymous: Account | None  # the key-less account, or None when anonymous use is off

    def identify(self, headers: Mapping[str, str],
                 key_headers: tuple[str, ...] = API_KEY_HEADERS) -> Account:
        """The account `headers` (lower-case names) name, looking for the key in `key_headers`.

        Raises MissingKey (no key, anonymous use off), InvalidApiKey or RevokedKey, or
        StoreUnavailable (the key store or Secrets Manager cannot be read).
        """
        proxy = headers.get(PROXY_SECRET_HEADER)
        if proxy is not None and self.proxy_secret.configured:
            if not self.proxy_secret.matches(proxy):
                raise InvalidApiKey("Invalid X-RapidAPI-Proxy-Secret.", code="invalid_proxy_secret")
            return self.accounts.rapidapi(headers.get("x-rapidapi-user", ""),
                                          headers.get("x-rapidapi-subscription", ""))
        for name in key_headers:
            raw = headers.get(name, "")
            key = bearer(raw) if name == "authorization" else raw.strip()
            if key:
                return self.accounts.authenticate(key)
        if self.anonymous is not None:
            return self.anonymous
        raise MissingKey(MISSING_KEY)


@dataclass
class Caller:
    """One request's account and what metering decided for it (read by MeteringHeaders)."""

    account: Account
    limiter: Limiter
    ticket: Ticket | None = None
    headers: dict[str, str] = field(default_factory=dict)  # a refusal's or a report's headers

    async def response_headers(self, status: int) -> dict[str, str]:
        """Headers for the response. An admitted request answered with an error (4xx or 5xx:
        no result reached the client) is refunded first; one answered with its result is
        settled (a job's charge waits for its job: the worker settles it)."""
        ticket = self.ticket
        if ticket is not None:
            if status >= 400:
                await run_in_threadpool(self.limiter.refund, ticket)
            elif ticket.charge is not None and not ticket.charge.job:
                await run_in_threadpool(self.limiter.settle, ticket.charge)
            return ticket.headers()
        if self.headers:
            return self.headers
        try:
            return await run_in_threadpool(self.limiter.status, self.account)
        except StoreUnavailable:
            return {}


@dataclass
class _Slot:
    """Per-request holder shared by reference: MeteringHeaders creates it, auth fills it."""

    caller: Caller | None = None


_slot: ContextVar[_Slot | None] = ContextVar("cutout_caller_slot", default=None)


def open_slot() -> tuple[_Slot, Token[_Slot | None]]:
    """A new request's caller slot (for MeteringHeaders); close it with `close_slot(token)`."""
    slot = _Slot()
    return slot, _slot.set(slot)


def close_slot(token: Token[_Slot | None]) -> None:
    _slot.reset(token)


def current_caller() -> Caller | None:
    """The caller resolved for the request being handled, if any."""
    slot = _slot.get()
    return slot.caller if slot is not None else None


def bind(caller: Caller) -> None:
    """Make `caller` the current request's caller (seen by the metering door and MeteringHeaders)."""
    slot = _slot.get()
    if slot is None:
        slot = _Slot()
        _slot.set(slot)
    slot.caller = caller


async def authenticate(request: Request) -> Caller:
    """The request's caller, from the key headers of the route's dialect; bound for metering.

    A FastAPI dependency or a plain call. Raises what `Access.identify` raises.
    """
    access: Access = request.app.state.access
    key_headers = request.scope.get(KEY_HEADERS_SCOPE, API_KEY_HEADERS)
    account = await run_in_threadpool(access.identify, request.headers, key_headers)
    caller = Caller(account, request.app.state.services.limiter)
    bind(caller)
    return caller


async def account_report(caller: Caller, store: AccountStore) -> AccountReport:
    """The caller's plan, limits and usage this month, for any dialect's account endpoint.

    Raises StoreUnavailable (503) when the store is down; the response gets the
    rate-limit headers of what was read.
    """
    found = await run_in_threadpool(report, store, caller.account)
    caller.headers = rate_headers(found.account.mp_per_minute, found.remaining, found.reset)
    return found
