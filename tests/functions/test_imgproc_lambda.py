"""Every /v1/images endpoint through the Lambda handler (functions/api/handler.py), fed the
API Gateway events in events/imgproc-*.json, with DynamoDB (dynalite) and S3 (moto's server)
as deployed: the handler module is imported with the stack's environment, as Lambda does."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import time
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image

from cutout.config import settings
from cutout.stores.dynamodb import DynamoStore
from local_http import Route
from photos import assert_subject_found

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
KEY, IMAGE = "live_REPLACE_WITH_YOUR_KEY", "image_REPLACE_WITH_AN_IMAGE_ID"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lambda_env(dynalite, moto_server):
    table, bucket = f"imgproc-fn-{uuid.uuid4().hex[:8]}", f"imgproc-fn-{uuid.uuid4().hex[:8]}"
    DynamoStore(table).create_table()
    boto3.client("s3").create_bucket(Bucket=bucket)
    env = {"CUTOUT_TABLE": table, "CUTOUT_BUCKET": bucket, "CUTOUT_ALLOW_ANONYMOUS": "0",
           "CUTOUT_FETCH_ALLOW_HOSTS": "127.0.0.1", "CUTOUT_IMAGE_TTL_DAYS": "30",
           "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "CutoutTests"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings.cache_clear()
    try:
        handler = _load(ROOT / "functions" / "api" / "handler.py", "imgproc_lambda_handler")
        context = _load(EVENTS / "invoke.py", "imgproc_invoke").Context
        key = handler.app.state.services.accounts.create_key(
            "mega", mp_per_minute=100_000, monthly_credits=100_000)[0]
        yield handler, context, key, table, bucket
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        settings.cache_clear()


def invoke(lambda_env, name: str, image_id: str = IMAGE, **replacements: str) -> dict:
    handler, context, key, *_ = lambda_env
    text = (EVENTS / name).read_text().replace(KEY, key).replace(IMAGE, image_id)
    for old, new in replacements.items():
        text = text.replace(old, new)
    return handler.handler(json.loads(text), context())


def body_json(response: dict) -> dict:
    return json.loads(response["body"])


def pixels(response: dict) -> np.ndarray:
    assert response["isBase64Encoded"]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(response["body"]))))


def test_every_endpoint_through_the_handler(lambda_env, web_server) -> None:
    bucket = lambda_env[4]
    photo = (EVENTS / "photos" / "coffee.jpg").read_bytes()
    astronaut = (EVENTS / "photos" / "astronaut.jpg").read_bytes()
    upload = invoke(lambda_env, "imgproc-upload.json")
    assert upload["statusCode"] == 201, upload["body"]
    assert upload["headers"]["x-image-processing-usage"] == "1"
    image = body_json(upload)
    assert (image["name"], image["format"], image["width"], image["height"]) == \
        ("astronaut", "jpeg", 512, 512)
    image_id = image["id"]
    stored = boto3.client("s3").get_object(Bucket=bucket, Key=f"images/{image_id}")
    assert stored["Body"].read() == astronaut

    web_server.routes["/photos/coffee.jpg"] = Route(body=photo,
                                                    headers={"Content-Type": "image/jpeg"})
    from_url = invoke(lambda_env, "imgproc-create-from-url.json",
                      **{"https://images.example.com": web_server.url("")})
    assert from_url["statusCode"] == 201, from_url["body"]
    assert (body_json(from_url)["width"], body_json(from_url)["height"]) == (600, 400)

    got = invoke(lambda_env, "imgproc-get.json", image_id)
    assert got["statusCode"] == 200 and body_json(got) == image
    listed = body_json(invoke(lambda_env, "imgproc-list.json"))
    assert [i["id"] for i in listed["data"]] == [body_json(from_url)["id"], image_id]
    download = invoke(lambda_env, "imgproc-download.json", image_id)
    assert download["headers"]["content-type"] == "image/jpeg"
    assert base64.b64decode(download["body"]) == astronaut

    expected = {"remove-background": ("png", 512, 512), "convert": ("webp", 512, 512),
                "resize": ("jpeg", 256, 128), "crop": ("jpeg", 300, 250),
                "rotate": ("jpeg", 512, 512), "mirror": ("jpeg", 512, 512),
                "blur": ("jpeg", 512, 512), "modulate": ("jpeg", 512, 512),
                "watermark": ("jpeg", 512, 512)}
    made = {}
    for operation, shape in expected.items():
        response = invoke(lambda_env, f"imgproc-{operation}.json", image_id)
        assert response["statusCode"] == 201, (operation, response["body"])
        made[operation] = body_json(response)
        assert (made[operation]["format"], made[operation]["width"],
                made[operation]["height"]) == shape, operation
        uses = "2" if operation == "remove-background" else "1"
        assert response["headers"]["x-image-processing-usage"] == uses
    cutout = pixels(invoke(lambda_env, "imgproc-download.json", made["remove-background"]["id"]))
    assert_subject_found(cutout[:, :, 3], "astronaut")
    source = np.asarray(Image.open(io.BytesIO(astronaut))).astype(int)
    crop = pixels(invoke(lambda_env, "imgproc-download.json", made["crop"]["id"])).astype(int)
    assert np.abs(crop - source[50:300, 100:400]).mean() < 4
    mirrored = pixels(invoke(lambda_env, "imgproc-download.json", made["mirror"]["id"])).astype(int)
    assert np.abs(mirrored - source[:, ::-1]).mean() < 4
    turned = pixels(invoke(lambda_env, "imgproc-download.json", made["rotate"]["id"])).astype(int)
    assert np.abs(turned - np.rot90(source, k=-1)).mean() < 4  # clockwise

    published = invoke(lambda_env, "imgproc-publish.json", image_id)
    url = body_json(published)["url"]
    assert url.startswith("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1/public/images/")
    public_path = url.split("amazonaws.com", 1)[1]
    public = invoke(lambda_env, "imgproc-get.json", **{f"/v1/images/{IMAGE}": public_path,
                                                        KEY: ""})
    assert public["statusCode"] == 200 and base64.b64decode(public["body"]) == astronaut
    assert body_json(invoke(lambda_env, "imgproc-unpublish.json", image_id))["url"] is None
    gone = invoke(lambda_env, "imgproc-get.json", **{f"/v1/images/{IMAGE}": public_path})
    assert gone["statusCode"] == 404

    deleted = invoke(lambda_env, "imgproc-delete.json", image_id)
    assert deleted["statusCode"] == 204
    missing = invoke(lambda_env, "imgproc-get.json", image_id)
    assert missing["statusCode"] == 404 and body_json(missing)["code"] == "not_found"
    with pytest.raises(Exception):
        boto3.client("s3").head_object(Bucket=bucket, Key=f"images/{image_id}")


def test_retention_sets_the_record_ttl(lambda_env) -> None:
    handler, _, key, table, _ = lambda_env
    image = body_json(invoke(lambda_env, "imgproc-upload.json"))
    account = handler.app.state.services.accounts.authenticate(key).id
    item = boto3.client("dynamodb").get_item(TableName=table, Key={
        "pk": {"S": f"IMAGES#{account}"}, "sk": {"S": f"IMAGE#{image['id']}"}})["Item"]
    assert abs(int(item["ttl"]["N"]) - (time.time() + 30 * 86_400)) < 60
