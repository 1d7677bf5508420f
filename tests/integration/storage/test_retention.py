"""Results older than the retention period are deleted: swept on disk, expired in a bucket."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from canny import create_app
from canny.settings import Settings
from canny.storage import FileStore
from canny.storage.contract import content_stem
from canny.storage.retention import lifecycle_configuration

from infra.rehearse.s3_emulator import MotoServer
from tests.integration.storage.stored_objects import save_tiff, stored_names
from tests.result_records import OWNER, numbered_record, shared_record

SWEEP_WAIT_SECONDS = 20


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def save_aged(store: FileStore, index: int, age_days: float) -> dict:
    metadata = numbered_record(index, created_at=days_ago(age_days))
    store.save(metadata, b"original", "png", b"edges", b"view")
    return metadata


def test_the_sweep_deletes_only_expired_results_index_entry_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "results")
    store.prepare()
    old = save_aged(store, 1, age_days=3)
    kept = save_aged(store, 2, age_days=1)
    unlinked: list[str] = []
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        unlinked.append(str(path.relative_to(store.directory)))
        real_unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert store.delete_created_before(datetime.now(UTC) - timedelta(days=2)) == 1
    assert unlinked[0] == f"owners/{OWNER}/{old['id']}.json", "the listing entry goes first"
    assert unlinked[1] == f"{old['id']}.json", "then the metadata, before any image"
    assert store.load(OWNER, old["id"]) is None
    assert not [name for name in stored_names(store) if old["id"] in name]
    assert store.list(OWNER, limit=10)[0] == [kept]


def test_the_sweep_keeps_a_shared_original_until_its_last_result_expires(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "results")
    old, newer = shared_record(10), shared_record(20)
    old["created_at"], newer["created_at"] = days_ago(3), days_ago(1)
    for metadata in (old, newer):
        save_tiff(store, metadata)
    content = content_stem(old)
    assert store.delete_created_before(datetime.now(UTC) - timedelta(days=2)) == 1
    assert store.load_original(content, "tiff") is not None, "the newer result still uses it"
    assert store.delete_created_before(datetime.now(UTC)) == 1
    assert store.load_original(content, "tiff") is None
    assert store.bytes_used(OWNER) == 0


def test_the_backend_sweeps_periodically_when_retention_is_set(tmp_path: Path) -> None:
    settings = Settings(
        results_dir=tmp_path / "results", retention_days=2, retention_sweep_seconds=1
    )
    app = create_app(settings)
    try:
        store: FileStore = app.extensions["canny_store"]
        kept = save_aged(store, 1, age_days=1)
        expired = save_aged(store, 2, age_days=2.5)
        deadline = time.monotonic() + SWEEP_WAIT_SECONDS
        while store.load(OWNER, expired["id"]) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.load(OWNER, expired["id"]) is None, "the periodic sweep did not run"
        assert store.load(OWNER, kept["id"]) == kept
    finally:
        app.extensions["canny_retention"].stop()


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    app = create_app(Settings(results_dir=tmp_path / "results"))
    assert "canny_retention" not in app.extensions


def test_the_bucket_lifecycle_rule_is_accepted_by_an_s3_server(
    moto_server: MotoServer, bucket: str
) -> None:
    client = moto_server.client()
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration=lifecycle_configuration(30)
    )
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(rule["Status"], rule["Expiration"]["Days"]) for rule in rules] == [("Enabled", 30)]
