"""The naive peer does what a first version would: the same pipeline, OpenCV's default PNG
flags, the upload and the edge map written as they are."""

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from canny import pipeline
from canny.edge_params import EdgeParams
from canny.pipeline import PNG_ENCODE_FLAGS

from bench import images
from bench.peer_app import create_peer_app


def edge_map(data: bytes) -> np.ndarray:
    """The service's edges of `data` with the peer's (and the default) parameters."""
    return pipeline.detect_edges(pipeline.decode(data), EdgeParams())


@pytest.fixture(scope="module")
def upload() -> bytes:
    return images.encode(images.scene(320, 180), "jpeg")


def test_peer_stores_the_edge_map_with_default_png_flags_and_the_original(
    tmp_path: Path, upload: bytes
) -> None:
    client = create_peer_app(tmp_path).test_client()
    answer = client.post("/api/images", data={"file": (io.BytesIO(upload), "scene.jpg")})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert (answer.json["width"], answer.json["height"]) == (320, 180)
    name = answer.json["id"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{name}.orig", f"{name}.png"]
    assert (tmp_path / f"{name}.orig").read_bytes() == upload
    stored = (tmp_path / f"{name}.png").read_bytes()
    default_png = cv2.imencode(".png", edge_map(upload))[1].tobytes()
    assert stored == default_png, "OpenCV's default PNG flags, not the service's"
    assert stored != pipeline.encode_png(edge_map(upload)), (
        f"the service's flags {PNG_ENCODE_FLAGS}"
    )
    edges = cv2.imdecode(np.frombuffer(stored, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(edges, edge_map(upload)), "the same pipeline as the service"
    assert np.count_nonzero(edges) > 0


def test_peer_gives_every_upload_its_own_files(tmp_path: Path, upload: bytes) -> None:
    client = create_peer_app(tmp_path).test_client()
    for _ in range(2):
        answer = client.post("/api/images", data={"file": (io.BytesIO(upload), "scene.jpg")})
        assert answer.status_code == 201
    assert len(list(tmp_path.glob("*.png"))) == 2
