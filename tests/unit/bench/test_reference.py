"""The raw reference computes exactly what the service computes, from the same bytes."""

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from canny import create_app, pipeline
from canny.edge_params import EdgeParams
from canny.settings import Settings
from canny.storage import FileStore
from canny.storage.contract import content_stem, shares_content

from bench import images
from bench.multipart import envelope
from bench.reference import BENCH_OWNER, ReferenceRunner, edge_png, store_result


@pytest.fixture(scope="module", params=["jpeg", "png"])
def small_sample(request: pytest.FixtureRequest) -> images.Sample:
    width, height = 320, 180
    return images.Sample(
        "tiny",
        request.param,
        width,
        height,
        images.encode(images.scene(width, height), request.param),
    )


def pixels(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_UNCHANGED)


def test_reference_matches_the_service_pipeline(small_sample: images.Sample) -> None:
    service = pipeline.run(small_sample.data, EdgeParams(low=100, high=200, blur=5))
    assert edge_png(small_sample.data) == service.png, "same pipeline and flags, same bytes"
    assert np.count_nonzero(pixels(service.png)) > 0, "the test image must have edges"


def test_bytes_after_the_image_end_do_not_change_the_result(small_sample: images.Sample) -> None:
    """upload.lua makes each upload new by appending a tag after the image's end marker."""
    assert edge_png(small_sample.data + b"r1c4-000000042") == edge_png(small_sample.data)


def test_images_are_deterministic() -> None:
    assert images.encode(images.scene(64, 48), "png") == images.encode(images.scene(64, 48), "png")


def test_runner_counts_images_and_cpu(small_sample: images.Sample) -> None:
    runner = ReferenceRunner(max_processes=2)
    try:
        run = runner.run(small_sample.data, processes=2, images_per_process=3)
        with pytest.raises(ValueError, match="processes"):
            runner.run(small_sample.data, processes=3, images_per_process=1)
    finally:
        runner.close()
    assert run.images == 6
    assert run.cpu_per_image > 0 and run.images_per_second > 0


def test_runner_workers_keep_image_buffers_like_service_workers() -> None:
    """With glibc's own thresholds, a worker that has seen only 1080p images page-faults
    about 2,500 pages back in for every one: the raw figure then depends on history.

    Kept buffers fault 2-3 pages per image, but the kernel may still take pages away now
    and then (this VM runs the kernel's DAMON monitor, `kdamond`): once about 1,000 more
    faults in a run of three. Interference only adds faults, so the fewest of a few runs
    is the worker's own figure; glibc's defaults would fault thousands in every run."""
    sample = images.sample("1080p", "jpeg")
    runner = ReferenceRunner(max_processes=1)
    try:
        runner.run(sample.data, processes=1, images_per_process=1)
        runs = [runner.run(sample.data, processes=1, images_per_process=3) for _ in range(3)]
    finally:
        runner.close()
    assert min(run.page_faults_per_image for run in runs) < 300, runs


def test_store_reference_stores_each_image_as_the_service_does(
    small_sample: images.Sample, tmp_path: Path
) -> None:
    runner = ReferenceRunner(max_processes=2)
    try:
        run = runner.run(small_sample.data, processes=2, images_per_process=2, store_in=tmp_path)
    finally:
        runner.close()
    assert run.images == 4 and run.cpu_per_image > 0
    store = FileStore(tmp_path)
    stored = [store.load(BENCH_OWNER, path.stem) for path in tmp_path.glob("*.json")]
    assert len(stored) == 4, "a new id per image: every one is a first upload"
    extension = "jpg" if small_sample.image_format == "jpeg" else "png"
    for metadata in stored:
        assert (metadata["width"], metadata["height"]) == (320, 180)
        assert metadata["edges_url"] == f"/results/{metadata['id']}.png"
        # A new upload's original, stored under its content id like the service's.
        assert shares_content(metadata)
        original = tmp_path / f"{content_stem(metadata)}.orig.{extension}"
        assert original.read_bytes() == small_sample.data
        edges = tmp_path / f"{metadata['id']}.png"
        assert edges.read_bytes() == edge_png(small_sample.data)
    assert not list(tmp_path.glob(".*")), "no temp files left"


def _fsyncs(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> int:
    synced: list[int] = []
    real_fsync = os.fsync
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
        action()
    return len(synced)


def test_store_reference_fsyncs_like_the_service(
    small_sample: images.Sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same durability as a new upload's 201, counted on the service itself: a store
    reference that synced less (it once kept no reference to a shared original) made the
    service's overhead over it look larger than it is."""
    client = create_app(Settings(results_dir=tmp_path / "service")).test_client()
    form = envelope(small_sample.filename, small_sample.content_type)

    def upload() -> None:
        answer = client.post(
            "/api/images", data=form.body(small_sample.data), content_type=form.content_type
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)

    service = _fsyncs(monkeypatch, upload)
    (tmp_path / "reference").mkdir()
    store = FileStore(tmp_path / "reference")
    assert _fsyncs(monkeypatch, lambda: store_result(store, small_sample.data)) == service


def test_the_references_run_the_services_pipeline(
    small_sample: images.Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a copy of its steps: the limit decodes, checks and encodes as the service does."""
    runs: list[bytes] = []
    real_run = pipeline.run
    monkeypatch.setattr(
        pipeline, "run", lambda data, *args: runs.append(data) or real_run(data, *args)
    )
    edge_png(small_sample.data)
    assert runs == [small_sample.data]
