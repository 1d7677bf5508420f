"""Result storage: one contract (ResultStore), kept on disk (FileStore) or in S3 (S3Store)."""

from canny.storage.contract import (
    CURSOR_PATTERN,
    ID_PATTERN,
    Metadata,
    ResultStore,
    created_now,
    is_valid_id,
    result_id,
    sort_key,
)
from canny.storage.file_store import STALE_TEMP_SECONDS, FileStore
from canny.storage.selection import open_store

__all__ = [
    "CURSOR_PATTERN",
    "ID_PATTERN",
    "STALE_TEMP_SECONDS",
    "FileStore",
    "Metadata",
    "ResultStore",
    "created_now",
    "is_valid_id",
    "open_store",
    "result_id",
    "sort_key",
]
