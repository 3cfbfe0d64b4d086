"""No request makes Cutout answer 5xx: hypothesis throws arbitrary requests at every route.

Bodies (bytes, JSON with the dialects' field names and arbitrary nesting,
urlencoded and multipart forms with odd parts), headers, content types, query
values and image URLs (malformed, unicode, IDNA-failing, redirecting, private,
unresolvable `.invalid` names, a real local server) go through the ASGI app in
process (TestClient). Every answer must be below 500. `make test` runs a few
dozen examples per route (CUTOUT_FUZZ_EXAMPLES, default 30); `make fuzz` runs
thousands. URLs never leave the machine: hosts are the local server, private
or reserved addresses, or names under `.invalid` (RFC 6761), which never resolve.
"""
from __future__ import annotations

import io
import json
import os
import re
from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cutout.web import create_app
from local_http import LocalServer, Route

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("CUTOUT_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("CUTOUT_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Every field name any dialect reads, and the options' names.
FIELDS = ["image", "url", "image_file", "image_file_b64", "image_url", "bg_color", "bg_image_url",
          "bg_image_file", "size", "format", "channels", "type", "type_level", "semitransparency",
          "shadow_type", "add_shadow", "shadow_opacity", "crop", "crop_margin", "roi", "scale",
          "position", "mode", "name", "width", "height", "format", "color", "text", "watermarks"]
QUERY = ["mode", "api-version", "expires", "signature", "format", "size"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data",
                 "multipart/form-data; boundary=x", "multipart/form-data; boundary=", "image/jpeg",
                 "image/png", "application/octet-stream", "text/plain", "", "application/json; charset=latin-1",
                 "multipart/mixed", "image/", "*/*"]
VALUES = ["", "0", "1", "-1", "1e309", "nan", "inf", "true", "false", "auto", "png", "zip", "jpg", "webp",
          "full", "preview", "50mp", "4k", "fg-image", "fg-mask", "fg-image-shadow", "backgroundRemoval",
          "foregroundMatting", "2023-02-01-preview", "center", "original", "50%", "10px", "0 0 10 10",
          "10%,10%,90%,90%", "#fff", "red", "81d4fa", "255,0,0,128", "rgba", "alpha", "drop", "3d",
          "\x00", "é" * 3, "9" * 400]


def tiny(fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (24, 16), (200, 30, 40, 255)[: len(mode)] if mode != "P" else 3).save(out, fmt)
    return out.getvalue()


IMAGES = [tiny("JPEG"), tiny("PNG", "RGBA"), tiny("GIF", "P"), tiny("WEBP"), tiny("BMP"), tiny("TIFF", "L")]


@pytest.fixture(scope="module")
def local():
    server = LocalServer()
    server.routes.update({
        "/ok.jpg": Route(body=IMAGES[0], headers={"Content-Type": "image/jpeg"}),
        "/ok.png": Route(body=IMAGES[1], headers={"Content-Type": "image/png"}),
        "/junk": Route(body=b"not an image"),
        "/empty": Route(body=b""),
        "/to-bad-host": Route(302, headers={"Location": "http://a..b/x.jpg"}),
        "/to-bracket": Route(302, headers={"Location": "http://[::1/x.jpg"}),
        "/to-utf8": Route(302, headers={"Location": "/files/фото.jpg".encode().decode("latin-1")}),
        "/files/%D1%84%D0%BE%D1%82%D0%BE.jpg": Route(body=IMAGES[0]),
        "/loop": Route(302, headers={"Location": "/loop"}),
        "/private": Route(302, headers={"Location": "http://10.0.0.1/x.jpg"}),
        "/500": Route(500, b"oops"),
    })
    yield server
    server.close()


@pytest.fixture(scope="module")
def fuzz_client(base_settings, segmenter, local) -> TestClient:
    cfg = replace(base_settings, fetch_allow_hosts=("127.0.0.1",), fetch_timeout=2.0)
    return TestClient(create_app(cfg, segmenter), raise_server_exceptions=False)


def urls(port: int) -> st.SearchStrategy[str]:
    hosts = st.one_of(
        st.sampled_from([f"127.0.0.1:{port}", "10.0.0.1", "169.254.169.254", "[::1]", "[::1", "::1]",
                         "a..b", "a" * 64 + ".invalid", "bücher.invalid", "xn--.invalid", "[fe80::1%25eth0]",
                         "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x", "user:pw@10.0.0.2", "", " ",
                         "exa mple.invalid", "%41.invalid", "\u0661\u0031.invalid", "ＡＢＣ.invalid",
                         "0x7f.1", "2130706433", "[::ffff:127.0.0.1]"]),
        st.text(max_size=20).map(lambda t: t.replace("/", "").replace("@", "") + ".invalid"),
    )
    paths = st.one_of(
        st.sampled_from(["/ok.jpg", "/ok.png", "/junk", "/empty", "/to-bad-host", "/to-bracket", "/to-utf8",
                         "/files/фото.jpg", "/loop", "/private", "/500", "/missing", ""]),
        st.text(max_size=30).map(lambda t: "/" + t),
    )
    schemes = st.sampled_from(["http://", "https://", "ftp://", "file://", "", "http:/", "HTTP://", "//"])
    built = st.builds(lambda s, h, p, q: s + h + p + q, schemes, hosts, paths,
                      st.sampled_from(["", "?a=1", "?ä=ö ü", "#frag", "?%zz"]))
    return st.one_of(built, st.text(max_size=60))


def values(port: int) -> st.SearchStrategy[str]:
    b64 = st.sampled_from(IMAGES).map(lambda b: __import__("base64").b64encode(b).decode())
    return st.one_of(st.sampled_from(VALUES), st.text(max_size=40), urls(port), b64)


def json_values(port: int) -> st.SearchStrategy:
    leaves = st.one_of(values(port), st.integers(), st.floats(), st.booleans(), st.none())
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner,
                                                     max_size=3)), max_leaves=8)


@st.composite
def request_bodies(draw, port: int) -> dict:
    """Keyword arguments for TestClient.request: content/data/files/json plus a content type."""
    kind = draw(st.sampled_from(["bytes", "image", "json", "deep-json", "form", "multipart", "none"]))
    ctype = draw(st.sampled_from(CONTENT_TYPES) | st.text(max_size=30))
    headers = {}
    if kind == "bytes":
        out = {"content": draw(st.binary(max_size=200))}
    elif kind == "image":
        data = draw(st.sampled_from(IMAGES))
        cut = draw(st.integers(0, len(data)))
        out = {"content": data if draw(st.booleans()) else data[:cut]}
    elif kind == "json":
        doc = draw(st.dictionaries(st.sampled_from(FIELDS), json_values(port), max_size=5) | json_values(port))
        out = {"content": json.dumps(doc).encode()}
        ctype = draw(st.sampled_from(["application/json", ""]) | st.just(ctype))
    elif kind == "deep-json":
        depth = draw(st.integers(1, 3000))
        out = {"content": ('{"url":' + "[" * depth + "]" * depth + "}").encode()}
        ctype = "application/json"
    elif kind == "form":
        fields = draw(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values(port), max_size=6))
        return {"data": fields}
    elif kind == "multipart":
        fields = draw(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values(port), max_size=4))
        files = draw(st.dictionaries(
            st.sampled_from(["image", "image_file", "bg_image_file", "file"]) | st.text(max_size=8),
            st.tuples(st.text(max_size=12), st.sampled_from(IMAGES) | st.binary(max_size=64),
                      st.sampled_from(["image/jpeg", "image/png", "", "text/plain", "application/json"])),
            min_size=0, max_size=3))
        return {"data": fields, "files": files or {"image": ("a.jpg", IMAGES[0], "image/jpeg")}}
    else:
        out = {}
    if ctype:
        headers["Content-Type"] = ctype
    return {**out, "headers": headers}


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=40)
extra_headers = st.dictionaries(
    st.sampled_from(["X-Api-Key", "Ocp-Apim-Subscription-Key", "X-RapidAPI-Proxy-Secret", "X-RapidAPI-User",
                     "X-RapidAPI-Subscription", "Accept", "X-Request-Id", "Authorization", "Accept-Encoding",
                     "Range", "Expect"]), header_text, max_size=3)
queries = st.dictionaries(st.sampled_from(QUERY) | st.text(max_size=6), st.sampled_from(VALUES) | st.text(max_size=20),
                          max_size=4)


def send(client: TestClient, method: str, path: str, params: dict, headers: dict, body: dict):
    body = dict(body)
    headers = {key: value.encode("latin-1", "replace").translate(None, b"\r\n\x00")
               for key, value in {**headers, **body.pop("headers", {})}.items()}
    response = client.request(method, path, params=params, headers=headers, **body)
    assert response.status_code < 500, (method, path, params, headers, {k: str(v)[:300] for k, v in body.items()},
                                        response.status_code, response.text[:500])
    return response


@FUZZ
@given(data=st.data())
def test_api4ai_results_never_5xx(fuzz_client, local, data):
    send(fuzz_client, "POST", "/v1/results", data.draw(queries), data.draw(extra_headers),
         data.draw(request_bodies(local.port)))


@FUZZ
@given(data=st.data())
def test_removebg_never_5xx(fuzz_client, local, data):
    send(fuzz_client, "POST", "/v1.0/removebg", data.draw(queries), data.draw(extra_headers),
         data.draw(request_bodies(local.port)))


@FUZZ
@given(data=st.data())
def test_azure_segment_never_5xx(fuzz_client, local, data):
    params = data.draw(queries | st.fixed_dictionaries(
        {"api-version": st.sampled_from(["2023-02-01-preview", "2023-04-01-preview"]),
         "mode": st.sampled_from(["backgroundRemoval", "foregroundMatting"])}))
    send(fuzz_client, "POST", "/computervision/imageanalysis:segment", params, data.draw(extra_headers),
         data.draw(request_bodies(local.port)))


def routes(client: TestClient) -> list[str]:
    """Every path the app serves (its OpenAPI and docs pages included), parameters as {name}:
    FastAPI keeps an included router's routes behind one entry (`original_router`)."""
    found: set[str] = set()

    def walk(entries, prefix: str = "") -> None:
        for route in entries:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "methods"):
                found.add(prefix + route.path)

    walk(client.app.routes)
    assert len(found) > 30  # every dialect's routes, not only the app's own few
    return sorted(found)


@FUZZ
@given(data=st.data())
def test_any_method_on_any_route_never_5xx(fuzz_client, local, data):
    template = data.draw(st.sampled_from(routes(fuzz_client)) | st.text(max_size=20).map(lambda t: "/" + t))
    path = re.sub(r"\{[^}]*\}", lambda _: quote(data.draw(
        st.text(max_size=30) | st.sampled_from(["a/b.png", "../../etc/passwd", "%2e%2e/x", "results/x.png",
                                                "img_0", "0" * 40])), safe="/"), template)
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    body = data.draw(request_bodies(local.port)) if method in ("POST", "PUT", "PATCH") else {}
    send(fuzz_client, method, quote(path, safe="/%:@"), data.draw(queries), data.draw(extra_headers), body)


adobe_headers = st.fixed_dictionaries({}, optional={
    "Authorization": st.sampled_from(["Bearer ", "Bearer x", "bearer", "Basic abc"]) | header_text,
    "Idempotency-Key": header_text})


@FUZZ
@given(data=st.data())
def test_adobe_remove_background_never_5xx(fuzz_client, local, data):
    headers = {**data.draw(extra_headers), **data.draw(adobe_headers)}
    send(fuzz_client, "POST", "/v2/remove-background", data.draw(queries), headers,
         data.draw(request_bodies(local.port)))


@FUZZ
@given(data=st.data(), path=st.sampled_from(["/v1/images", "/v1/images/upload",
                                             "/v1/images/image_0000000000000000000000000a/resize",
                                             "/v1/images/image_0000000000000000000000000a/blur"]))
def test_stored_images_never_5xx(fuzz_client, local, data, path):
    send(fuzz_client, "POST", path, data.draw(queries), data.draw(extra_headers),
         data.draw(request_bodies(local.port)))
