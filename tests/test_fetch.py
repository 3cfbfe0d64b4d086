"""The SSRF guard: only public addresses, checked per redirect, pinned, bounded."""
from __future__ import annotations

import pytest

from cutout import fetch
from cutout.errors import FetchError, FetchRefused
from local_http import Route


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.9.9.9", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:169.254.169.254", "2002:7f00:1::1", "64:ff9b::a00:1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not fetch.is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert fetch.is_public(address)


def resolver_for(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_loopback_server_is_refused_and_never_contacted(web_server) -> None:
    web_server.routes["/cat.jpg"] = Route(body=b"secret")
    with pytest.raises(FetchError, match="non-public address"):
        fetch.fetch(web_server.url("/cat.jpg"), max_bytes=1000)
    assert web_server.requests == []


def test_localhost_name_is_refused(web_server) -> None:
    with pytest.raises(FetchError, match="non-public"):
        fetch.fetch(web_server.url("/x", host="localhost"), max_bytes=1000)


def test_a_name_resolving_to_private_address_is_refused() -> None:
    resolve = resolver_for({"images.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(FetchError, match=r"images.example resolves to a non-public address \(10.0.0.7\)"):
        fetch.fetch("http://images.example/a.jpg", max_bytes=1000, resolver=resolve)


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://x/", "//nohost"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchError, match="only http and https|no host"):
        fetch.fetch(url, max_bytes=1000)


def test_allow_listed_host_is_fetched_through_the_checked_address(web_server) -> None:
    """The connection goes to the address resolved once, with the original Host header."""
    web_server.routes["/a.png"] = Route(body=b"PNGDATA", headers={"Content-Type": "image/png"})
    resolve = resolver_for({"photos.internal": ["127.0.0.1"]})
    got = fetch.fetch(
        web_server.url("/a.png", host="photos.internal"),
        max_bytes=1000,
        allow_hosts=("photos.internal",),
        resolver=resolve,
    )
    assert got.data == b"PNGDATA" and got.name == "a.png" and got.content_type == "image/png"
    assert resolve.calls == ["photos.internal"]  # resolved once: no second lookup to rebind
    assert web_server.requests == [("/a.png", f"photos.internal:{web_server.port}")]


def test_redirect_to_private_address_is_refused(web_server) -> None:
    web_server.routes["/go"] = Route(302, headers={"Location": "http://metadata.internal/latest/"})
    resolve = resolver_for({"127.0.0.1": ["127.0.0.1"], "metadata.internal": ["169.254.169.254"]})
    with pytest.raises(FetchError, match="metadata.internal resolves to a non-public address"):
        fetch.fetch(web_server.url("/go"), max_bytes=1000, allow_hosts=("127.0.0.1",), resolver=resolve)
    assert [path for path, _ in web_server.requests] == ["/go"]


def test_redirect_to_a_literal_loopback_on_another_port_is_refused(web_server) -> None:
    web_server.routes["/go"] = Route(301, headers={"Location": "http://[::1]:9/"})
    with pytest.raises(FetchError, match="non-public"):
        fetch.fetch(web_server.url("/go"), max_bytes=1000, allow_hosts=("127.0.0.1",))


def test_relative_redirects_are_followed_up_to_three(web_server) -> None:
    for hop in range(1, 4):
        web_server.routes[f"/r{hop}"] = Route(302, headers={"Location": f"/r{hop + 1}"})
    web_server.routes["/r4"] = Route(body=b"done")
    got = fetch.fetch(web_server.url("/r1"), max_bytes=100, allow_hosts=("127.0.0.1",))
    assert got.data == b"done" and got.name == "r4"
    web_server.routes["/r0"] = Route(302, headers={"Location": "/r1"})
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch.fetch(web_server.url("/r0"), max_bytes=100, allow_hosts=("127.0.0.1",))


def test_size_limit(web_server) -> None:
    web_server.routes["/big"] = Route(body=b"x" * 5000)
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        fetch.fetch(web_server.url("/big"), max_bytes=1000, allow_hosts=("127.0.0.1",))


def test_http_errors_are_reported(web_server) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch.fetch(web_server.url("/missing"), max_bytes=1000, allow_hosts=("127.0.0.1",))


def test_slow_server_times_out(web_server) -> None:
    web_server.routes["/slow"] = Route(body=b"x", delay=2.0)
    with pytest.raises(FetchError, match="Image download failed"):
        fetch.fetch(web_server.url("/slow"), max_bytes=1000, timeout=0.3, allow_hosts=("127.0.0.1",))


def test_unresolvable_host() -> None:
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch.fetch("http://no-such-host.invalid/a.jpg", max_bytes=1000)


def test_refusals_are_fetch_refused_and_failures_are_not(web_server) -> None:
    """Both keep the code fetch_failed; a caller that retries tells them apart by type."""
    web_server.routes["/big"] = Route(body=b"x" * 5000)
    web_server.routes["/loop"] = Route(302, headers={"Location": "/loop"})
    allowed = {"max_bytes": 1000, "allow_hosts": ("127.0.0.1",)}
    refusals = [
        lambda: fetch.fetch("ftp://images.example/a.jpg", max_bytes=1000),
        lambda: fetch.fetch("http:///a.jpg", max_bytes=1000),
        lambda: fetch.fetch(web_server.url("/x.jpg"), max_bytes=1000),  # loopback, not allowed
        lambda: fetch.fetch(web_server.url("/big"), **allowed),
        lambda: fetch.fetch(web_server.url("/loop"), **allowed),
        lambda: fetch.post("http://10.0.0.1/hook", b"{}", {}),
    ]
    failures = [
        lambda: fetch.fetch(web_server.url("/missing"), **allowed),
        lambda: fetch.fetch("http://no-such-host.invalid/refused.jpg", max_bytes=1000),
    ]
    for call in refusals:
        with pytest.raises(FetchRefused) as refused:
            call()
        assert refused.value.code == "fetch_failed" and "refused" in refused.value.message
    for call in failures:
        with pytest.raises(FetchError) as failed:
            call()
        assert not isinstance(failed.value, FetchRefused) and failed.value.code == "fetch_failed"
