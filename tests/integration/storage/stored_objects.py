"""Saving a result with stand-in bytes, and listing what a store holds: shared by the storage
tests of every store."""

from __future__ import annotations

from canny.storage import FileStore, ResultStore
from canny.storage.s3_store import OWNERS_PREFIX, S3Store
from canny.storage.usage import RECORD_NAME


def stored_names(store: ResultStore) -> set[str]:
    """Every object the store holds, whatever the backend calls them."""
    if isinstance(store, FileStore):
        return {str(p.relative_to(store.directory)) for p in store.directory.rglob("*.*")}
    assert isinstance(store, S3Store)
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
    return {entry["Key"] for page in pages for entry in page.get("Contents", [])}


def save(store: ResultStore, metadata: dict, view: bool = False) -> None:
    store.save(metadata, b"original", "png", b"edges", b"view" if view else None)


def save_tiff(store: ResultStore, metadata: dict) -> None:
    """A TIFF result: a 1,000-byte original, a 500-byte view and a 100-byte edge map."""
    store.save(metadata, b"o" * 1000, "tiff", b"e" * 100, b"v" * 500)


def write_usage_record(store: ResultStore, owner: str, body: bytes) -> None:
    """Overwrite the owner's kept usage record with `body`, wherever the store keeps it."""
    if isinstance(store, FileStore):
        (store.directory / "owners" / owner / RECORD_NAME).write_bytes(body)
        return
    assert isinstance(store, S3Store)
    key = f"{OWNERS_PREFIX}/{owner}/{RECORD_NAME}"
    store.client.put_object(Bucket=store.bucket, Key=key, Body=body)
