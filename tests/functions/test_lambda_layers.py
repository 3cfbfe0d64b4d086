"""What `sam build` would deploy works: the layers built, then the handler run from them alone.

`make layers` builds the three layers with the same Makefile targets SAM runs
(for this machine's Python version). The handler is then imported in a fresh
`python -B -I -S`: only the standard library, the built layer folders,
functions/api and a stand-in for what the Lambda runtime provides (boto3 and
its dependencies) are importable, and nothing can be written beside them, as
under Lambda's read-only /opt. A dependency missing from a layer fails here.

The function's environment is the template's own (Globals.Function.Environment
with the parameters' defaults), pointed at real local servers: dynalite for
the table, moto's S3 server for the bucket, a local HTTP server for image URLs.
Each sample event in events/ goes through the handler; the responses are
checked as API Gateway would pass them on (status, content type,
isBase64Encoded, the image inside), and so are the logs and EMF metrics.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest
from cfnlint.decode import decode
from PIL import Image

from cutout.engine import cpus
from local_http import LocalServer, Route
from photos import assert_subject_found

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
FUNCTION = ROOT / "functions" / "api"
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: 250 MB for function code and all its layers
# What the Lambda Python runtime itself provides, copied from this venv as its stand-in.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
TEST_LIMIT = 150_000  # response bytes: small enough that the larger samples go by URL / 413
API_EVENTS = {
    "api-bad-request.json", "api-get-modes.json", "api-json-base64.json", "api-json-url.json",
    "api-multipart-upload.json", "api-removebg-alpha.json", "api-removebg-rgba.json",
    "api-adobe-remove-background.json",
    "api-get-page.json", "api-get-ready.json",
}


# ---------------------------------------------------------------- template environment

def resolve(value, params: dict, resources: dict, conditions: dict):
    """Evaluate the intrinsic functions the template's environment uses."""
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return params[arg] if arg in params else resources[arg]
        if fn == "Fn::If":
            name, yes, no = arg
            return resolve(yes if conditions[name] else no, params, resources, conditions)
        if fn == "Fn::Equals":
            left, right = (resolve(v, params, resources, conditions) for v in arg)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not resolve(arg[0], params, resources, conditions)
        raise AssertionError(f"unhandled intrinsic {fn}")
    return value


def template_environment(resources: dict, **overrides: str) -> dict[str, str]:
    """The function environment template.yaml gives with its parameters' defaults."""
    template, errors = decode(str(ROOT / "template.yaml"))
    assert not errors
    params = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    params.update(overrides)
    conditions: dict[str, bool] = {}
    for name, expression in template["Conditions"].items():
        conditions[name] = bool(resolve(expression, params, resources, conditions))
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {k: str(resolve(v, params, resources, conditions)) for k, v in variables.items()}


def create_table_like_template(name: str) -> None:
    """The table as template.yaml declares it: its keys and billing mode."""
    template, _ = decode(str(ROOT / "template.yaml"))
    props = template["Resources"]["Table"]["Properties"]
    client = boto3.client("dynamodb")
    client.create_table(TableName=name, KeySchema=props["KeySchema"],
                        AttributeDefinitions=props["AttributeDefinitions"],
                        BillingMode=props["BillingMode"])
    client.get_waiter("table_exists").wait(TableName=name)  # (dynalite has no TTL to switch on)


# ---------------------------------------------------------------- building and invoking

@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layers")
    build = subprocess.run(["make", "layers", f"LAYERS_DIR={out}"], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder standing in for the Lambda runtime's own packages (/var/runtime)."""
    out = tmp_path_factory.mktemp("runtime")
    site = Path(boto3.__file__).resolve().parents[1]
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, out / name)
    return out


def invoke(layers: Path, runtime: Path, events: list[Path], env: dict[str, str],
           workdir: Path) -> tuple[dict, str, str]:
    out = workdir / f"responses-{uuid.uuid4().hex[:6]}.json"
    command = [sys.executable, "-B", "-I", "-S", str(EVENTS / "invoke.py"),
               "--path", str(layers / "cutout" / "python"),
               "--path", str(layers / "deps" / "python"),
               "--path", str(runtime),
               "--handler-dir", str(FUNCTION), "--out", str(out), *map(str, events)]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600,
                          env={"PATH": os.environ["PATH"], "HOME": str(workdir), **env})
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(out.read_text()), done.stdout, done.stderr


def aws_env(bucket_endpoint: str, dynamo_endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": bucket_endpoint, "AWS_ENDPOINT_URL_DYNAMODB": dynamo_endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": "cutout-api", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
    }


@pytest.fixture(scope="module")
def deployment(moto_server: str, dynalite) -> dict[str, str]:
    """The stack's table and bucket, on local servers."""
    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"cutout-layers-{suffix}", f"cutout-layers-{suffix}"
    create_table_like_template(table)
    boto3.client("s3").create_bucket(Bucket=bucket)
    return {"Table": table, "Bucket": bucket, "ProxySecret": "", "_s3": moto_server,
            "_dynamodb": dynalite.endpoint}


@pytest.fixture(scope="module")
def run(layers: Path, runtime: Path, deployment: dict, tmp_path_factory) -> dict:
    """Every API sample event through the handler, on a deployment that allows anonymous use."""
    workdir = tmp_path_factory.mktemp("invoke")
    server = LocalServer()
    server.routes["/photos/coffee.jpg"] = Route(
        body=(EVENTS / "photos" / "coffee.jpg").read_bytes(), headers={"Content-Type": "image/jpeg"})
    events = sorted(EVENTS.glob("api-*.json"))
    assert {e.name for e in events} == API_EVENTS, "new sample event: add its expectations here"
    by_name = {e.name: json.loads(e.read_text()) for e in events}
    url_event = by_name["api-json-url.json"]
    url_event["body"] = json.dumps({"url": server.url("/photos/coffee.jpg")})
    rewritten = workdir / "api-json-url.json"
    rewritten.write_text(json.dumps(url_event))
    events = [rewritten if e.name == rewritten.name else e for e in events]

    env = template_environment(deployment, AllowAnonymous="true")
    env.update(aws_env(deployment["_s3"], deployment["_dynamodb"]))
    env.update(CUTOUT_MODEL_DIR=str(layers / "model" / "models"),  # /opt/models on Lambda
               CUTOUT_DATA_DIR=str(workdir / "data"), CUTOUT_ANONYMOUS_PLAN="mega",
               CUTOUT_FETCH_ALLOW_HOSTS="127.0.0.1", CUTOUT_MAX_RESPONSE_BYTES=str(TEST_LIMIT))
    try:
        summary, stdout, stderr = invoke(layers, runtime, events, env, workdir)
    finally:
        server.close()
    responses = {r["event"]: r["response"] for r in summary["results"]}
    return {"summary": summary, "responses": responses, "stdout": stdout, "stderr": stderr,
            "events": by_name, "layers": layers, "runtime": runtime}


# ---------------------------------------------------------------- helpers

def json_body(response: dict) -> object:
    assert response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/json"
    return json.loads(response["body"])


def entity_image(response: dict, mode: str) -> Image.Image:
    """The API4AI entity's image, inline or fetched from its presigned URL."""
    assert response["statusCode"] == 200
    result = json_body(response)["results"][0]
    assert result["status"] == {"code": "ok", "message": "Success"}
    (entity,) = result["entities"]
    assert entity["name"] == f"general-{mode}" and entity["format"] == "PNG"
    if "image" in entity:
        data = base64.b64decode(entity["image"])
    else:
        got = httpx.get(entity["url"])
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        data = got.content
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.size == (result["width"], result["height"])
    return img


def alpha(img: Image.Image) -> np.ndarray:
    return np.asarray(img if img.mode == "L" else img.getchannel("A"))


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ---------------------------------------------------------------- the tests

def test_only_the_built_layers_were_imported(run):
    stdlib = Path(os.__file__).parent  # the base interpreter's, lib-dynload included
    allowed = [run["layers"], run["runtime"], FUNCTION, stdlib]
    modules = run["summary"]["modules"]
    outside = {name: path for name, path in modules.items()
               if not any(Path(path).is_relative_to(root) for root in allowed)
               or "site-packages" in Path(path).parts}
    assert outside == {}
    assert modules["cutout"] == str(run["layers"] / "cutout" / "python" / "cutout" / "__init__.py")
    assert modules["handler"] == str(FUNCTION / "handler.py")
    for name in ("onnxruntime", "numpy", "PIL", "fastapi", "mangum", "aws_lambda_powertools"):
        assert Path(modules[name]).is_relative_to(run["layers"] / "deps" / "python"), name
    assert Path(modules["boto3"]).is_relative_to(run["runtime"])


def test_function_and_layers_fit_in_lambdas_250_mb(run):
    sizes = {}
    for name, folder in [("function", FUNCTION), *[(n, run["layers"] / n)
                                                   for n in ("cutout", "deps", "model")]]:
        sizes[name] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print("unzipped bytes:", sizes, "total", sum(sizes.values()))
    assert sizes["model"] > 4_000_000  # the model really is in its layer
    assert sum(sizes.values()) < LAMBDA_UNZIPPED_LIMIT


def test_the_model_layer_builds_the_way_sam_build_runs_it(tmp_path: Path):
    """`sam build` runs the layer's Makefile with a plain python3: no dev venv, no photos.

    The default model (INT8) must still come out byte for byte as the registry names it,
    together with the fp32 file it is made from, so both models are deployable.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUANT_PYTHON", "MODEL", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    build = subprocess.run(["make", "-C", "layers/model", "build-ModelLayer", f"ARTIFACTS_DIR={tmp_path}"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    registry = json.loads((ROOT / "layers" / "cutout" / "python" / "cutout" / "engine" / "models.json").read_text())
    built = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in (tmp_path / "models").iterdir()}
    assert built == {registry[name]["filename"]: registry[name]["sha256"] for name in ("u2netp-int8", "u2netp")}


def test_get_modes(run):
    response = run["responses"]["api-get-modes.json"]
    assert response["statusCode"] == 200
    assert json_body(response) == ["fg-image", "fg-image-shadow", "fg-mask"]
    assert response["headers"]["x-request-id"]


def test_adobe_job_is_accepted_from_the_layers(run):
    response = run["responses"]["api-adobe-remove-background.json"]
    assert response["statusCode"] == 202
    body = json_body(response)
    assert set(body) == {"jobId", "statusUrl"}
    assert body["statusUrl"].endswith(f"/v2/status/{body['jobId']}")
def test_the_page_and_readiness_are_served_from_the_layers(run):
    page = run["responses"]["api-get-page.json"]
    assert page["statusCode"] == 200
    assert page["headers"]["content-type"].startswith("text/html")
    html = base64.b64decode(page["body"]).decode() if page.get("isBase64Encoded") else page["body"]
    assert '<script src="static/page.js" defer></script>' in html  # relative: the stage path stays
    ready = run["responses"]["api-get-ready.json"]
    assert ready["statusCode"] == 200
    assert json_body(ready)["checks"] == {"model": "ok", "store": "ok"}


def test_bad_request_is_a_clear_422(run):
    response = run["responses"]["api-bad-request.json"]
    assert response["statusCode"] == 422
    assert json_body(response) == {"detail": "Request body is not valid JSON."}


def test_multipart_upload_base64_body(run):
    """Binary request body: API Gateway's base64 multipart; the cut-out is over the limit, so a URL."""
    response = run["responses"]["api-multipart-upload.json"]
    (entity,) = json_body(response)["results"][0]["entities"]
    assert "url" in entity and "image" not in entity
    img = entity_image(response, "fg-image")
    assert img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(alpha(img), "astronaut")


def test_json_with_base64_image(run):
    img = entity_image(run["responses"]["api-json-base64.json"], "fg-mask")
    assert img.mode == "L" and img.size == (600, 400)
    assert_subject_found(alpha(img), "coffee")


def test_json_with_url(run):
    img = entity_image(run["responses"]["api-json-url.json"], "fg-image-shadow")
    assert img.mode == "RGBA" and img.size == (600, 400)
    assert_subject_found(alpha(img), "coffee")


def test_binary_png_response_is_base64_encoded_for_api_gateway(run):
    response = run["responses"]["api-removebg-alpha.json"]
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert response["headers"]["content-type"] == "image/png"
    img = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    assert img.format == "PNG" and img.mode == "L" and img.size == (600, 400)
    assert_subject_found(np.asarray(img), "coffee")


def test_response_over_the_limit_is_a_413_not_a_502(run):
    response = run["responses"]["api-removebg-rgba.json"]
    assert response["statusCode"] == 413
    body = json_body(response)
    message = body.get("detail") or body["errors"][0].get("detail") or body["errors"][0]["title"]
    assert f"{TEST_LIMIT} bytes" in message
    assert len(json.dumps(response)) <= TEST_LIMIT


def test_logs_are_structured_with_request_ids_and_no_image_bytes(run):
    lines = log_lines(run["stdout"])
    (init,) = [line for line in lines if line.get("message") == "init complete"]
    assert init["init_seconds"] > init["model_load_seconds"] > 0
    assert init["model"] == ("u2netp-int8" if cpus.exact_int8() else "u2netp") and init["max_response_bytes"] == TEST_LIMIT
    access = [line for line in lines if line.get("message") == "request"]
    assert len(access) == len(API_EVENTS)
    api_ids = {e["requestContext"]["requestId"] for e in run["events"].values()}
    assert {line["correlation_id"] for line in access} == api_ids
    assert all(line["request_id"] and line["function_request_id"] for line in access)
    metered = [line for line in access if line["path"] == "/v1/results" and line["status"] == 200]
    assert metered and all(line["account"] == "anonymous" for line in metered)  # the key id
    everything = run["stdout"] + run["stderr"]
    image_b64 = json.loads(run["events"]["api-json-base64.json"]["body"])["image"]
    for sample in (image_b64[1000:1100], run["events"]["api-multipart-upload.json"]["body"][500:600]):
        assert sample not in everything


def test_metrics_in_emf_by_dialect_tier_and_outcome(run):
    metrics = [line for line in log_lines(run["stdout"]) if "_aws" in line]
    assert any(m.get("ColdStart") == [1.0] for m in metrics)
    assert all(m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Cutout" for m in metrics)
    requests = [m for m in metrics if "Requests" in m]
    assert len(requests) == len(API_EVENTS)
    assert all(m["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["dialect", "tier", "outcome", "service"]]
               for m in requests)
    seen = {(m["dialect"], m["tier"], m["outcome"]) for m in requests}
    assert {("api4ai", "fast", "ok"), ("removebg", "fast", "ok"), ("adobe", "none", "ok"),
            ("none", "none", "ok"),  # the page and /ready: Cutout's own routes
            ("api4ai", "none", "client_error")} <= seen  # the bad request
    # The coffee photo (600 x 400) cut out as a mask from JSON: charged and counted.
    ok = [m for m in requests if m["outcome"] == "ok" and m.get("Megapixels") == [0.24]]
    assert ok and all(m["Images"] == [1.0] and m["Latency"][0] > 0 for m in ok)
    cuts = [m for m in metrics if "CutTime" in m]
    assert cuts and {m["tier"] for m in cuts} == {"fast"} and all(m["CutTime"][0] > 0 for m in cuts)
    assert sum(m["CreditsCharged"][0] for m in metrics if "CreditsCharged" in m) >= len(ok)


def test_template_defaults_refuse_requests_without_a_key(layers, runtime, deployment,
                                                         tmp_path):
    """With the template's defaults (AllowAnonymous=false) a key-less request is a 401."""
    env = template_environment(deployment)
    assert env["CUTOUT_ALLOW_ANONYMOUS"] == "false"
    env.update(aws_env(deployment["_s3"], deployment["_dynamodb"]))
    env.update(CUTOUT_MODEL_DIR=str(layers / "model" / "models"), CUTOUT_DATA_DIR=str(tmp_path))
    summary, stdout, _ = invoke(layers, runtime, [EVENTS / "api-json-base64.json"], env, tmp_path)
    (result,) = summary["results"]
    assert result["response"]["statusCode"] == 401
    assert "detail" in json_body(result["response"])
    (init,) = [line for line in log_lines(stdout) if line.get("message") == "init complete"]
    assert init["max_response_bytes"] == 6 * 1024 * 1024  # Lambda's limit when none is set
    (request,) = [line for line in log_lines(stdout) if "Requests" in line]
    assert request["outcome"] == "refused"
