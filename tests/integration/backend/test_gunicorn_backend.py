"""The backend for real: gunicorn with 2 workers, parallel uploads, shared metrics."""

import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from canny.pipeline_pool import CHILD_NAME, SUPERVISOR_NAME
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from bench.proc_stats import group_members
from tests.integration.backend.conftest import BackendServer
from tests.owner_keys_for_tests import issued_test_key
from tests.unit.backend import sample_images

DISTINCT = 10
IDENTICAL = 10
# Every upload here comes from one owner, so identical uploads share one result.
OWNER = {"Authorization": f"Bearer {issued_test_key()}"}


def post_image(url: str, data: bytes) -> requests.Response:
    files = {"file": ("image.png", data, "application/octet-stream")}
    return requests.post(
        f"{url}/api/images", files=files, data={"blur": "3"}, headers=OWNER, timeout=60
    )


def metric_value(url: str, name: str, **labels: str) -> float:
    exposition = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_parallel_uploads_all_succeed_and_files_are_consistent(
    backend_server: BackendServer,
) -> None:
    distinct = [sample_images.encode(sample_images.shapes(seed=n), "png") for n in range(DISTINCT)]
    same = sample_images.encode(sample_images.noise(), "jpeg")
    uploads = distinct + [same] * IDENTICAL
    with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
        responses = list(pool.map(lambda data: post_image(backend_server.url, data), uploads))
    assert [r.status_code for r in responses] == [201] * len(uploads), [
        r.text for r in responses if r.status_code != 201
    ]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == DISTINCT + 1, "identical uploads must share one id, distinct ones not"

    results = backend_server.results_dir
    for response, data in zip(responses, uploads, strict=True):
        body = response.json()
        assert (results / body["original_url"].removeprefix("/results/")).read_bytes() == data
        edges = sample_images.decode_png((results / f"{body['id']}.png").read_bytes())
        assert np.array_equal(edges, sample_images.reference_edges(data, blur=3))
        assert json.loads((results / f"{body['id']}.json").read_text())["id"] == body["id"]
    names = sorted(path.name for path in results.iterdir() if path.name != "owners")
    assert len(names) == 3 * len(ids), f"expected 3 files per id and nothing else: {names}"

    listing = requests.get(
        f"{backend_server.url}/api/images?limit=100", headers=OWNER, timeout=10
    ).json()
    assert {item["id"] for item in listing["items"]} == ids


def test_metrics_of_both_workers_count_the_uploads(backend_server: BackendServer) -> None:
    uploads = [sample_images.encode(sample_images.gradient(64 + n, 32), "png") for n in range(6)]
    uploads += uploads[:2]
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [
            r.status_code for r in pool.map(lambda d: post_image(backend_server.url, d), uploads)
        ]
    assert statuses == [201] * len(uploads)
    url = backend_server.url
    created = metric_value(
        url, "canny_http_requests_total", route="/api/images", method="POST", status="201"
    )
    processed = metric_value(url, "canny_images_processed_total")
    hits = metric_value(url, "canny_cache_hits_total")
    assert created == len(uploads), f"requests counted {created}, sent {len(uploads)}"
    assert processed + hits == len(uploads)
    assert hits >= 0 and processed >= 6
    assert metric_value(url, "canny_pipeline_stage_seconds_count", stage="decode") == processed
    expected_pixels = sum((64 + n) * 32 for n in range(6))
    assert metric_value(url, "canny_pixels_processed_total") >= expected_pixels


def test_live_openapi_document_is_valid(backend_server: BackendServer) -> None:
    response = requests.get(f"{backend_server.url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    validate(response.json())


def test_logs_are_json_lines_with_request_ids(backend_server: BackendServer) -> None:
    response = requests.get(
        f"{backend_server.url}/healthz", headers={"X-Request-ID": "trace-me-1"}, timeout=10
    )
    assert response.headers["X-Request-ID"] == "trace-me-1"
    post_image(backend_server.url, b"not an image")
    records = [json.loads(line) for line in backend_server.log().splitlines() if line.strip()]
    traced = [r for r in records if r.get("request_id") == "trace-me-1"]
    assert traced and traced[0]["path"] == "/healthz" and traced[0]["status"] == 200
    assert any(r.get("status") == 400 and r.get("request_id") for r in records)


def test_oversized_upload_is_json_413_and_the_server_keeps_serving(
    start_backend: Callable[..., BackendServer],
) -> None:
    server = start_backend(CANNY_MAX_UPLOAD_BYTES="100000")
    response = post_image(server.url, b"\xff\xd8\xff" + b"\x00" * 300_000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "100000" in response.json()["error"]["message"], "the message should name the limit"
    assert post_image(server.url, sample_images.encode(sample_images.shapes())).status_code == 201
    assert list(server.results_dir.glob("*.orig.jpg")) == [], "the refused upload was stored"


def test_counts_survive_worker_recycling(start_backend: Callable[..., BackendServer]) -> None:
    """Workers restarted by max_requests leave their samples behind, still summed."""
    server = start_backend(CANNY_MAX_REQUESTS="3", CANNY_MAX_REQUESTS_JITTER="0")
    for _ in range(12):
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    assert "Autorestarting worker" in server.log(), "max_requests did not recycle a worker"
    counted = metric_value(
        server.url, "canny_http_requests_total", route="/healthz", method="GET", status="200"
    )
    assert counted == 12, f"{counted} of 12 requests counted after workers were recycled"


def pipeline_children(server: BackendServer) -> set[int]:
    """Pids of the backend's pipeline children, by the name they give themselves
    (canny.pipeline_pool.CHILD_NAME), among its process group's members. The name comes
    from the same read of /proc/<pid>/stat as the group: a second read, of `comm`, failed
    when a child ended in between."""
    return {member.pid for member in group_members([server.pid]) if member.comm == CHILD_NAME}


def test_workers_share_the_backends_children_through_recycling(
    start_backend: Callable[..., BackendServer],
) -> None:
    """Issue 31: a child per worker left one idle while another's uploads waited. Two
    workers share CANNY_PIPELINE_PROCESSES children in all (3, not 2 x 3), the same children
    while workers recycle after CANNY_MAX_REQUESTS, and no upload is lost meanwhile."""
    server = start_backend(
        CANNY_PIPELINE_PROCESSES="3", CANNY_MAX_REQUESTS="4", CANNY_MAX_REQUESTS_JITTER="0"
    )
    children = pipeline_children(server)
    assert len(children) == 3, children
    images = [sample_images.encode(sample_images.noise(64, 48, seed=n)) for n in range(16)]
    with ThreadPoolExecutor(4) as pool:
        statuses = [r.status_code for r in pool.map(lambda d: post_image(server.url, d), images)]
    assert statuses == [201] * len(images)
    assert "Autorestarting worker" in server.log(), "max_requests did not recycle a worker"
    assert pipeline_children(server) == children, "children restarted with the workers"


def process_state(pid: int) -> str:
    """proc(5) stat field 3, or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_a_backend_whose_children_are_gone_stops_to_be_restarted(
    start_backend: Callable[..., BackendServer],
) -> None:
    """With its pipeline supervisor killed (and so its children), a backend would answer
    every upload 503 for ever: the first such upload gets its retryable 503, and the
    backend stops gracefully, for compose or ./run to start it again with new children."""
    server = start_backend(CANNY_GRACEFUL_TIMEOUT="5")
    [supervisor] = [
        member.pid for member in group_members([server.pid]) if member.comm == SUPERVISOR_NAME
    ]
    os.kill(supervisor, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pipeline_children(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    response = post_image(server.url, sample_images.encode(sample_images.shapes()))
    assert (response.status_code, response.json()["error"]["code"]) == (
        503,
        "processing_interrupted",
    )
    deadline = time.monotonic() + 20
    while process_state(server.pid) not in ("Z", "gone") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process_state(server.pid) in ("Z", "gone"), "the backend kept running"
    assert "the pipeline children are gone" in server.log()
