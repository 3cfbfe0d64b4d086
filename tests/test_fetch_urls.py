"""Image URLs are requested as browsers and curl request them, or refused with a reason."""
from __future__ import annotations

import pytest

from cutout import fetch
from cutout.errors import FetchError
from local_http import Route

PHOTO = "/files/фото.jpg"
PHOTO_ON_WIRE = "/files/%D1%84%D0%BE%D1%82%D0%BE.jpg"  # UTF-8, percent-encoded


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("http://example.com/files/фото.jpg", "http://example.com" + PHOTO_ON_WIRE),
        ("http://example.com/a b.jpg?q=ä ö", "http://example.com/a%20b.jpg?q=%C3%A4%20%C3%B6"),
        ("http://example.com/already%20done.jpg?x=%2F", "http://example.com/already%20done.jpg?x=%2F"),
        ("http://bücher.example/x.jpg", "http://xn--bcher-kva.example/x.jpg"),
        ("http://EXAMPLE.com:8080/X.jpg#frag", "http://example.com:8080/X.jpg"),
        ("http://user:pw@example.com/x.jpg", "http://example.com/x.jpg"),
        ("http://my_bucket.example.com/x.jpg", "http://my_bucket.example.com/x.jpg"),
        ("http://[2606:4700::1111]:81/x.jpg", "http://[2606:4700::1111]:81/x.jpg"),
        ("https://example.com", "https://example.com/"),
        ('http://example.com/<"{`}>', "http://example.com/%3C%22%7B%60%7D%3E"),
    ],
)
def test_urls_are_sent_as_browsers_send_them(url: str, sent: str) -> None:
    assert fetch.normalise(url) == sent


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://a..b/x.jpg", "empty label"),
        ("http://" + "a" * 64 + ".example/x.jpg", "over 63"),
        ("http://" + ("a" * 60 + ".") * 5 + "com/x.jpg", "over 253"),
        ("http://[::1/x.jpg", "malformed"),
        ("http://[not-v6]/x.jpg", "malformed|invalid IPv6"),
        ("http://exa mple.com/x.jpg", "forbidden character"),
        ("http://exa%41mple.com/x.jpg", "forbidden character"),
        ("http://example.com:99999/x.jpg", "malformed"),
        ("http://\u0661\u0031.example/x.jpg", "cannot be IDNA-encoded"),  # mixed-direction digits
    ],
)
def test_meaningless_urls_are_refused_before_any_lookup(url: str, reason: str) -> None:
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        raise AssertionError("looked up")

    with pytest.raises(FetchError, match=f"Image download refused: the URL .*({reason})"):
        fetch.fetch(url, max_bytes=1000, resolver=resolve)
    assert looked_up == []


def test_a_non_ascii_path_is_fetched_from_a_real_server(web_server) -> None:
    web_server.routes[PHOTO_ON_WIRE] = Route(body=b"JPEGDATA", headers={"Content-Type": "image/jpeg"})
    got = fetch.fetch(web_server.url(PHOTO), max_bytes=1000, allow_hosts=("127.0.0.1",))
    assert got.data == b"JPEGDATA" and got.name == "фото.jpg"
    assert web_server.requests == [(PHOTO_ON_WIRE, f"127.0.0.1:{web_server.port}")]


def test_an_idn_host_is_looked_up_and_sent_as_punycode(web_server) -> None:
    web_server.routes["/x.jpg"] = Route(body=b"IMG")
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    got = fetch.fetch(web_server.url("/x.jpg", host="bücher.example"), max_bytes=100,
                      allow_hosts=("xn--bcher-kva.example",), resolver=resolve)
    assert got.data == b"IMG" and looked_up == ["xn--bcher-kva.example"]
    assert web_server.requests == [("/x.jpg", f"xn--bcher-kva.example:{web_server.port}")]


def test_a_redirect_to_a_raw_utf8_location_is_followed_percent_encoded(web_server) -> None:
    """Servers put raw UTF-8 in Location; it is read as UTF-8 and encoded as a browser would."""
    raw_utf8 = PHOTO.encode().decode("latin-1")  # the header's bytes, as http.server writes them
    web_server.routes["/go"] = Route(302, headers={"Location": raw_utf8})
    web_server.routes[PHOTO_ON_WIRE] = Route(body=b"JPEGDATA")
    got = fetch.fetch(web_server.url("/go"), max_bytes=1000, allow_hosts=("127.0.0.1",))
    assert got.data == b"JPEGDATA" and got.name == "фото.jpg"
    assert [path for path, _ in web_server.requests] == ["/go", PHOTO_ON_WIRE]


@pytest.mark.parametrize("location", ["http://a..b/x.jpg", "http://[::1/x.jpg", "http://" + "b" * 64 + "/x"])
def test_a_redirect_to_a_meaningless_url_is_refused(web_server, location: str) -> None:
    web_server.routes["/go"] = Route(302, headers={"Location": location})
    with pytest.raises(FetchError, match="Image download refused: the URL"):
        fetch.fetch(web_server.url("/go"), max_bytes=1000, allow_hosts=("127.0.0.1",))
    assert [path for path, _ in web_server.requests] == ["/go"]
