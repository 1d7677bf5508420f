"""Results do not grow forever: results older than CANNY_RETENTION_DAYS are deleted.

The file store is swept here, periodically, by every backend worker (deleting the same
files twice is harmless). A bucket expires objects by its own lifecycle rule instead
(`lifecycle_configuration`, applied by the infrastructure), at no request cost to us.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from canny.storage.file_store import FileStore

log = logging.getLogger(__name__)


def lifecycle_configuration(days: int) -> dict[str, Any]:
    """The bucket lifecycle rule that expires every result object `days` after it was
    written, as put_bucket_lifecycle_configuration takes it
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLifecycleConfiguration.html;
    Spaces buckets take expiration rules too: `lifecycle_rule.expiration` in
    https://docs.digitalocean.com/reference/terraform/reference/resources/spaces_bucket/).
    Expiry is counted from each object's creation and rounded to the next midnight UTC, so
    a result's objects, written within a second, expire together (unless that second
    straddles midnight: then the index entry, written after the images, goes a day after its images
    and the id is listed without images for that day)."""
    return {
        "Rules": [
            {
                "ID": "canny-results-retention",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": days},
            }
        ]
    }


class RetentionSweeper:
    """A daemon thread that deletes the file store's results older than `max_age`,
    every `period_seconds`; stop() ends it (tests, and nothing else, need that)."""

    def __init__(self, store: FileStore, max_age: timedelta, period_seconds: float) -> None:
        self.store = store
        self.max_age = max_age
        self.period_seconds = period_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canny-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def sweep_once(self) -> int:
        removed = self.store.delete_created_before(datetime.now(UTC) - self.max_age)
        if removed:
            log.info("retention: deleted %d results older than %s", removed, self.max_age)
        return removed

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.sweep_once()
            except OSError as error:
                # A sweep that cannot run now (disk gone) is retried next period.
                log.warning("retention sweep failed: %s", error)
            self._stopped.wait(self.period_seconds)
