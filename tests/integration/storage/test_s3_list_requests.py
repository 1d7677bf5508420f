"""A page of the listing costs the same number of S3 requests with 1,000 stored results."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from canny.storage import sort_key
from canny.storage.s3_store import S3Store

from tests.integration.storage.stored_objects import save
from tests.result_records import OWNER, numbered_record, stamp

STORED = 1000
LIMIT = 20


def test_a_list_page_is_one_list_plus_one_get_per_item(
    moto_server: object, bucket: str, s3_credentials: dict[str, str]
) -> None:
    store = S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")
    saved = [numbered_record(index, created_at=stamp(index)) for index in range(STORED)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda metadata: save(store, metadata), saved))

    # Every request boto3 sends goes through this event, retries included:
    # https://boto3.amazonaws.com/v1/documentation/api/latest/guide/events.html
    sent: Counter[str] = Counter()
    store.client.meta.events.register(
        "before-send.s3.*", lambda request, **_: sent.update([request.method])
    )
    first, cursor = store.list(OWNER, limit=LIMIT)
    assert [item["id"] for item in first] == [m["id"] for m in saved[::-1][:LIMIT]]
    assert sum(sent.values()) == 1 + LIMIT, sent
    sent.clear()
    middle, _ = store.list(OWNER, limit=LIMIT, before=sort_key(saved[500]))
    assert [item["id"] for item in middle] == [m["id"] for m in saved[499 : 499 - LIMIT : -1]]
    assert sum(sent.values()) == 1 + LIMIT, sent
    assert cursor is not None
