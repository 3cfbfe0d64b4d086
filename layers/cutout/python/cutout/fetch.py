"""Download an image from a URL without letting the URL reach inside our network.

The guard (SSRF): only http and https; every address the host resolves to must
be public (no loopback, private, link-local such as 169.254.169.254, multicast,
reserved or their IPv6 and IPv4-mapped forms); the connection goes to the
address that was checked (pinned), so DNS cannot be rebound between check and
connect; each redirect is checked the same way; size and time are bounded.
The time limit is one deadline for the whole download: connecting, the status
line and headers, the body, and every redirect hop together. http.client's
own timeout is per socket operation, so a server trickling a byte a second
would never trip it; here every read and write on the socket is given only
the time left (`_Deadline`), so one that trickles fails at the deadline.
URLs are sent as browsers and curl send them (see `normalise`): a raw
non-ASCII path is percent-encoded as UTF-8, an internationalised host name is
IDNA-encoded, and a URL that cannot be made meaningful is refused.
Hosts on the explicit allow-list skip the public-address check (private
deployments, tests) but nothing else.

Errors: `FetchRefused` when the guard or a limit says no (the same URL will
always be refused: a caller does not retry it), `FetchError` for the rest (the
host cannot be resolved or reached, an HTTP error status, a timeout); both are
`InputError`s with the code `fetch_failed`. Used by the web's URL inputs, the job
worker (URL sources) and the job webhook; it knows nothing of either.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import idna

from . import telemetry
from .errors import FetchError, FetchRefused
from .numerals import integer, is_integer

Resolver = Callable[[str, int], list[str]]
USER_AGENT = "Cutout/1.0 (+image fetch)"
CHUNK = 64 * 1024
# Characters kept as they are in a path or query; everything else (space, controls,
# '"<>`{}' and all non-ASCII, as UTF-8) is percent-encoded, as the WHATWG URL
# standard's path percent-encode set does; existing %XX escapes are kept.
_URL_SAFE = "!$%&'()*+,-./:;=?@[]^_|~\\"
# Code points a host may not contain (the WHATWG URL standard's forbidden host code points).
_FORBIDDEN_HOST = set("\x00\t\n\r #/:<>?@[\\]^|%") | {chr(c) for c in range(0x20)} | {"\x7f"}


@dataclass(frozen=True)
class Fetched:
    data: bytes
    name: str  # the last path segment of the final URL
    content_type: str


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
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


class _Deadline:
    """One download's time limit (seconds, monotonic): every socket call gets the time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left, or TimeoutError once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the download took over {self.seconds:g} s")
        return left


class _Limited:
    """A socket whose blocking calls (each read, each write) wait at most until `deadline`."""

    deadline: _Deadline

    def recv_into(self, *args: Any) -> int:
        self.settimeout(self.deadline.left())  # type: ignore[attr-defined]
        return super().recv_into(*args)  # type: ignore[misc, no-any-return]

    def recv(self, *args: Any) -> bytes:
        self.settimeout(self.deadline.left())  # type: ignore[attr-defined]
        return super().recv(*args)  # type: ignore[misc, no-any-return]

    def sendall(self, *args: Any) -> None:
        self.settimeout(self.deadline.left())  # type: ignore[attr-defined]
        super().sendall(*args)  # type: ignore[misc]


class _LimitedSocket(_Limited, socket.socket):
    pass


class _LimitedSSLSocket(_Limited, ssl.SSLSocket):
    pass


def _open(address: str, port: int, deadline: _Deadline) -> _LimitedSocket:
    """A TCP connection to the pinned address, made within the deadline."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = _LimitedSocket(family, socket.SOCK_STREAM)
    sock.deadline = deadline
    try:
        sock.settimeout(deadline.left())
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.seconds)
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = _open(self._address, self.port, self._deadline)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, deadline: _Deadline) -> None:
        self._tls = ssl.create_default_context()
        self._tls.sslsocket_class = _LimitedSSLSocket
        super().__init__(host, port, timeout=deadline.seconds, context=self._tls)
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        raw = _open(self._address, self.port, self._deadline)
        raw.settimeout(self._deadline.left())  # the handshake
        wrapped = self._tls.wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False)
        assert isinstance(wrapped, _LimitedSSLSocket)
        wrapped.deadline = self._deadline
        wrapped.settimeout(self._deadline.left())
        wrapped.do_handshake()
        self.sock = wrapped


def _refused(why: str) -> FetchRefused:
    return FetchRefused(f"Image download refused: the URL {why}.")


def ascii_host(host: str) -> str:
    """A host name or IP literal as it goes on the wire: non-ASCII names IDNA-encoded.

    IDNA per UTS #46 (non-transitional, as browsers do) via the `idna` package;
    ASCII names keep their labels (underscores included) but each label must be
    1-63 characters and the whole name at most 253 (RFC 1035). Raises FetchError
    for names that cannot be encoded, and for forbidden code points.
    """
    if ":" in host:  # an IPv6 literal (urlsplit has stripped the brackets)
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError as exc:
            raise _refused("has an invalid IPv6 address") from exc
        return host
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise _refused(f"has a host name that cannot be IDNA-encoded ({exc})") from exc
    if _FORBIDDEN_HOST & set(host):
        raise _refused("has a forbidden character in its host name")
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(0 < len(label) <= 63 for label in labels):
        raise _refused("has an invalid host name (empty label, label over 63 characters or name over 253)")
    return host.lower()


def normalise(url: str) -> str:
    """The URL as browsers and curl request it, or FetchError when it is not meaningful.

    The host is IDNA-encoded (`ascii_host`), the path and query percent-encoded
    as UTF-8 where they hold characters a request line cannot carry, the
    fragment and any user:password@ dropped. Only http and https.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # unbalanced [ ], an invalid IPv6 literal or port
        raise _refused(f"is malformed ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise FetchRefused("Image download refused: only http and https URLs are allowed.")
    if not parts.hostname:
        raise FetchRefused("Image download refused: the URL has no host.")
    host = ascii_host(parts.hostname)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = quote(parts.path or "/", safe=_URL_SAFE)
    query = quote(parts.query, safe=_URL_SAFE)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _location(raw: str) -> str:
    """A Location header as sent: http.client decodes it as Latin-1; servers mean UTF-8."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def _target(url: str, allow_hosts: tuple[str, ...], resolver: Resolver) -> tuple[str, str, int, str]:
    """Check one normalised URL: (scheme, host, port, pinned address), or FetchError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolver(host, port)
    if not addresses:
        raise FetchError(f"Image download failed: cannot resolve host {host}.")
    if host.lower() not in allow_hosts:
        blocked = [a for a in addresses if not is_public(a)]
        if blocked:
            raise FetchRefused(
                f"Image download refused: {host} resolves to a non-public address ({blocked[0]})."
            )
    return parts.scheme, host, port, addresses[0]


def _connection(
    url: str, allow_hosts: tuple[str, ...], resolver: Resolver, deadline: _Deadline
) -> tuple[http.client.HTTPConnection, str]:
    """A connection pinned to the checked address of `url`, and the request path (with query)."""
    scheme, host, port, address = _target(url, allow_hosts, resolver)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    return cls(host, port, address, deadline), path


@telemetry.counts_failures(FetchError, telemetry.fetch_failed)
def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float = 10.0,
    max_redirects: int = 3,
    allow_hosts: tuple[str, ...] = (),
    resolver: Resolver = system_resolver,
) -> Fetched:
    """GET an image URL within the guard's rules: its bytes (at most `max_bytes`), name, type.

    `timeout` is in seconds, one deadline for the whole download: connecting,
    the headers and the body of every hop, redirects included (the host name
    lookup is the system resolver's, before each hop). Every hop's URL (the
    first and each redirect target) goes through `normalise`. A Content-Length
    that is not ASCII digits is ignored (the body is still bounded).
    Raises FetchRefused (the guard or a limit said no) or FetchError (the
    download failed or ran past the deadline).
    """
    deadline = _Deadline(timeout)
    for _hop in range(max_redirects + 1):
        url = normalise(url)
        conn, path = _connection(url, allow_hosts, resolver, deadline)
        host = conn.host
        try:
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError("Image download failed: redirect without a location.")
                try:
                    url = urljoin(url, _location(location))
                except ValueError as exc:  # e.g. an unbalanced [ in the target
                    raise _refused(f"of the redirect is malformed ({exc})") from exc
                continue
            if response.status != 200:
                raise FetchError(f"Image download failed: HTTP {response.status} from {host}.")
            length = response.getheader("Content-Length") or ""
            if is_integer(length) and integer(length) > max_bytes:
                raise FetchRefused(f"Image download refused: larger than {max_bytes} bytes.")
            data = _read(response, max_bytes)
            name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or host
            return Fetched(data, name, response.getheader("Content-Type", ""))
        except TimeoutError as exc:
            raise FetchError(f"Image download failed: timed out after {timeout:g} s "
                             f"({host}).") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"Image download failed: {exc.__class__.__name__} from {host}.") from exc
        finally:
            conn.close()
    raise FetchRefused(f"Image download refused: more than {max_redirects} redirects.")


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """The body, refused once it passes `max_bytes`; each read is bounded by the deadline."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise FetchRefused(f"Image download refused: larger than {max_bytes} bytes.")
        chunks.append(chunk)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float = 10.0,
    allow_hosts: tuple[str, ...] = (),
    resolver: Resolver = system_resolver,
) -> int:
    """POST `body` to a URL under the same guard as `fetch` (no redirects); returns the status.

    For webhooks: the target must be public (or on `allow_hosts`), the
    connection is pinned to the checked address, and the answer is not read
    past its status and headers. `timeout` (seconds) is one deadline for
    connecting, sending and the answer's headers, as in `fetch`. Raises
    FetchRefused when the guard refuses the URL, FetchError when the host
    cannot be resolved or reached or does not answer in time.
    """
    return _send("POST", url, body, headers, timeout, allow_hosts, resolver, what="POST")


def put(
    url: str,
    body: bytes,
    content_type: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    allow_hosts: tuple[str, ...] = (),
    resolver: Resolver = system_resolver,
) -> int:
    """PUT `body` (with `headers`) to a presigned URL under the same guard as `fetch`; returns the status.

    For a caller's presigned upload URL (S3, Azure SAS, ...): the target must be
    public (or on `allow_hosts`), the connection is pinned to the checked address,
    no redirect is followed, and the URL's query (the signature) is sent as it
    came, existing %XX escapes kept. The body goes with a `Content-Length`, as S3
    requires of a presigned PUT. `timeout` (seconds) bounds the whole exchange:
    connecting, sending the body and reading the answer's status line. Raises
    FetchRefused when the guard refuses the URL, FetchError when the host cannot
    be resolved or reached or the deadline passes.
    """
    return _send("PUT", url, body, {"Content-Type": content_type, **(headers or {})}, timeout,
                 allow_hosts, resolver, what="Upload")


def _send(method: str, url: str, body: bytes, headers: dict[str, str], timeout: float,
          allow_hosts: tuple[str, ...], resolver: Resolver, *, what: str) -> int:
    """One request with a body, no redirect followed, under one deadline for connecting,
    sending (http.client adds the Content-Length) and the answer's status and headers;
    its status. Raises FetchRefused (the guard) or FetchError naming `what` failed."""
    deadline = _Deadline(timeout)  # each socket call waits at most the time left
    conn, path = _connection(normalise(url), allow_hosts, resolver, deadline)
    host = conn.host
    try:
        conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        return conn.getresponse().status
    except TimeoutError as exc:
        raise FetchError(f"{what} failed: timed out after {timeout:g} s ({host}).") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{what} failed: {exc.__class__.__name__} from {host}.") from exc
    finally:
        conn.close()
