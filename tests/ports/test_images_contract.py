"""The image-record contract (stores.ImageStore) over both backends: SQLite and DynamoDB (dynalite)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from cutout.blobs.local import LocalBlobStore
from cutout.config import Settings
from cutout.imagelib import ImageLibrary, new_image_id
from cutout.stores import ImageRecord, open_store


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        return open_store(replace(Settings(), data_dir=str(tmp_path / "data"), table=""))
    return open_store(replace(Settings(), table=request.getfixturevalue("dynamo_table")))


def record(account: str, now: float, **changes) -> ImageRecord:
    return ImageRecord(account=account, id=new_image_id(now), name="photo", format="png",
                       width=3, height=2, size=10, created_at="2026-11-30T00:00:00.000Z",
                       **changes)


def test_ids_sort_by_creation_time() -> None:
    ids = [new_image_id(1_700_000_000 + i * 0.001) for i in range(50)]
    assert sorted(ids) == ids and len(set(ids)) == 50
    assert all(i.startswith("image_") and len(i) == 32 for i in ids)


def test_put_get_delete_and_accounts_are_isolated(store) -> None:
    mine = record("alice", time.time())
    store.put_image(mine)
    assert store.get_image("alice", mine.id) == mine
    assert store.get_image("bob", mine.id) is None
    assert store.list_images("bob", 10) == []
    assert store.delete_image("bob", mine.id) is None
    assert store.set_image_token("bob", mine.id, "t") is None
    assert store.get_image("alice", mine.id) == mine
    assert store.delete_image("alice", mine.id) == mine
    assert store.get_image("alice", mine.id) is None


def test_publish_unpublish_moves_the_public_pointer(store) -> None:
    mine = record("alice", time.time())
    store.put_image(mine)
    published = store.set_image_token("alice", mine.id, "token-1")
    assert published.token == "token-1" and store.find_public("token-1") == published
    again = store.set_image_token("alice", mine.id, "token-2")  # published already: it stands
    assert again == published and store.find_public("token-2") is None
    assert store.find_public("token-1") == published
    store.set_image_token("alice", mine.id, None)
    assert store.find_public("token-1") is None
    assert store.get_image("alice", mine.id).token is None
    store.set_image_token("alice", mine.id, "token-3")
    store.delete_image("alice", mine.id)
    assert store.find_public("token-3") is None


def test_expired_images_are_gone_before_any_sweep(store) -> None:
    now = time.time()
    old = record("alice", now - 10, expires=int(now) - 1)
    kept = record("alice", now, expires=int(now) + 3600)
    store.put_image(old)
    store.put_image(kept)
    assert store.get_image("alice", old.id) is None
    assert [r.id for r in store.list_images("alice", 10)] == [kept.id]
    assert store.get_image("alice", kept.id).expires == int(now) + 3600


def test_listing_walks_newest_first_from_an_inclusive_cursor(store) -> None:
    now = time.time()
    made = [record("alice", now + i * 0.01) for i in range(7)]
    for r in made:
        store.put_image(r)
    store.put_image(record("bob", now + 1))
    newest_first = [r.id for r in reversed(made)]
    assert [r.id for r in store.list_images("alice", 3)] == newest_first[:3]
    assert [r.id for r in store.list_images("alice", 3, newest_first[3])] == newest_first[3:6]
    assert [r.id for r in store.list_images("alice", 2, newest_first[3], newer=True)] == \
        [newest_first[2], newest_first[1]]
    assert [r.id for r in store.list_images("alice", 10, newest_first[6])] == newest_first[6:]


def test_250_images_paged_with_deletes_in_between_are_each_seen_once(store, tmp_path) -> None:
    lib = ImageLibrary(store, LocalBlobStore(tmp_path / "blobs"))
    now = time.time() - 100
    made = [record("alice", now + i * 0.01) for i in range(250)]
    for r in made:
        store.put_image(r)
    alive = {r.id for r in made}
    seen: list[str] = []
    cursor, page_no = None, 0
    while True:
        page = lib.page("alice", 17, cursor)
        seen.extend(r.id for r in page.records)
        page_no += 1
        # Meanwhile: delete an image not yet seen, the next cursor itself, and add a new one.
        unseen = sorted(alive - set(seen))
        if len(unseen) > 2:
            store.delete_image("alice", unseen[0])
            alive.discard(unseen[0])
        if page.next and page_no % 3 == 0:
            store.delete_image("alice", page.next)
            alive.discard(page.next)
        store.put_image(record("alice", time.time()))  # newer than anything: never on later pages
        if page.next is None:
            break
        cursor = page.next
    assert len(seen) == len(set(seen))
    assert set(seen) >= alive and set(seen) <= {r.id for r in made}
    assert seen == sorted(seen, reverse=True)
