"""The per-owner usage record the quota check reads (canny.storage.usage), on both stores:
kept current by saves, dropped by deletes, recounted whenever it cannot be trusted."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from canny.storage import FileStore, ResultStore
from canny.storage.usage import RECOUNT_SECONDS, Usage

from tests.integration.storage.stored_objects import (
    save,
    save_tiff,
    stored_names,
    write_usage_record,
)
from tests.result_records import OTHER_OWNER, OWNER, numbered_record, shared_record


def truth(store: ResultStore) -> tuple[int, int]:
    return store.count(OWNER, 1000), store.bytes_used(OWNER)


def test_saves_keep_the_record_equal_to_a_recount(store: ResultStore) -> None:
    before = stored_names(store)
    assert store.usage(OWNER).results == 0
    assert stored_names(store) == before, "an owner with nothing stored got a record"
    save_tiff(store, shared_record(10))
    counted = store.recount(OWNER)
    assert (counted.results, counted.bytes) == truth(store)
    save_tiff(store, shared_record(10, content_index=1))
    save(store, numbered_record(1))  # shares nothing: one more result, no bytes
    save_tiff(store, shared_record(10, owner=OTHER_OWNER))
    kept = store.usage(OWNER)
    assert (kept.results, kept.bytes) == truth(store) == (3, kept.bytes)
    assert kept.counted_at == counted.counted_at, "recounted instead of kept"


def test_a_rerun_puts_the_record_ahead_never_behind(store: ResultStore) -> None:
    save_tiff(store, shared_record(10))
    store.recount(OWNER)
    save_tiff(store, shared_record(20))  # the same original and view, stored once
    kept = store.usage(OWNER)
    results, stored = truth(store)
    assert kept.results == results and kept.bytes == stored + 1000 + 500


def test_a_delete_drops_the_record_and_leaves_nothing_of_the_owner(store: ResultStore) -> None:
    before = stored_names(store)
    first, second = shared_record(10), shared_record(20)
    save_tiff(store, first)
    store.recount(OWNER)
    save_tiff(store, second)
    assert store.delete(OWNER, first["id"])
    assert (store.usage(OWNER).results, store.usage(OWNER).bytes) == truth(store)
    assert store.delete(OWNER, second["id"])
    assert stored_names(store) == before


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b'{"results": -1, "bytes": 0, "counted_at": 0}',
        b'["results"]',
        Usage(0, 0, time.time() - RECOUNT_SECONDS - 1).encode(),
        Usage(0, 0, time.time() + RECOUNT_SECONDS).encode(),
    ],
    ids=["empty", "torn", "negative", "not-an-object", "stale", "from-the-future"],
)
def test_a_record_that_cannot_be_trusted_is_recounted(store: ResultStore, body: bytes) -> None:
    """A crash mid-write, a lost update or a clock set back must not refuse (or admit)
    uploads for ever: the record heals at the next read."""
    for low in (10, 20):
        save_tiff(store, shared_record(low))
    write_usage_record(store, OWNER, body)
    kept = store.usage(OWNER)
    assert (kept.results, kept.bytes) == truth(store)
    assert abs(kept.counted_at - time.time()) < 60


def test_a_fresh_record_is_read_as_kept(store: ResultStore) -> None:
    """What makes the quota check one read: a recent record is trusted, even behind."""
    save_tiff(store, shared_record(10))
    behind = Usage(0, 0, time.time())
    write_usage_record(store, OWNER, behind.encode())
    assert store.usage(OWNER) == behind


def test_an_uploads_lookup_gives_the_usage_only_when_the_result_is_new(
    store: ResultStore,
) -> None:
    stored = shared_record(10)
    save_tiff(store, stored)
    store.recount(OWNER)
    assert store.load_for_upload(OWNER, stored["id"], with_usage=True) == (stored, None)
    new = shared_record(20)
    assert store.load_for_upload(OWNER, new["id"], with_usage=False) == (None, None)
    assert store.load_for_upload(OWNER, new["id"], with_usage=True) == (None, store.usage(OWNER))


def test_racing_saves_on_disk_lose_no_addition(tmp_path: Path) -> None:
    """The file store adds to the record under the owner's lock: only a bucket, which has
    no lock, may lose an addition to racing saves (and heals it by age)."""
    store = FileStore(tmp_path / "results")
    store.prepare()
    save_tiff(store, shared_record(1))
    store.recount(OWNER)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda low: save_tiff(store, shared_record(low)), range(2, 18)))
    assert store.usage(OWNER).results == 17 == store.count(OWNER, 1000)
