"""`python -m canny.migrate --from DIR` copies a results folder into the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from canny import migrate
from canny.errors import StorageUnavailableError
from canny.storage import FileStore
from canny.storage.contract import content_stem
from canny.storage.s3_store import S3Store, StoredObject

from infra.rehearse.s3_emulator import MotoServer
from tests.integration.storage.conftest import s3_storage_env
from tests.integration.storage.stored_objects import save_tiff
from tests.result_records import OWNER, numbered_record, shared_record, stamp


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A results folder as the file store leaves it: three results, one with a view."""
    store = FileStore(tmp_path / "results")
    store.prepare()
    for index in range(3):
        metadata = numbered_record(index, created_at=stamp(index))
        store.save(
            metadata, b"orig-%d" % index, "png", b"edges-%d" % index, b"v" if index else None
        )
    return store.directory


@pytest.fixture
def bucket_env(moto_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    for name, value in s3_storage_env(moto_server, bucket).items():
        monkeypatch.setenv(name, value)
    return S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")


def files_in(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*.*")}


def test_results_sharing_an_original_migrate_with_their_references(
    tmp_path: Path, bucket_env: S3Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared original and view are copied once; the bucket then counts and deletes
    them as the file store did."""
    source = FileStore(tmp_path / "results")
    records = [shared_record(10), shared_record(20)]
    for metadata in records:
        save_tiff(source, metadata)
    assert migrate.main(["--from", str(source.directory)]) == 0
    assert "2 results: 12 objects copied, 2 already there" in capsys.readouterr().out
    content = content_stem(records[0])
    assert bucket_env.load_original(content, "tiff") == source.load_original(content, "tiff")
    assert bucket_env.bytes_used(OWNER) == source.bytes_used(OWNER)
    assert bucket_env.delete(OWNER, records[0]["id"])
    assert bucket_env.load_original(content, "tiff") is not None, "still shared"
    assert bucket_env.delete(OWNER, records[1]["id"])
    assert bucket_env.load_original(content, "tiff") is None


def test_migration_copies_every_result_and_deletes_nothing(
    results_dir: Path, bucket_env: S3Store, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files_in(results_dir)
    assert migrate.main(["--from", str(results_dir)]) == 0
    out = capsys.readouterr().out
    assert "[3/3]" in out
    assert "3 results: 17 objects copied, 0 already there, 0 results failed" in out
    source = FileStore(results_dir)
    assert bucket_env.list(OWNER, limit=10) == source.list(OWNER, limit=10)
    for item in source.list(OWNER, limit=10)[0]:
        assert bucket_env.load(OWNER, item["id"]) == item
        assert bucket_env.load_original(item["id"], "png") == source.load_original(
            item["id"], "png"
        )
    assert files_in(results_dir) == before, "the migration changed the source folder"

    assert migrate.main(["--from", str(results_dir)]) == 0
    assert "0 objects copied, 17 already there" in capsys.readouterr().out


def test_an_interrupted_migration_resumes_and_lists_only_whole_results(
    results_dir: Path,
    bucket_env: S3Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real_put = S3Store.put
    second_id = numbered_record(1, created_at=stamp(1))["id"]

    def put(store: S3Store, stored: StoredObject) -> None:
        if stored.key == f"{second_id}.png":
            raise StorageUnavailableError("connection lost")
        real_put(store, stored)

    monkeypatch.setattr(S3Store, "put", put)
    assert migrate.main(["--from", str(results_dir)]) == 1
    assert "FAILED" in capsys.readouterr().out
    listed = [item["id"] for item in bucket_env.list(OWNER, limit=10)[0]]
    assert second_id not in listed and len(listed) == 2

    monkeypatch.setattr(S3Store, "put", real_put)
    assert migrate.main(["--from", str(results_dir)]) == 0
    out = capsys.readouterr().out
    assert "3 results: 4 objects copied, 13 already there, 0 results failed" in out
    assert len(bucket_env.list(OWNER, limit=10)[0]) == 3


def test_a_copy_that_reads_back_different_fails_the_result(
    results_dir: Path,
    bucket_env: S3Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real_put = S3Store.put
    monkeypatch.setattr(
        S3Store, "put", lambda store, stored: real_put(store, StoredObject(stored.key, b"x", {}))
    )
    assert migrate.main(["--from", str(results_dir)]) == 1
    assert "differs after writing it" in capsys.readouterr().out
    assert bucket_env.list(OWNER, limit=10) == ([], None)


def test_migration_needs_the_s3_settings(
    results_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CANNY_STORAGE", "file")
    with pytest.raises(SystemExit):
        migrate.main(["--from", str(results_dir)])
    assert "CANNY_STORAGE=s3" in capsys.readouterr().err
