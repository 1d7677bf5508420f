"""The store the settings ask for (CANNY_STORAGE=file|s3), ready for an app to use."""

from __future__ import annotations

import logging
from datetime import timedelta

from canny.settings import Settings
from canny.storage.contract import ResultStore
from canny.storage.file_store import FileStore
from canny.storage.retention import RetentionSweeper
from canny.storage.s3_store import S3Store

log = logging.getLogger("canny")


def open_store(settings: Settings) -> ResultStore:
    if settings.storage == "s3":
        return S3Store.connect(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    # Room for the largest upload's original and its edge map (at most as large again).
    return FileStore(settings.results_dir, min_free_bytes=2 * settings.max_upload_bytes)


def start_storage(settings: Settings) -> tuple[ResultStore, RetentionSweeper | None]:
    """The store, prepared, and the file store's retention sweep when a period is set (a
    bucket expires results by its own lifecycle rule)."""
    store = open_store(settings)
    try:
        store.prepare()
    except OSError as error:
        # Not fatal: /readyz reports it and the container orchestration keeps us out of rotation.
        log.warning("result storage unavailable: %s", error)
    if not (settings.retention_days and isinstance(store, FileStore)):
        return store, None
    sweeper = RetentionSweeper(
        store, timedelta(days=settings.retention_days), settings.retention_sweep_seconds
    )
    sweeper.start()
    return store, sweeper
