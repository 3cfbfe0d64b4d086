"""One contract for the blob port, run over both adapters: S3 (moto's server) and a local folder."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Iterator

import boto3
import pytest

from cutout.blobs import BlobNotFound, BlobStore, BlobUnavailable, InvalidObjectKey, read
from cutout.errors import ImageTooLarge
from cutout.blobs.local import LocalBlobStore
from cutout.blobs.s3 import S3BlobStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "s3":
        request.getfixturevalue("moto_server")
        bucket = f"cutout-blobs-{uuid.uuid4().hex[:10]}"
        client = boto3.client("s3")
        client.create_bucket(Bucket=bucket)
        yield S3BlobStore(bucket, client)  # an injected client, as the S3 trigger hands in
    else:
        yield LocalBlobStore(tmp_path / "blobs", b"secret")


def test_put_then_head_and_get_give_back_bytes_type_metadata_and_etag(store: BlobStore) -> None:
    etag = store.put("results/a/photo é.png", PNG, "image/png", {"Cutout-Mode": "fg-image"})
    assert etag == hashlib.md5(PNG).hexdigest()  # S3's ETag of a single-part object
    info = store.head("results/a/photo é.png")
    assert (info.size, info.content_type, info.etag) == (len(PNG), "image/png", etag)
    assert info.metadata == {"cutout-mode": "fg-image"}  # user metadata keys come back lower-case
    blob = store.get("results/a/photo é.png")
    assert (blob.data, blob.content_type, blob.metadata, blob.etag) == (
        PNG, "image/png", {"cutout-mode": "fg-image"}, etag)


def test_if_match_finds_only_that_version(store: BlobStore) -> None:
    first = store.put("uploads/x.jpg", b"first", "image/jpeg")
    assert store.get("uploads/x.jpg", if_match=first).data == b"first"
    assert store.head("uploads/x.jpg", if_match=f'"{first}"').etag == first  # quoted, as S3 sends
    second = store.put("uploads/x.jpg", b"second", "image/jpeg")
    with pytest.raises(BlobNotFound):
        store.get("uploads/x.jpg", if_match=first)
    with pytest.raises(BlobNotFound):
        store.head("uploads/x.jpg", if_match=first)
    assert store.get("uploads/x.jpg", if_match=second).data == b"second"


def test_missing_objects_are_not_found_and_delete_is_idempotent(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound) as missing:
        store.get("results/none.png")
    assert missing.value.code == "not_found" and not missing.value.retryable
    with pytest.raises(BlobNotFound):
        store.head("results/none.png")
    store.put("results/gone.png", PNG, "image/png")
    store.delete("results/gone.png")
    store.delete("results/gone.png")  # nothing there: no error
    with pytest.raises(BlobNotFound):
        store.head("results/gone.png")


def test_list_gives_the_keys_under_a_prefix_in_byte_order(store: BlobStore) -> None:
    for key in ("results/b.png", "results/a/z.png", "results/a/é.png", "results/a.png", "uploads/a.jpg"):
        store.put(key, b"x", "image/png")
    assert store.list("results/a") == ["results/a.png", "results/a/z.png", "results/a/é.png"]
    assert store.list("results/") == ["results/a.png", "results/a/z.png", "results/a/é.png",
                                      "results/b.png"]
    assert store.list("nothing/") == []


def test_a_bounded_read_refuses_an_object_over_the_limit_and_reads_that_version(store: BlobStore) -> None:
    etag = store.put("uploads/photo.png", PNG, "image/png", {"cutout-mode": "fg-mask"})
    blob = read(store, "uploads/photo.png", max_bytes=len(PNG))
    assert (blob.data, blob.metadata, blob.etag) == (PNG, {"cutout-mode": "fg-mask"}, etag)
    assert read(store, "uploads/photo.png", len(PNG), if_match=etag).data == PNG
    with pytest.raises(ImageTooLarge) as too_large:
        read(store, "uploads/photo.png", max_bytes=len(PNG) - 1)
    assert too_large.value.code == "image_too_large" and not too_large.value.retryable
    assert too_large.value.message == f"Image is too large: {len(PNG)} bytes exceeds {len(PNG) - 1} bytes."
    store.put("uploads/photo.png", b"replaced", "image/png")
    with pytest.raises(BlobNotFound):  # the version asked for is gone
        read(store, "uploads/photo.png", len(PNG), if_match=etag)
    with pytest.raises(BlobNotFound):
        read(store, "uploads/none.png", len(PNG))


@pytest.mark.parametrize("key", ["../outside.png", "/etc/passwd", "results/../../x", "results//x", "",
                                 "a\\b", "x" * 1025])
def test_keys_that_could_escape_are_refused_by_every_method(store: BlobStore, key: str) -> None:
    for call in (lambda: store.put(key, b"x", "image/png"), lambda: store.get(key),
                 lambda: store.head(key), lambda: store.delete(key), lambda: store.url(key, 60)):
        with pytest.raises(InvalidObjectKey) as refused:
            call()
        assert refused.value.code == "invalid_key" and not refused.value.retryable


def test_an_unreachable_backend_is_unavailable_and_retryable(tmp_path: Path, moto_server: str) -> None:
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", config=Config(
        connect_timeout=0.2, read_timeout=0.2, retries={"max_attempts": 1}))
    unreachable = S3BlobStore("no-such-bucket", client)
    blocked = tmp_path / "file"
    blocked.write_text("a file where the store's folder should be")
    for store in (unreachable, LocalBlobStore(blocked, b"secret")):
        with pytest.raises(BlobUnavailable) as down:
            store.put("results/x.png", b"x", "image/png")
        assert down.value.retryable and down.value.code == "storage_unavailable"
