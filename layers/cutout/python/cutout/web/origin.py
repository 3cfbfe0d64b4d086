"""Where the API lives, for the absolute URLs it hands out; proxies' X-Forwarded-* headers.

Status URLs, upload URLs, public image URLs, `links.next`, local result URLs and
the URLs a job's webhook carries are absolute. They are built from, in order:

1. `CUTOUT_PUBLIC_BASE_URL` (e.g. `https://api.example.com`, or with a stage
   path): the request's Host plays no part. Deployed, the template sets it to
   the API's own domain.
2. Otherwise the request's scheme and Host, but only when the Host's name is in
   `CUTOUT_ALLOWED_HOSTS` (`localhost, 127.0.0.1, ::1` by default, so `make run`
   hands out working local URLs with no setting; `*.example.com` matches
   subdomains, `*` any name). Any other Host is refused (400 `untrusted_host`)
   by the routes that would put it in a URL: `Host: evil.example` can never make
   the API point a client, a webhook or a log at another server.

`X-Forwarded-Proto`, `-Host` and `-For` count only when the connection comes
from one of `CUTOUT_TRUSTED_PROXIES` (addresses or networks; none by default):
`ForwardedHeaders` then puts them in the request's scope, and a forwarded host
is held to the allowed list like any Host.
"""
from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings, SettingError
from ..errors import InputError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UntrustedHost(InputError):
    """The request's Host is not one absolute URLs may be built from (400)."""

    code = "untrusted_host"
    status = 400


def check(cfg: Settings) -> None:
    """Refuse a CUTOUT_PUBLIC_BASE_URL that is not an absolute http(s) URL, or a
    CUTOUT_TRUSTED_PROXIES entry that is not an address or network (SettingError)."""
    if cfg.public_base_url:
        parts = urlsplit(cfg.public_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
                or parts.fragment:
            raise SettingError(f"CUTOUT_PUBLIC_BASE_URL={cfg.public_base_url!r} is not an "
                               "absolute http(s) URL such as https://api.example.com.")
    networks(cfg.trusted_proxies)


def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """CUTOUT_TRUSTED_PROXIES as networks (a bare address is a network of one)."""
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise SettingError(f"CUTOUT_TRUSTED_PROXIES: {exc}.") from None


def host_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    """`name` (a host name or IP literal, no port) matches an entry of CUTOUT_ALLOWED_HOSTS."""
    name = name.lower().rstrip(".")
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def base_url(request: Request) -> str:
    """The API's base URL for absolute URLs (no trailing slash); raises UntrustedHost."""
    cfg: Settings = request.app.state.services.settings
    if cfg.public_base_url:
        return cfg.public_base_url.rstrip("/")
    host = request.headers.get("host", "")
    name = urlsplit(f"//{host}").hostname or ""
    if not name or not host_allowed(name, cfg.allowed_hosts):
        raise UntrustedHost(
            f"The Host header {host[:100]!r} is not one this server builds URLs from: set "
            "CUTOUT_PUBLIC_BASE_URL to the API's public address, or add the host to "
            "CUTOUT_ALLOWED_HOSTS.")
    root = request.scope.get("root_path", "")
    return f"{request.url.scheme}://{host}{root}".rstrip("/")


def url_for(request: Request, name: str, **params: Any) -> str:
    """The absolute URL of route `name` (its path parameters in `params`)."""
    return base_url(request) + str(request.app.url_path_for(name, **params))


class ForwardedHeaders:
    """Takes X-Forwarded-Proto, -Host and -For from trusted proxies only (see the module).

    Each header's last entry counts: the one the nearest (trusted) proxy wrote.
    """

    def __init__(self, app: ASGIApp, trusted: tuple[str, ...]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    def _trusts(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not self.trusted or not client:
            return False
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(peer in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._trusts(scope):
            headers: dict[bytes, bytes] = {k.lower(): v for k, v in scope["headers"]}

            def last(name: bytes) -> str:
                return headers.get(name, b"").decode("latin-1").split(",")[-1].strip()

            scope = dict(scope)
            proto, host, client = (last(b"x-forwarded-proto"), last(b"x-forwarded-host"),
                                   last(b"x-forwarded-for"))
            if proto in ("http", "https"):
                scope["scheme"] = proto
            if host:
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] \
                    + [(b"host", host.encode("latin-1"))]
            if client:
                scope["client"] = (client, 0)
        await self.app(scope, receive, send)
