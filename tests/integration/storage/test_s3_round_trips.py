"""Round trips to the bucket, not requests, set an upload's and a page's latency on Spaces:
a save is three sequential steps and a listing page two, with the bucket a round trip away
(bench.delay_proxy in front of moto); an upload's quota check is one read, whatever the
owner keeps. Counted from when each request started and ended, so the figures hold
whatever the round trip; no timing is asserted."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from canny import create_app
from canny.owner_keys import Owner
from canny.settings import Settings
from canny.storage.s3_store import S3Store
from flask.testing import FlaskClient

from bench.delay_proxy import DelayProxy
from infra.rehearse.s3_emulator import MotoServer
from tests.integration.storage.stored_objects import save_tiff
from tests.owner_keys_for_tests import issued_test_key
from tests.result_records import OWNER, numbered_record, shared_record, stamp
from tests.unit.backend import sample_images

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


def steady_upload_steps(client: FlaskClient, log: CallLog, owner_key: str) -> list[list[Call]]:
    """The store's steps of an owner's third new upload: the first two leave its usage
    record (canny.storage.usage) in the state every later upload finds."""
    headers = {"Authorization": f"Bearer {owner_key}"}
    for seed in range(3):
        log.calls.clear()
        data = sample_images.encode(sample_images.noise(32, 24, seed=seed), "png")
        answer = client.post(
            "/api/images", data={"file": (io.BytesIO(data), "a.png")}, headers=headers
        )
        assert answer.status_code == 201 and not answer.json["cached"], answer.json
    return log.steps()


def test_an_uploads_quota_check_is_one_read_whatever_the_owner_keeps(
    moto_server: MotoServer, bucket: str, s3_credentials: dict[str, str]
) -> None:
    """Issue 31: the quota check listed the owner's index and references (a LIST each,
    one per 1,000 references) on every upload, after the duplicate lookup; now it reads
    the owner's usage record, in the same round trip as the lookup."""
    port = int(moto_server.endpoint_url.rsplit(":", 1)[1])
    nearby = S3Store.connect(bucket, moto_server.endpoint_url, "us-east-1")
    with DelayProxy(port, ROUND_TRIP_S) as proxy:
        app = create_app(Settings(storage="s3", s3_bucket=bucket, s3_endpoint_url=proxy.url))
        store: S3Store = app.extensions["canny_store"]
        log = CallLog(store.client, ("list_objects_v2", "get_object", "put_object"))
        owner_keys = {"none": issued_test_key(), "forty": issued_test_key()}
        forty = Owner(owner_keys["forty"], False, False).digest
        for low in range(1, 41):
            save_tiff(nearby, shared_record(low, owner=forty))
        steps = {
            name: steady_upload_steps(app.test_client(), log, key)
            for name, key in owner_keys.items()
        }
    shapes = {name: [sorted(c.operation for c in step) for step in s] for name, s in steps.items()}
    assert shapes["none"] == shapes["forty"], shapes
    assert shapes["none"] == [
        # Read together: does the result exist (the duplicate lookup), and the usage record
        # (the quota check).
        ["get_object", "get_object"],
        ["put_object"],  # the save (test_a_shared_save_puts_its_reference_before_its_content)
        ["get_object", "put_object", "put_object", "put_object"],
        ["put_object", "put_object"],  # the index entry and the usage record
        ["put_object"],
    ], shapes


def test_a_reloaded_page_waits_for_its_list_alone(
    distant_store: S3Store, moto_server: MotoServer
) -> None:
    """Index entries never change once written, so a page shown before sends one LIST and
    the GETs of the entries it has not read yet; the LIST still decides what is shown."""
    nearby = S3Store.connect(distant_store.bucket, moto_server.endpoint_url, "us-east-1")
    saved = [numbered_record(n, created_at=stamp(n)) for n in range(4)]
    for metadata in saved[:3]:
        nearby.save(metadata, b"original", "png", b"edges")
    distant_store.list(OWNER, limit=PAGE)
    nearby.save(saved[3], b"original", "png", b"edges")
    assert nearby.delete(OWNER, saved[0]["id"])
    log = CallLog(distant_store.client, ("list_objects_v2", "get_object"))
    items, _ = distant_store.list(OWNER, limit=PAGE)
    assert [item["id"] for item in items] == [m["id"] for m in saved[:0:-1]]
    steps = [[call.operation for call in step] for step in log.steps()]
    assert steps == [["list_objects_v2"], ["get_object"]], steps
    log.calls.clear()
    assert distant_store.list(OWNER, limit=PAGE)[0] == items
    assert [call.operation for call in log.calls] == ["list_objects_v2"]
