"""The edges of the wire: Host and forwarded headers, repeated keys, reused idempotency keys,
request smuggling, secrets in the access log, HEAD probes, bodies with nothing in them.

Each over a real connection: the app under `cutout serve`'s uvicorn configuration
(httptools, deadlines) on 127.0.0.1, or raw sockets where the bytes matter.
"""
from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import replace

import httpx
import pytest

from conftest import keyed_app, new_key
from local_http import AppServer


def start(app, cfg):
    served = AppServer(app, cfg)
    return served.port, served.close


@pytest.fixture(scope="module")
def served(base_settings, segmenter, tmp_path_factory):
    """(port, app, key): keys required, Host allowed only for 127.0.0.1 and localhost."""
    cfg = replace(base_settings, allowed_hosts=("127.0.0.1", "localhost"))
    app = keyed_app(cfg, segmenter, str(tmp_path_factory.mktemp("edges")))
    port, stop = start(app, app.state.services.settings)
    yield port, app, new_key(app, "edges")
    stop()
    app.state.services.jobs.queue.close()


def raw(port: int, request: bytes, wait: float = 2.0) -> bytes:
    """Send `request` as is; everything the server answers until it closes or `wait` passes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    sock.sendall(request)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except socket.timeout:
        pass
    sock.close()
    return data


JOB = json.dumps({"image": {"source": {"url": "https://images.example.com/a.jpg"}}}).encode()


@pytest.mark.parametrize("path, body", [
    ("/v2/remove-background", JOB),
    ("/v1/images", None),
])
def test_an_untrusted_host_never_reaches_a_url(served, path, body):
    port, _, key = served
    method = "POST" if body else "GET"
    request = (f"{method} {path} HTTP/1.1\r\nHost: evil.example\r\nx-api-key: {key}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body or b'')}\r\n"
               f"Connection: close\r\n\r\n").encode() + (body or b"")
    answer = raw(port, request)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"CUTOUT_PUBLIC_BASE_URL" in answer


def test_allowed_hosts_and_the_public_base_url_make_the_links(served, base_settings, segmenter,
                                                              tmp_path):
    port, _, key = served
    listed = httpx.get(f"http://localhost:{port}/v1/images?take=1", headers={"x-api-key": key})
    assert listed.status_code == 200  # localhost is allowed: links are built from it
    # A configured public base URL wins over any Host, forwarded or not.
    cfg = replace(base_settings, public_base_url="https://api.example.com/prod",
                  allowed_hosts=())
    app = keyed_app(cfg, segmenter, str(tmp_path))
    other, stop = start(app, app.state.services.settings)
    try:
        key2 = new_key(app)
        accepted = httpx.post(f"http://127.0.0.1:{other}/v2/remove-background", content=JOB,
                              headers={"x-api-key": key2, "Host": "evil.example",
                                       "Content-Type": "application/json",
                                       "X-Forwarded-Host": "evil2.example"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["statusUrl"].startswith("https://api.example.com/prod/v2/status/")
    finally:
        stop()
        app.state.services.jobs.queue.close()


def test_forwarded_headers_count_only_from_trusted_proxies(base_settings, segmenter, tmp_path):
    cfg = replace(base_settings, allowed_hosts=("api.example.com",),
                  trusted_proxies=("127.0.0.1",))
    app = keyed_app(cfg, segmenter, str(tmp_path / "trusted"))
    port, stop = start(app, app.state.services.settings)
    try:
        key = new_key(app)
        sent = {"x-api-key": key, "Content-Type": "application/json",
                "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https"}
        accepted = httpx.post(f"http://127.0.0.1:{port}/v2/remove-background", content=JOB,
                              headers=sent)
        assert accepted.json()["statusUrl"].startswith("https://api.example.com/v2/status/")
        evil = httpx.post(f"http://127.0.0.1:{port}/v2/remove-background", content=JOB,
                          headers={**sent, "X-Forwarded-Host": "evil.example"})
        assert evil.status_code == 400  # forwarded, yet held to the allowed list
    finally:
        stop()
        app.state.services.jobs.queue.close()
    untrusted = keyed_app(replace(cfg, trusted_proxies=("10.0.0.0/8",)), segmenter,
                          str(tmp_path / "untrusted"))
    port, stop = start(untrusted, untrusted.state.services.settings)
    try:
        key = new_key(untrusted)
        ignored = httpx.post(f"http://127.0.0.1:{port}/v2/remove-background", content=JOB,
                             headers={**sent, "x-api-key": key})
        assert ignored.status_code == 400  # 127.0.0.1 is not a trusted proxy: its Host counts
    finally:
        stop()
        untrusted.state.services.jobs.queue.close()


def test_a_repeated_key_header_is_one_key_or_an_error_that_says_so(served):
    port, _, key = served
    for keys in ([key, key], [f"{key},{key}"]):  # uvicorn keeps both; API Gateway joins them
        headers = "".join(f"x-api-key: {k}\r\n" for k in keys)
        answer = raw(port, f"GET /v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                           "Connection: close\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    for keys in ([key, "live_other"], [f"{key},live_other"]):
        headers = "".join(f"x-api-key: {k}\r\n" for k in keys)
        answer = raw(port, f"GET /v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                           "Connection: close\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]
        assert b"2 different API keys" in answer


def test_an_idempotency_key_reused_for_another_body_is_422(served, web_server, coffee_jpeg):
    port, app, key = served
    url = f"http://127.0.0.1:{port}/v2/remove-background"
    sent = {"x-api-key": key, "Idempotency-Key": "order-17"}
    first = httpx.post(url, json={"image": {"source": {"url": "https://a.example/1.jpg"}}},
                       headers=sent)
    again = httpx.post(url, json={"image": {"source": {"url": "https://a.example/1.jpg"}},
                                  "mode": "cutout"}, headers=sent)  # the same request, said again
    other = httpx.post(url, json={"image": {"source": {"url": "https://a.example/2.jpg"}}},
                       headers=sent)
    assert first.status_code == 202 and again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"]
    assert other.status_code == 422, other.text
    assert other.json()["error_code"] == "idempotency_key_reused"
    assert first.json()["jobId"] in other.json()["message"]
    someone = new_key(app, "someone else")  # keys are scoped per account
    theirs = httpx.post(url, json={"image": {"source": {"url": "https://a.example/2.jpg"}}},
                        headers={"x-api-key": someone, "Idempotency-Key": "order-17"})
    assert theirs.status_code == 202 and theirs.json()["jobId"] != first.json()["jobId"]


def test_content_length_with_transfer_encoding_is_refused_and_nothing_is_smuggled(served):
    port, _, _ = served
    answer = raw(port, b"POST /v1/results HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                       b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1  # the smuggled GET is never answered
    assert b"connection: close" in answer.lower()


def test_an_oversized_request_head_is_431(served):
    port, _, _ = served
    answer = raw(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000
                 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_head_probes_answer_like_get_without_a_body(served):
    port, _, _ = served
    for path in ("/health", "/ready"):
        get = httpx.get(f"http://127.0.0.1:{port}{path}")
        head = httpx.head(f"http://127.0.0.1:{port}{path}")
        assert (head.status_code, head.content) == (get.status_code, b"")
        assert head.headers["content-type"] == get.headers["content-type"]


def test_public_image_tokens_are_logged_as_a_hash(served, caplog, astronaut_jpeg):
    port, _, _ = served
    key = new_key(served[1], "publisher")
    base = f"http://127.0.0.1:{port}/v1/images"
    image = httpx.post(f"{base}/upload", headers={"x-api-key": key},
                       data={"name": "x"}, files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert image.status_code == 201, image.text
    url = httpx.post(f"{base}/{image.json()['id']}/publish", headers={"x-api-key": key}).json()["url"]
    token = url.rsplit("/", 1)[1]
    def logged() -> list[str]:
        paths = [r.path for r in caplog.records if r.name == "cutout.access" and hasattr(r, "path")]
        return [p for p in paths if p.startswith("/v1/public/images/")]

    with caplog.at_level(logging.INFO, logger="cutout.access"):
        assert httpx.get(url).status_code == 200
        assert httpx.get(url + "x").status_code == 404
        deadline = time.monotonic() + 10  # the access line is written once the answer is sent
        while len(logged()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    public = logged()
    assert len(public) == 2 and not any(token in p for p in public), public
    assert public[0] != public[1] and all(len(p.rsplit("#", 1)[1]) == 12 for p in public)


def test_bodies_with_nothing_in_them_say_what_to_send(served):
    port, _, key = served
    azure = httpx.post(f"http://127.0.0.1:{port}/computervision/imageanalysis:segment"
                       "?api-version=2023-02-01-preview&mode=backgroundRemoval", json={},
                       headers={"Ocp-Apim-Subscription-Key": key})
    assert azure.status_code == 400
    assert azure.json()["error"]["innererror"]["code"] == "InvalidImageUrl"
    assert "no image" in azure.json()["error"]["message"]
    stored = httpx.post(f"http://127.0.0.1:{port}/v1/images/image_{'0' * 24}/blur",
                        content=b"\x89PNG raw bytes", headers={"x-api-key": key})
    assert stored.status_code == 422 and "application/json" in stored.json()["errors"][0]


def test_a_file_field_sent_twice_is_refused(served, coffee_jpeg):
    port, _, key = served
    files = [("image", ("a.jpg", coffee_jpeg, "image/jpeg")),
             ("image", ("b.jpg", coffee_jpeg, "image/jpeg"))]
    api4ai = httpx.post(f"http://127.0.0.1:{port}/v1/results", files=files,
                        headers={"x-api-key": key})
    assert api4ai.status_code == 422 and "more than once" in api4ai.json()["detail"]
    removebg = httpx.post(f"http://127.0.0.1:{port}/v1.0/removebg",
                          files=[("image_file", f[1]) for f in files], headers={"X-Api-Key": key})
    assert removebg.status_code == 400 and "more than once" in removebg.text
