"""Round trips to the bucket, not requests, set an upload's and a page's latency on Spaces:
a save is three sequential steps and a listing page two, with the bucket a round trip away
(bench.delay_proxy in front of moto). Counted from when each request started and ended,
so the figures hold whatever the round trip; no timing is asserted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from canny.storage.s3_store import S3Store

from bench.delay_proxy import DelayProxy
from infra.rehearse.s3_emulator import MotoServer
from tests.result_records import OWNER, numbered_record, shared_record, stamp

ROUND_TRIP_S = 0.1
PAGE = 20


@dataclass(frozen=True)
class Call:
    operation: str
    key: str
    started: float
    ended: float


class CallLog:
    """Wraps a boto3 client's methods to record when each call started and ended."""

    def __init__(self, client: object, operations: tuple[str, ...]) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        for operation in operations:
            setattr(client, operation, self._recording(operation, getattr(client, operation)))

    def _recording(self, operation: str, method: Callable[..., object]) -> Callable[..., object]:
        def call(**params: object) -> object:
            started = time.monotonic()
            try:
                return method(**params)
            finally:
                with self._lock:
                    self.calls.append(
                        Call(operation, str(params.get("Key", "")), started, time.monotonic())
                    )

        return call

    def steps(self) -> list[list[Call]]:
        """Calls grouped into sequential steps: a step ends when a call starts after every
        call of the step has ended."""
        steps: list[list[Call]] = []
        for call in sorted(self.calls, key=lambda c: c.started):
            if steps and call.started < max(c.ended for c in steps[-1]):
                steps[-1].append(call)
            else:
                steps.append([call])
        return steps


@pytest.fixture
def distant_store(
    moto_server: MotoServer, bucket: str, s3_credentials: dict[str, str]
) -> Iterator[S3Store]:
    port = int(moto_server.endpoint_url.rsplit(":", 1)[1])
    with DelayProxy(port, ROUND_TRIP_S) as proxy:
        yield S3Store.connect(bucket, proxy.url, "us-east-1")


def test_a_save_is_three_steps_images_first_marker_last(distant_store: S3Store) -> None:
    log = CallLog(distant_store.client, ("put_object",))
    metadata = numbered_record(1)
    distant_store.save(metadata, b"original", "png", b"edges", b"view")
    steps = [sorted(call.key for call in step) for step in log.steps()]
    image_id = metadata["id"]
    assert steps[0] == sorted(
        [f"{image_id}.orig.png", f"{image_id}.view.png", f"{image_id}.png", f"{image_id}.json"]
    ), steps
    assert [len(step) for step in steps] == [4, 1, 1], steps
    assert "/newest/" in steps[1][0] and "/ids/" in steps[2][0], steps
    assert distant_store.load(OWNER, image_id) == metadata


def test_a_shared_save_puts_its_reference_before_its_content(distant_store: S3Store) -> None:
    """A delete of the file's last other result lists references before it deletes the
    content: the reference must exist before the content is written (s3_store's docstring)."""
    log = CallLog(distant_store.client, ("put_object",))
    metadata = shared_record(10)
    distant_store.save(metadata, b"original", "tiff", b"edges", b"view")
    steps = log.steps()
    assert [len(step) for step in steps] == [1, 4, 1, 1], steps
    assert "/refs/" in steps[0][0].key
    assert any(call.key.endswith(".orig.tiff") for call in steps[1]), steps


def test_a_default_listing_page_is_two_steps(
    distant_store: S3Store, moto_server: MotoServer
) -> None:
    nearby = S3Store.connect(distant_store.bucket, moto_server.endpoint_url, "us-east-1")
    saved = [numbered_record(n, created_at=stamp(n)) for n in range(PAGE + 1)]
    for metadata in saved:
        nearby.save(metadata, b"original", "png", b"edges")
    log = CallLog(distant_store.client, ("list_objects_v2", "get_object"))
    items, cursor = distant_store.list(OWNER, limit=PAGE)
    assert [item["id"] for item in items] == [m["id"] for m in saved[::-1][:PAGE]]
    assert cursor is not None
    steps = log.steps()
    assert [[call.operation for call in step][:1] for step in steps] == [
        ["list_objects_v2"],
        ["get_object"],
    ], [len(step) for step in steps]
    assert len(steps[1]) == PAGE


def test_a_put_sends_its_body_without_waiting_for_100_continue(distant_store: S3Store) -> None:
    """botocore sends `Expect: 100-continue` on every PutObject and waits for the answer
    before the body: two round trips per PUT (S3Store._send_body_with_headers)."""
    expectations: list[object] = []

    def record(request: object, **_: object) -> None:
        expectations.append(request.headers.get("Expect"))  # type: ignore[attr-defined]

    distant_store.client.meta.events.register("before-send.s3.PutObject", record)
    distant_store.save(shared_record(10), b"original", "tiff", b"edges", b"view")
    assert len(expectations) == 7 and set(expectations) == {None}, expectations
