"""The S3 store sends parallel requests from threads it keeps: starting a page's 20 threads
anew took more of a page's time than its requests (docs/performance.md)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from canny.storage.s3_store import S3Store

from infra.rehearse.s3_emulator import MotoServer
from tests.integration.storage.stored_objects import save
from tests.result_records import OWNER, numbered_record

PAGE = 5


@pytest.fixture
def listed_store(moto_server: MotoServer, bucket: str, s3_credentials: dict[str, str]) -> S3Store:
    store = S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")
    for index in range(PAGE):
        save(store, numbered_record(index))
    assert len(store.list(OWNER, limit=PAGE)[0]) == PAGE
    return store


def test_a_page_starts_no_thread_once_the_store_has_sent_one(
    listed_store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def recording_start(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    # Entries not read yet: the page has GETs to send (one it has read needs none).
    for index in range(PAGE, PAGE + 3):
        save(listed_store, numbered_record(index))
    monkeypatch.setattr(threading.Thread, "start", recording_start)
    assert len(listed_store.list(OWNER, limit=PAGE + 3)[0]) == PAGE + 3
    assert started == []


def test_a_forked_child_lists_with_threads_of_its_own(listed_store: S3Store) -> None:
    """A fork copies the pool but none of its threads: work handed to them would wait
    for ever (what a server preloading the app before forking workers would do)."""
    child = os.fork()
    if child == 0:
        # The child exits at once, whatever happens, and never returns into pytest.
        try:
            os._exit(0 if len(listed_store.list(OWNER, limit=PAGE)[0]) == PAGE else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    pytest.fail("the forked child's listing never finished")
