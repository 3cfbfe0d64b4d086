"""Download an image from a URL without letting the URL reach inside our network.

The guard (SSRF): only http and https; every address the host resolves to must
be public (no loopback, private, link-local such as 169.254.169.254, multicast,
reserved or their IPv6 and IPv4-mapped forms); the connection goes to the
address that was checked (pinned), so DNS cannot be rebound between check and
connect; each redirect is checked the same way; size and time are bounded.
Hosts on the explicit allow-list skip the public-address check (private
deployments, tests) but nothing else.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote, urljoin, urlsplit

from ..errors import FetchError

Resolver = Callable[[str, int], list[str]]
USER_AGENT = "Cutout/1.0 (+image fetch)"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    data: bytes
    name: str  # the last path segment of the final URL
    content_type: str


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"Image download failed: cannot resolve host {host}.") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def is_public(address: str) -> bool:
    """True only for globally routable unicast addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(str(embedded)):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def _target(url: str, allow_hosts: tuple[str, ...], resolver: Resolver) -> tuple[str, str, int, str]:
    """Check one URL: (scheme, host, port, pinned address), or FetchError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError("Image download refused: only http and https URLs are allowed.")
    host = parts.hostname
    if not host:
        raise FetchError("Image download refused: the URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError("Image download refused: the URL has an invalid port.") from exc
    addresses = resolver(host, port)
    if not addresses:
        raise FetchError(f"Image download failed: cannot resolve host {host}.")
    if host.lower() not in allow_hosts:
        blocked = [a for a in addresses if not is_public(a)]
        if blocked:
            raise FetchError(
                f"Image download refused: {host} resolves to a non-public address ({blocked[0]})."
            )
    return parts.scheme, host, port, addresses[0]


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float = 10.0,
    max_redirects: int = 3,
    allow_hosts: tuple[str, ...] = (),
    resolver: Resolver = system_resolver,
) -> Fetched:
    """GET an image URL within the guard's rules; FetchError says why it failed."""
    deadline = time.monotonic() + timeout
    for _hop in range(max_redirects + 1):
        scheme, host, port, address = _target(url, allow_hosts, resolver)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        conn = cls(host, port, address, timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError("Image download failed: redirect without a location.")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"Image download failed: HTTP {response.status} from {host}.")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"Image download refused: larger than {max_bytes} bytes.")
            data = _read(response, max_bytes, deadline)
            name = unquote(parts.path.rsplit("/", 1)[-1]) or host
            return Fetched(data, name, response.getheader("Content-Type", ""))
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"Image download failed: {exc.__class__.__name__} from {host}.") from exc
        finally:
            conn.close()
    raise FetchError(f"Image download refused: more than {max_redirects} redirects.")


def _read(response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> bytes:
    chunks, total = [], 0
    while True:
        if time.monotonic() > deadline:
            raise FetchError("Image download failed: timed out.")
        chunk = response.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"Image download refused: larger than {max_bytes} bytes.")
        chunks.append(chunk)
