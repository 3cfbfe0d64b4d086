"""The OpenAPI spec is the listing: it must describe what the live app really does.

schemathesis generates requests from /openapi.json for every operation (every
encoding of every request body, every declared parameter), sends them to the
app with a real key, and checks each answer against the spec with its standard
checks: no server error, a declared status, a declared content type, a body
that matches the declared schema, the declared headers, and that operations
which declare a key refuse requests without one. Image URLs in generated
bodies are pointed at a local server (a photo, or a 404), so nothing leaves
the machine.

Also: the committed docs/openapi.json is the served spec, and /docs loads
Swagger UI from the package, under an API Gateway stage path too.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import keyed_app, new_key
from local_http import AppServer, LocalServer, Route

ROOT = Path(__file__).resolve().parents[2]
SPEC_FILE = ROOT / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = 25
# The stored-images dialect has 17 operations, most answering from one store read (a 404 for
# a generated id); fewer examples each keep this file's run time bounded on a busy machine.
IMAGE_ROUTES = r"^/v1/(public/)?images"
EXAMPLES_PER_IMAGE_OPERATION = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, ignored_auth]
URL_FIELDS = ("url", "image_url", "bg_image_url")


def small_image(pixels: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
def photos(astronaut: np.ndarray) -> dict[str, bytes]:
    """A real photo, small enough that the model's passes stay quick, in three formats."""
    small = np.asarray(Image.fromarray(astronaut).resize((96, 96)))
    return {fmt: small_image(small, fmt) for fmt in ("JPEG", "PNG", "WEBP")}


@pytest.fixture(scope="module")
def images_server(photos: dict[str, bytes]):
    server = LocalServer()
    server.routes["/photo.jpg"] = Route(body=photos["JPEG"], headers={"Content-Type": "image/jpeg"})
    yield server
    server.close()


@pytest.fixture(scope="module")
def live(base_settings, segmenter, tmp_path_factory: pytest.TempPathFactory):
    """The app as deployed (keys required), and a key whose limits generation cannot reach."""
    app = keyed_app(base_settings, segmenter, str(tmp_path_factory.mktemp("openapi")))
    return app, new_key(app, owner="schemathesis")


@pytest.fixture(scope="module")
def server(live, images_server: LocalServer):
    """The live app under uvicorn; generated image URLs point at `images_server`."""
    app, key = live
    IMAGE_URLS[:] = [images_server.url("/photo.jpg"), images_server.url("/missing.jpg")]
    served = AppServer(app)
    yield served.url, key
    served.close()


# The committed spec, which test_the_committed_spec_is_the_served_one holds equal to the
# served one (schemathesis's lazy fixture loader does not run under this pytest).
schema = schemathesis.openapi.from_path(SPEC_FILE, config=SchemathesisConfig.from_dict({
    "generation": {"max-examples": EXAMPLES_PER_OPERATION},
    "operations": [{"include-path-regex": IMAGE_ROUTES,
                    "generation": {"max-examples": EXAMPLES_PER_IMAGE_OPERATION}}],
}))
IMAGE_URLS: list[str] = []


@schema.hook
def map_body(ctx, body):  # noqa: ARG001 (schemathesis passes its context)
    """Image URLs go to the local server: the photo, or a 404 (no traffic leaves the host)."""
    if isinstance(body, dict):
        for name in URL_FIELDS:
            if name in body:
                body[name] = IMAGE_URLS[len(str(body[name])) % 2]
    return body


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_answers_as_its_spec_says(case, server) -> None:
    url, key = server
    case.call_and_validate(base_url=url, headers=key_header(case, key), checks=CHECKS)


def key_header(case, key: str) -> dict[str, str]:
    """The key in the header of the operation's first security scheme (the dialect's own)."""
    security = case.operation.definition.raw.get("security")
    if not security:
        return {}
    scheme = next(iter(security[0]))
    return {schema.raw_schema["components"]["securitySchemes"][scheme]["name"]: key}


# ----------------------------------------------------------------------- the committed file


def test_the_committed_spec_is_the_served_one(client: TestClient) -> None:
    served = client.get("/openapi.json").json()
    committed = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    assert committed == served, "docs/openapi.json is stale: run `make openapi` and commit it"


def test_every_operation_declares_its_body_statuses_and_keys(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {
        "X-Api-Key", "Ocp-Apim-Subscription-Key", "X-RapidAPI-Proxy-Secret"}
    keyed = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if method == "post":
                assert op["requestBody"]["content"], where
                assert "413" in op["responses"], where
            if op.get("security"):  # a metered operation: its refusals are declared
                keyed.add(where)
                assert {"403", "503"} <= set(op["responses"]), where
                if method == "post":
                    assert "429" in op["responses"], where
            for response in op["responses"].values():
                assert "X-Request-Id" in response["headers"], where
    assert {"POST /v1/results", "GET /v1/account", "POST /v1.0/removebg", "GET /v1.0/account",
            "POST /computervision/imageanalysis:segment"} <= keyed
    segment = spec["paths"]["/computervision/imageanalysis:segment"]["post"]
    assert segment["security"][0] == {"SubscriptionKey": []}
    assert set(segment["responses"]["200"]["content"]) == {"image/png"}
    removebg = spec["paths"]["/v1.0/removebg"]["post"]["responses"]["200"]["content"]
    assert {"image/png", "image/jpeg", "image/webp", "application/zip",
            "application/json"} <= set(removebg)
    detail = spec["paths"]["/v1/results"]["post"]["responses"]["422"]["content"]
    assert detail["application/json"]["schema"] == {"$ref": "#/components/schemas/Detail"}
    assert spec["components"]["schemas"]["Detail"]["properties"]["detail"] == {"type": "string"}


# ----------------------------------------------------------------------- /docs


def asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("root_path", ["", "/prod"])
def test_docs_load_nothing_from_another_host(live, root_path: str) -> None:
    app, _ = live
    with TestClient(app, root_path=root_path) as browser:
        page = browser.get(f"{root_path}/docs")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        urls = asset_urls(page.text)
        assert len(urls) == 4, urls  # stylesheet, favicon, script, the spec
        for url in urls:
            assert not urlsplit(url).netloc, f"{url} is on another host"
            resolved = urljoin(f"http://testserver{root_path}/docs", url)  # as a browser does
            assert urlsplit(resolved).path.startswith(f"{root_path}/"), f"{url} loses the stage"
            answer = browser.get(resolved)
            assert answer.status_code == 200, url
            assert answer.content, url
        assert browser.get(urljoin(f"http://testserver{root_path}/docs", urls[-1])).json()[
            "openapi"].startswith("3.")
        script = browser.get(f"{root_path}/docs/assets/swagger-ui-bundle.js")
        assert "javascript" in script.headers["content-type"]
        assert b"SwaggerUIBundle" in script.content
        assert not re.search(rb"sourceMappingURL=(?!data:)", script.content)
    assert "//cdn." not in page.text and "jsdelivr" not in page.text
    assert client_has_no_redoc(app)


def client_has_no_redoc(app) -> bool:
    """FastAPI's /redoc loads from a CDN: it is switched off."""
    return TestClient(app).get("/redoc").status_code == 404


def test_swagger_ui_ships_in_the_lambda_layer(tmp_path: Path) -> None:
    """The cutout layer is built by copying the package: Swagger UI and its licence go along."""
    built = subprocess.run(["make", "-C", "layers/cutout", "build-CutoutLayer",
                            f"ARTIFACTS_DIR={tmp_path}"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    assets = tmp_path / "python" / "cutout" / "web" / "static" / "swagger-ui"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE",
                 "NOTICE"):
        assert (assets / name).stat().st_size > 0, name


# ----------------------------------------------------------------------- malformed bodies

MALFORMED = {"Content-Type": "multipart/form-data"}  # no boundary: the body cannot be parsed


def test_a_malformed_multipart_body_is_refused_in_each_dialects_declared_shape(live) -> None:
    """As the README and each dialect's spec say: API4AI 422 `detail`, remove.bg and Azure 400."""
    app, key = live
    browser = TestClient(app)
    auth = {"X-Api-Key": key, **MALFORMED}
    api4ai = browser.post("/v1/results", content=b"--", headers=auth)
    assert api4ai.status_code == 422
    assert api4ai.json() == {"detail": "Malformed request body: Missing boundary in multipart."}
    removebg = browser.post("/v1.0/removebg", content=b"--", headers=auth)
    assert removebg.status_code == 400
    assert removebg.json()["errors"][0]["code"] == "bad_request"
    azure = browser.post("/computervision/imageanalysis:segment?api-version=2023-04-01-preview"
                         "&mode=foregroundMatting", content=b"--", headers=auth)
    assert azure.status_code == 400
    assert azure.headers["x-ms-error-code"] == "InvalidArgument"
    assert azure.json()["error"]["innererror"]["message"].startswith("Malformed request body")
