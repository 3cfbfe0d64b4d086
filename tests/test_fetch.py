"""The SSRF guard: only public addresses, checked per redirect, pinned, bounded."""
from __future__ import annotations

import time

import pytest

from cutout import fetch
from cutout.errors import FetchError, FetchRefused
from local_http import Route, trickling


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


# --- the timeout is one deadline for the whole download (issue 23, item 1) ---------------------
# A server that trickles a byte every quarter second never leaves a socket read waiting long,
# so a per-read timeout never fires: the download held on for as long as the trickle lasted.

DEADLINE = 1.0
ALLOWED = {"max_bytes": 10_000, "allow_hosts": ("127.0.0.1",), "timeout": DEADLINE}


def _timed_out_after(call) -> float:
    started = time.monotonic()
    with pytest.raises(FetchError) as failed:
        call()
    assert not isinstance(failed.value, FetchRefused)
    assert failed.value.message.startswith(f"Image download failed: timed out after {DEADLINE:g} s")
    return time.monotonic() - started


def test_a_body_trickled_a_byte_at_a_time_fails_at_the_deadline(web_server) -> None:
    web_server.routes["/trickle.jpg"] = trickling(b"x" * 40, interval=0.25)  # 10 s in all
    elapsed = _timed_out_after(lambda: fetch.fetch(web_server.url("/trickle.jpg"), **ALLOWED))
    assert DEADLINE <= elapsed < DEADLINE + 1


def test_headers_trickled_a_byte_at_a_time_fail_at_the_deadline(web_server) -> None:
    web_server.routes["/slow-head.jpg"] = trickling(b"x", interval=0.25, headers=True)  # ~15 s
    elapsed = _timed_out_after(lambda: fetch.fetch(web_server.url("/slow-head.jpg"), **ALLOWED))
    assert DEADLINE <= elapsed < DEADLINE + 1


def test_redirect_hops_share_one_deadline(web_server) -> None:
    """Three hops of 0.6 s each: every hop is within the deadline, all of them are not."""
    for hop in range(1, 4):
        web_server.routes[f"/hop{hop}"] = Route(302, headers={"Location": f"/hop{hop + 1}"}, delay=0.6)
    web_server.routes["/hop4"] = Route(body=b"done")
    elapsed = _timed_out_after(lambda: fetch.fetch(web_server.url("/hop1"), **ALLOWED))
    assert DEADLINE <= elapsed < DEADLINE + 1
    assert [path for path, _ in web_server.requests] == ["/hop1", "/hop2"]


def test_a_webhook_post_answered_a_byte_at_a_time_fails_at_the_deadline(web_server) -> None:
    web_server.routes["/hook"] = Route(204, interval=0.25, trickle_headers=True)
    started = time.monotonic()
    with pytest.raises(FetchError, match=f"POST failed: timed out after {DEADLINE:g} s"):
        fetch.post(web_server.url("/hook"), b"{}", {"Content-Type": "application/json"},
                   timeout=DEADLINE, allow_hosts=("127.0.0.1",))
    assert time.monotonic() - started < DEADLINE + 1


def test_an_upload_answered_late_fails_at_the_deadline(web_server) -> None:
    web_server.put_delay = 3 * DEADLINE
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match=f"Upload failed: timed out after {DEADLINE:g} s"):
            fetch.put(web_server.url("/out/cut.png?sig=1"), b"x" * 200_000, "image/png",
                      timeout=DEADLINE, allow_hosts=("127.0.0.1",))
        assert time.monotonic() - started < DEADLINE + 1
    finally:
        web_server.put_delay = 0.0
    path, headers, body = web_server.puts[-1]
    assert path == "/out/cut.png?sig=1" and body == b"x" * 200_000


def test_a_download_within_the_deadline_is_not_cut(web_server) -> None:
    web_server.routes["/steady.jpg"] = trickling(b"y" * 8, interval=0.05)
    assert fetch.fetch(web_server.url("/steady.jpg"), **ALLOWED).data == b"y" * 8


# --- numbers from the source server are read as ASCII (issue 23, item 13) ---------------------


@pytest.mark.parametrize("length", ["²", "¹²", "1²", " 12x", "-1"])
def test_a_content_length_that_is_not_ascii_digits_is_ignored(web_server, length: str) -> None:
    """'²' passes str.isdigit() and then fails int(): that was a 500 on every URL route."""
    web_server.routes["/odd.jpg"] = Route(body=b"image bytes", headers={"Content-Length": length})
    got = fetch.fetch(web_server.url("/odd.jpg"), max_bytes=1000, allow_hosts=("127.0.0.1",))
    assert got.data == b"image bytes"


def test_an_ascii_content_length_over_the_limit_is_refused_before_the_body(web_server) -> None:
    web_server.routes["/huge.jpg"] = Route(body=b"x", headers={"Content-Length": "5000"})
    with pytest.raises(FetchRefused, match="larger than 1000 bytes"):
        fetch.fetch(web_server.url("/huge.jpg"), max_bytes=1000, allow_hosts=("127.0.0.1",))
