"""The store the settings ask for (CANNY_STORAGE=file|s3)."""

from __future__ import annotations

from canny.settings import Settings
from canny.storage.contract import ResultStore
from canny.storage.file_store import FileStore
from canny.storage.s3_store import S3Store


def open_store(settings: Settings) -> ResultStore:
    if settings.storage == "s3":
        return S3Store.connect(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    return FileStore(settings.results_dir)
