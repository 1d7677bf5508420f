"""One storage contract, run against both stores: the filesystem and S3 (a moto server)."""

from __future__ import annotations

import json

import pytest
from canny.errors import InvalidRequestError, StorageUnavailableError
from canny.storage import FileStore, ResultStore, sort_key
from canny.storage.contract import content_stem
from canny.storage.s3_store import S3Store

from infra.rehearse.s3_emulator import MotoServer
from tests.integration.storage.stored_objects import save, save_tiff, stored_names
from tests.result_records import OTHER_OWNER, OWNER, numbered_record, shared_record, stamp


def test_a_saved_result_loads_for_its_owner_only(store: ResultStore) -> None:
    metadata = numbered_record(1)
    save(store, metadata)
    assert store.load(OWNER, metadata["id"]) == metadata
    assert store.load(OTHER_OWNER, metadata["id"]) is None, "another owner sees it"
    assert store.load(OWNER, "../" + metadata["id"]) is None
    assert store.load_original(metadata["id"], "png") == b"original"
    assert store.load_original(metadata["id"], "jpg") is None


def test_listing_is_newest_first_and_pages_with_before(store: ResultStore) -> None:
    saved = [numbered_record(index, created_at=stamp(index)) for index in range(5)]
    for metadata in saved:
        save(store, metadata)
    save(store, numbered_record(99, owner=OTHER_OWNER, created_at=stamp(100)))
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = store.list(OWNER, limit=2, before=cursor)
        seen += [item["id"] for item in items]
        pages += 1
        if cursor is None:
            break
        assert cursor == sort_key(items[-1])
    assert seen == [metadata["id"] for metadata in reversed(saved)]
    assert pages == 3


def test_same_second_results_keep_one_order_across_pages(store: ResultStore) -> None:
    """Ties on time are broken by id, the same way on both stores."""
    saved = [numbered_record(index, created_at=stamp(0)) for index in range(4)]
    for metadata in saved:
        save(store, metadata)
    first, cursor = store.list(OWNER, limit=2)
    second, last = store.list(OWNER, limit=2, before=cursor)
    ids = [item["id"] for item in first + second]
    assert ids == sorted((metadata["id"] for metadata in saved), reverse=True)
    assert last is None


def test_delete_removes_every_object_and_only_for_the_owner(store: ResultStore) -> None:
    before = stored_names(store)
    metadata = numbered_record(1)
    save(store, metadata, view=True)
    assert len(stored_names(store) - before) >= 5
    assert not store.delete(OTHER_OWNER, metadata["id"]), "another owner deleted it"
    assert store.load(OWNER, metadata["id"]) == metadata
    assert store.delete(OWNER, metadata["id"])
    assert stored_names(store) - before == set(), "objects left behind"
    assert store.load(OWNER, metadata["id"]) is None
    assert store.list(OWNER, limit=10) == ([], None)
    assert not store.delete(OWNER, metadata["id"])


def test_an_interrupted_save_lists_nothing(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metadata and the index go last: a save cut short before them shows no id."""
    metadata = numbered_record(1)
    failing = f"{metadata['id']}.png"

    if isinstance(store, FileStore):
        real_write = store._write_atomic

        def write(name: str, content: bytes) -> None:
            if name == failing:
                raise OSError("disk went away")
            real_write(name, content)

        monkeypatch.setattr(store, "_write_atomic", write)
        expected: type[Exception] = OSError
    else:
        real_put = store._put

        def put(key: str, body: bytes, **extra: str) -> None:
            if key == failing:
                raise StorageUnavailableError("store went away")
            real_put(key, body, **extra)

        monkeypatch.setattr(store, "_put", put)
        expected = StorageUnavailableError
    with pytest.raises(expected):
        save(store, metadata)
    assert store.load(OWNER, metadata["id"]) is None
    assert store.list(OWNER, limit=10) == ([], None)


def test_a_cursor_that_is_not_ours_is_refused(store: ResultStore) -> None:
    with pytest.raises(InvalidRequestError):
        store.list(OWNER, limit=1, before="../../secret")


def test_an_unreachable_bucket_is_a_storage_error(
    unused_tcp_port_url: str, s3_credentials: dict[str, str]
) -> None:
    store = S3Store.connect("canny-nowhere", unused_tcp_port_url, "us-east-1")
    assert not store.is_writable()
    with pytest.raises(StorageUnavailableError):
        store.load(OWNER, numbered_record(1)["id"])
    with pytest.raises(StorageUnavailableError):
        store.list(OWNER, limit=1)


def test_a_missing_bucket_is_a_storage_error(
    moto_server: object, s3_credentials: dict[str, str]
) -> None:
    store = S3Store.connect("canny-no-such-bucket", moto_server.endpoint_url, "us-east-1")
    with pytest.raises(StorageUnavailableError, match="NoSuchBucket"):
        save(store, numbered_record(1))


@pytest.fixture
def unused_tcp_port_url(free_port: int) -> str:
    return f"http://127.0.0.1:{free_port}"


def test_a_save_cut_short_after_the_index_is_listed_whole_deletable_and_retried(
    s3_credentials: dict[str, str], moto_server: MotoServer, bucket: str
) -> None:
    """S3 only: the get-by-id marker is the last object. Without it the result is listed
    with all its images and can be deleted; it is not answered as cached, so the client's
    retry writes it again."""
    store = S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")
    metadata = numbered_record(1)
    *before_marker, marker = store.result_objects(metadata, b"original", "png", b"edges")
    assert marker.key.startswith(f"owners/{OWNER}/ids/")
    for stored in before_marker:
        store.put(stored)
    assert store.list(OWNER, limit=10)[0] == [metadata]
    assert store.load(OWNER, metadata["id"]) is None, "a retry would answer `cached`"
    assert not store.delete(OTHER_OWNER, metadata["id"])
    assert store.delete(OWNER, metadata["id"])
    assert stored_names(store) == set()
    save(store, metadata)
    assert store.load(OWNER, metadata["id"]) == metadata


def test_count_is_the_owners_results_up_to_a_bound(store: ResultStore) -> None:
    for index in range(3):
        save(store, numbered_record(index))
    save(store, numbered_record(50, owner=OTHER_OWNER))
    assert store.count(OWNER, 10) == 3
    assert store.count(OWNER, 2) == 2, "counting stops at the bound"
    assert store.count(OTHER_OWNER, 10) == 1
    store.delete(OWNER, numbered_record(0)["id"])
    assert store.count(OWNER, 10) == 2


def shared_names(store: ResultStore, metadata: dict) -> set[str]:
    """The stored original and view of the record's content, wherever the store keeps them."""
    content = content_stem(metadata)
    return {name for name in stored_names(store) if name.startswith(content)}


def test_results_of_one_file_share_its_original_and_view_until_the_last_goes(
    store: ResultStore,
) -> None:
    """Issue 28: every parameter set stored the original and the view again."""
    before = stored_names(store)
    first, second = shared_record(10), shared_record(20)
    save_tiff(store, first)
    save_tiff(store, second)
    content = content_stem(first)
    assert shared_names(store, first) == {f"{content}.orig.tiff", f"{content}.view.png"}
    assert not any(first["id"] in name and ".orig." in name for name in stored_names(store))
    assert store.delete(OWNER, first["id"])
    assert shared_names(store, first) == {f"{content}.orig.tiff", f"{content}.view.png"}
    assert store.load_original(content, "tiff") == b"o" * 1000, "the other result's original"
    assert store.delete(OWNER, second["id"])
    assert stored_names(store) - before == set(), "shared objects left behind"


def test_an_owners_bytes_count_each_shared_original_once(store: ResultStore) -> None:
    assert store.bytes_used(OWNER) == 0
    records = [shared_record(10), shared_record(20), shared_record(10, content_index=1)]
    for metadata in records:
        save_tiff(store, metadata)
    save_tiff(store, shared_record(10, owner=OTHER_OWNER))
    save(store, numbered_record(1))  # stored before originals were shared: not counted
    own = sum(100 + len(json.dumps(metadata).encode()) for metadata in records)
    assert store.bytes_used(OWNER) == own + 2 * (1000 + 500)
    store.delete(OWNER, records[0]["id"])
    assert store.bytes_used(OWNER) == own - 100 - len(json.dumps(records[0]).encode()) + 3000
    store.delete(OWNER, records[1]["id"])
    assert store.bytes_used(OWNER) == 100 + len(json.dumps(records[2]).encode()) + 1500


def test_a_resave_of_one_result_is_referenced_once(store: ResultStore) -> None:
    metadata = shared_record(10)
    save_tiff(store, metadata)
    save_tiff(store, metadata)
    assert store.bytes_used(OWNER) == 100 + len(json.dumps(metadata).encode()) + 1500
    assert store.delete(OWNER, metadata["id"])
    assert store.bytes_used(OWNER) == 0
    assert shared_names(store, metadata) == set()


def test_a_save_landing_inside_an_s3_deletes_window_keeps_its_original(
    moto_server: MotoServer, bucket: str, s3_credentials: dict[str, str]
) -> None:
    """The race S3 has without a lock (s3_store's docstring): a save's reference and
    content land between the delete's listing and its DELETE. The content is put back."""
    store = S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")
    other = S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")
    first, second = shared_record(10), shared_record(20)
    save_tiff(store, first)
    real_delete = store.client.delete_object

    def delete_object(**params: str) -> object:
        if (
            params["Key"].startswith(content_stem(first))
            and other.load(OWNER, second["id"]) is None
        ):
            save_tiff(other, second)
        return real_delete(**params)

    store.client.delete_object = delete_object
    assert store.delete(OWNER, first["id"])
    content = content_stem(first)
    assert store.load_original(content, "tiff") == b"o" * 1000
    assert shared_names(store, first) == {f"{content}.orig.tiff", f"{content}.view.png"}
    view = store.client.get_object(Bucket=bucket, Key=f"{content}.view.png")
    assert view["ContentType"] == "image/png" and view["CacheControl"]
    assert not [name for name in stored_names(store) if "/held/" in name], "copies left behind"
