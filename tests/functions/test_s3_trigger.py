"""The S3 upload trigger, invoked as Lambda invokes it, against moto's S3 server and dynalite."""
from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image

from conftest import encode
from cutout.engine import cpus, foreground
from cutout.config import settings
from cutout.stores.dynamodb import DynamoStore
from photos import assert_subject_found, disc_scene

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
HANDLER = ROOT / "functions" / "s3_trigger" / "handler.py"


class LambdaContext:
    """The attributes the Lambda runtime's context object has, for Powertools."""

    function_name = "cutout-S3TriggerFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cutout-S3TriggerFunction"
    memory_limit_in_mb = 3008
    log_group_name = "/aws/lambda/cutout-S3TriggerFunction"
    log_stream_name = "2026/11/21/[$LATEST]0123456789abcdef"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def trigger_env(moto_server, dynamo_table, monkeypatch):
    """A fresh bucket and table, and the handler module imported as Lambda would (cold)."""
    bucket = f"cutout-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("CUTOUT_TABLE", dynamo_table)
    monkeypatch.setenv("CUTOUT_S3_ACCOUNT", "s3-pipeline")
    settings.cache_clear()
    spec = importlib.util.spec_from_file_location(f"s3_handler_{bucket}", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, s3, bucket, dynamo_table
    settings.cache_clear()
    sys.modules.pop(spec.name, None)


def upload(s3, bucket: str, key: str, body: bytes, **metadata: str) -> dict:
    """Put an object and return the S3 record that its notification would carry."""
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    record = copy.deepcopy(event("s3-put.json")["Records"][0])
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    from urllib.parse import quote_plus

    record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=len(body), eTag=put["ETag"].strip('"'))
    return record


def retarget(name: str, bucket: str) -> dict:
    found = event(name)
    for record in found["Records"]:
        record["s3"]["bucket"]["name"] = bucket
    return found


def versions(s3, bucket: str, key: str) -> int:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return len([v for v in listed.get("Versions", []) if v["Key"] == key])


def usage_calls(table: str, account: str) -> int:
    return DynamoStore(table).usage(account, time.strftime("%Y-%m", time.gmtime())).calls


def test_sample_event_produces_cutout_with_metadata(trigger_env):
    handler, s3, bucket, table = trigger_env
    s3.put_object(Bucket=bucket, Key="uploads/products/astronaut.jpg", Body=(EVENTS / "photos" / "astronaut.jpg").read_bytes())
    answer = handler.handler(retarget("s3-put.json", bucket), LambdaContext())
    assert answer["results"][0]["status"] == "done"
    got = s3.get_object(Bucket=bucket, Key="results/products/astronaut.png")
    assert got["ContentType"] == "image/png"
    meta = got["Metadata"]
    assert meta["cutout-source-key"] == "uploads/products/astronaut.jpg"
    assert meta["cutout-source-etag"] == event("s3-put.json")["Records"][0]["s3"]["object"]["eTag"]
    assert meta["cutout-model"] == ("u2netp-int8" if cpus.exact_int8() else "u2netp") and meta["cutout-mode"] == "fg-image"
    img = Image.open(io.BytesIO(got["Body"].read()))
    assert img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(np.asarray(img.getchannel("A")), "astronaut")
    assert usage_calls(table, "s3-pipeline") == 1


def test_duplicate_delivery_makes_one_result_and_one_charge(trigger_env, coffee_jpeg):
    handler, s3, bucket, table = trigger_env
    record = upload(s3, bucket, "uploads/cup.jpg", coffee_jpeg)
    for _ in range(3):
        handler.handler({"Records": [record]}, LambdaContext())
    assert versions(s3, bucket, "results/cup.png") == 1
    assert usage_calls(table, "s3-pipeline") == 1


def test_a_new_version_of_the_same_key_is_processed_again(trigger_env, coffee_jpeg, astronaut_jpeg):
    handler, s3, bucket, table = trigger_env
    handler.handler({"Records": [upload(s3, bucket, "uploads/same.jpg", coffee_jpeg)]}, LambdaContext())
    handler.handler({"Records": [upload(s3, bucket, "uploads/same.jpg", astronaut_jpeg)]}, LambdaContext())
    assert versions(s3, bucket, "results/same.png") == 2
    assert Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key="results/same.png")["Body"].read())).size == (512, 512)


def test_the_result_carries_the_subjects_colour_at_its_soft_edge(trigger_env):
    handler, s3, bucket, _ = trigger_env
    composite, _alpha, _fg = disc_scene()
    handler.handler({"Records": [upload(s3, bucket, "uploads/disc.png", encode(composite, "PNG"))]},
                    LambdaContext())
    rgba = np.asarray(Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key="results/disc.png")["Body"].read())))
    alpha, visible = rgba[:, :, 3], rgba[:, :, 3] > 0
    assert ((alpha > 0) & (alpha < 255)).sum() > 1000
    assert np.array_equal(rgba[:, :, :3][visible], foreground.decontaminate(composite, alpha)[visible])


def test_mode_and_format_from_user_metadata(trigger_env, coffee_jpeg):
    handler, s3, bucket, _ = trigger_env
    record = upload(s3, bucket, "uploads/a/b/cup.jpg", coffee_jpeg, **{"cutout-mode": "fg-mask", "cutout-format": "webp"})
    handler.handler({"Records": [record]}, LambdaContext())
    got = s3.get_object(Bucket=bucket, Key="results/a/b/cup.webp")
    assert got["ContentType"] == "image/webp" and got["Metadata"]["cutout-mode"] == "fg-mask"
    img = Image.open(io.BytesIO(got["Body"].read()))
    assert img.format == "WEBP" and img.size == (600, 400)
    assert_subject_found(np.asarray(img.convert("L")), "coffee")


def test_zip_format(trigger_env, coffee_jpeg):
    handler, s3, bucket, _ = trigger_env
    handler.handler({"Records": [upload(s3, bucket, "uploads/cup.jpg", coffee_jpeg, **{"cutout-format": "zip"})]}, LambdaContext())
    import zipfile

    body = s3.get_object(Bucket=bucket, Key="results/cup.zip")["Body"].read()
    assert sorted(zipfile.ZipFile(io.BytesIO(body)).namelist()) == ["alpha.png", "color.jpg"]


def test_bad_objects_get_an_error_file_and_are_not_retried(trigger_env, coffee_jpeg):
    handler, s3, bucket, table = trigger_env
    records = [
        upload(s3, bucket, "uploads/bad/notes.jpg", b"%PDF-1.7 not an image"),
        upload(s3, bucket, "uploads/bad/cup.jpg", coffee_jpeg, **{"cutout-format": "gif"}),
        upload(s3, bucket, "uploads/bad/cup2.jpg", coffee_jpeg, **{"cutout-mode": "fg-everything"}),
    ]
    answer = handler.handler({"Records": records}, LambdaContext())  # returns: nothing to retry
    assert [r["status"] for r in answer["results"]] == ["error", "error", "error"]
    errors = {
        key: json.loads(s3.get_object(Bucket=bucket, Key=f"results/bad/{key}.error.json")["Body"].read())
        for key in ("notes", "cup", "cup2")
    }
    assert errors["notes"]["code"] == "invalid_image" and errors["notes"]["message"] == "Can not load image."
    assert errors["notes"]["source"]["key"] == "uploads/bad/notes.jpg"
    assert errors["cup"]["code"] == "invalid_option" and "valid formats are png, webp, zip" in errors["cup"]["message"]
    assert "valid modes are fg-image, fg-image-shadow, fg-mask" in errors["cup2"]["message"]
    assert usage_calls(table, "s3-pipeline") == 0  # bad input is never charged


@pytest.fixture
def tiny_plan(tmp_path, monkeypatch):
    """The S3 account on a plan of 1 megapixel a minute (set before trigger_env imports the handler)."""
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps({"plans": {"tiny": {"mp_per_minute": 1, "monthly_credits": None}}}))
    monkeypatch.setenv("CUTOUT_PLANS_FILE", str(plans))
    monkeypatch.setenv("CUTOUT_S3_PLAN", "tiny")


def test_an_upload_heavier_than_the_plans_minute_gets_an_error_file_not_endless_retries(
        tiny_plan, trigger_env, coffee):
    handler, s3, bucket, table = trigger_env
    big = encode(np.asarray(Image.fromarray(coffee).resize((1500, 1000))), "JPEG")  # 1.5 MP: weighs 2
    answer = handler.handler({"Records": [upload(s3, bucket, "uploads/big.jpg", big)]}, LambdaContext())
    assert answer["results"][0]["status"] == "error"  # answered, so S3's event is not retried
    error = json.loads(s3.get_object(Bucket=bucket, Key="results/big.error.json")["Body"].read())
    assert error["code"] == "rate_limit_exceeded" and "no minute can admit it" in error["message"]
    assert usage_calls(table, "s3-pipeline") == 0


def test_object_over_the_byte_limit_is_refused_unread(trigger_env, monkeypatch):
    handler, s3, bucket, _ = trigger_env
    meter = handler.trigger.meter
    handler.trigger.meter = replace(meter, limits=replace(meter.limits, max_bytes=1000))
    handler.handler({"Records": [upload(s3, bucket, "uploads/big.bmp", b"BM" + b"\0" * 5000)]}, LambdaContext())
    error = json.loads(s3.get_object(Bucket=bucket, Key="results/big.error.json")["Body"].read())
    assert error["code"] == "image_too_large" and "5002 bytes exceeds 1000 bytes" in error["message"]


def test_unicode_and_space_keys_are_decoded(trigger_env):
    handler, s3, bucket, _ = trigger_env
    s3.put_object(Bucket=bucket, Key="uploads/my photos/café crème.jpg", Body=(EVENTS / "photos" / "coffee.jpg").read_bytes())
    answer = handler.handler(retarget("s3-put-unicode-key.json", bucket), LambdaContext())
    assert answer["results"][0]["status"] == "done"
    got = s3.get_object(Bucket=bucket, Key="results/my photos/café crème.png")
    from urllib.parse import unquote

    assert unquote(got["Metadata"]["cutout-source-key"]) == "uploads/my photos/café crème.jpg"


def test_twenty_records_with_two_bad_ones(trigger_env, coffee):
    handler, s3, bucket, table = trigger_env
    small = io.BytesIO()
    Image.fromarray(coffee).resize((150, 100)).save(small, "JPEG")
    records = [
        upload(s3, bucket, f"uploads/batch/{i:02d}.jpg", b"broken" if i in (4, 13) else small.getvalue())
        for i in range(20)
    ]
    answer = handler.handler({"Records": records}, LambdaContext())
    statuses = [r["status"] for r in answer["results"]]
    assert statuses.count("done") == 18 and statuses.count("error") == 2
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="results/batch/")["Contents"]}
    assert keys == {f"results/batch/{i:02d}.png" for i in range(20) if i not in (4, 13)} | {
        "results/batch/04.error.json", "results/batch/13.error.json"}
    assert usage_calls(table, "s3-pipeline") == 18


def test_results_and_other_prefixes_are_ignored(trigger_env, coffee_jpeg):
    handler, s3, bucket, _ = trigger_env
    record = upload(s3, bucket, "results/cup.png", coffee_jpeg)
    assert handler.handler({"Records": [record]}, LambdaContext())["results"] == [{"key": "results/cup.png", "status": "skipped"}]
    assert versions(s3, bucket, "results/results/cup.png") == 0


def test_store_down_raises_for_retry_then_the_retry_succeeds(trigger_env, dynalite, coffee_jpeg):
    handler, s3, bucket, table = trigger_env
    record = upload(s3, bucket, "uploads/retry.jpg", coffee_jpeg)
    with dynalite.stopped():
        with pytest.raises(RuntimeError, match="1 of 1 uploads failed"):
            handler.handler({"Records": [record]}, LambdaContext())
        assert versions(s3, bucket, "results/retry.png") == 0
    handler.handler({"Records": [record]}, LambdaContext())
    assert versions(s3, bucket, "results/retry.png") == 1
    assert usage_calls(table, "s3-pipeline") == 1


def test_two_uploads_sharing_a_stem_get_two_results_and_neither_is_lost(trigger_env, coffee_jpeg, astronaut):
    handler, s3, bucket, table = trigger_env
    records = [upload(s3, bucket, "uploads/t/product.jpg", coffee_jpeg),
               upload(s3, bucket, "uploads/t/product.png", encode(astronaut, "PNG"))]
    answer = handler.handler({"Records": records}, LambdaContext())
    # The CLI's rule: names that would collide keep their extension.
    assert [(r["status"], r["result"]) for r in answer["results"]] == [
        ("done", "results/t/product.jpg.png"), ("done", "results/t/product.png.png")]
    sizes = {}
    for result in ("results/t/product.jpg.png", "results/t/product.png.png"):
        got = s3.get_object(Bucket=bucket, Key=result)
        sizes[got["Metadata"]["cutout-source-key"]] = Image.open(io.BytesIO(got["Body"].read())).size
    assert sizes == {"uploads/t/product.jpg": (600, 400), "uploads/t/product.png": (512, 512)}
    assert versions(s3, bucket, "results/t/product.png") == 0
    assert usage_calls(table, "s3-pipeline") == 2  # two results, two charges


def test_a_later_upload_with_the_same_stem_never_replaces_the_first_result(trigger_env, coffee_jpeg, astronaut):
    handler, s3, bucket, table = trigger_env
    first = handler.handler({"Records": [upload(s3, bucket, "uploads/t/product.jpg", coffee_jpeg)]},
                            LambdaContext())
    assert first["results"][0]["result"] == "results/t/product.png"  # alone: the plain name
    later = handler.handler({"Records": [upload(s3, bucket, "uploads/t/product.png", encode(astronaut, "PNG"))]},
                            LambdaContext())
    assert later["results"][0]["result"] == "results/t/product.png.png"
    assert versions(s3, bucket, "results/t/product.png") == 1
    kept = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key="results/t/product.png")["Body"].read()))
    assert kept.size == (600, 400)  # still the first upload's cut-out
    assert usage_calls(table, "s3-pipeline") == 2


def test_bad_uploads_sharing_a_stem_get_an_error_object_each(trigger_env):
    handler, s3, bucket, _ = trigger_env
    records = [upload(s3, bucket, "uploads/t/notes.jpg", b"not an image"),
               upload(s3, bucket, "uploads/t/notes.png", b"nor this")]
    answer = handler.handler({"Records": records}, LambdaContext())
    assert [r["result"] for r in answer["results"]] == ["results/t/notes.jpg.error.json",
                                                        "results/t/notes.png.error.json"]
    for source in ("jpg", "png"):
        error = json.loads(s3.get_object(Bucket=bucket, Key=f"results/t/notes.{source}.error.json")["Body"].read())
        assert error["source"]["key"] == f"uploads/t/notes.{source}"


@pytest.mark.parametrize("key, others, expected", [
    ("uploads/a/photo.jpg", [], "results/a/photo.png"),
    ("uploads/a/photo.jpg", ["uploads/a/photo.jpeg.png", "uploads/a/photos.jpg"], "results/a/photo.png"),
    ("uploads/a/photo.jpg", ["uploads/a/photo.png"], "results/a/photo.jpg.png"),
    ("uploads/a/photo", ["uploads/a/photo.png"], "results/a/photo.png"),  # nothing to keep: the name itself
    ("uploads/a/photo.png", ["uploads/a/photo"], "results/a/photo.png.png"),
    # photo.jpg.png's own result is results/a/photo.jpg.png: the kept name takes a number.
    ("uploads/a/photo.jpg", ["uploads/a/photo.png", "uploads/a/photo.jpg.png"], "results/a/photo.jpg.2.png"),
    ("uploads/a/photo.jpg", ["uploads/a/photo.png", "uploads/a/photo.jpg.png", "uploads/a/photo.jpg.2.webp"],
     "results/a/photo.jpg.3.png"),
])
def test_result_names_follow_the_clis_rule(key, others, expected):
    from cutout.jobs.s3_uploads import result_key

    assert result_key(key, "png", [key, *others]) == expected
