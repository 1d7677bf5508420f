"""The smoke test's checks against a stand-in deployment with one fault at a time.

The real local stack (tests/integration/smoke) shows the passing run and a broken backend;
here each other way a deployment can be wrong is produced on purpose.
"""

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from flask import Flask, abort, jsonify, request, send_file
from werkzeug.serving import make_server

from ci import edge_reference, smoke
from tests.conftest import pick_free_port

FAULTS = {
    "healthz_down": "gateway /healthz answered 503, expected 200",
    "metrics_public": "/metrics not public: /metrics is reachable from outside (HTTP 200)",
    "stub_status_public": "/stub_status not public: /stub_status is reachable from outside",
    "prefix_stripped": "/api/readyz not public: /api/readyz is reachable from outside",
    "upload_rejected": "POST /api/images answered 500",
    "other_thresholds": "edge map differs from the DESIGN.md pipeline in",
    "other_params": "backend used params",
    "not_an_image": "the edge map is not a decodable image",
    "wrong_size": "edge map is (96, 72) pixels, expected (192, 144)",
    "edges_missing": "answered 404",
    "delete_broken": "answered 500, expected 204",
}


def fake_deployment(results: Path, fault: str | None) -> Flask:
    """The public surface of a deployment, computing edges the DESIGN.md way unless told not."""
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return ("", 503) if fault == "healthz_down" else ("ok", 200)

    @app.get("/<path:name>")
    def private(name: str) -> tuple[str, int]:
        exposed = {
            "metrics_public": "metrics",
            "stub_status_public": "stub_status",
            "prefix_stripped": "api/readyz",
        }
        return ("exposed", 200) if exposed.get(fault) == name else ("", 404)

    @app.post("/api/images")
    def upload() -> tuple[object, int]:
        if fault == "upload_rejected":
            return "boom", 500
        data = request.files["file"].read()
        gray = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2GRAY)
        low = 50 if fault == "other_thresholds" else 100
        edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), low, 200)
        if fault == "wrong_size":
            edges = cv2.resize(edges, (96, 72))
        png = b"not a png" if fault == "not_an_image" else cv2.imencode(".png", edges)[1].tobytes()
        if fault != "edges_missing":
            (results / "r1.png").write_bytes(png)
        params = {"low": 100, "high": 200, "blur": 3 if fault == "other_params" else 5}
        body = {"id": "r1", "edges_url": "/results/r1.png", "params": params}
        return jsonify(body | {"width": gray.shape[1], "height": gray.shape[0]}), 201

    @app.get("/results/<name>")
    def result(name: str) -> object:
        path = results / name
        if not path.exists():
            abort(404)
        return send_file(path, mimetype="image/png")

    @app.delete("/api/images/<image_id>")
    def delete(image_id: str) -> tuple[str, int]:
        return ("", 500) if fault == "delete_broken" else ("", 204)

    return app


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers = []

    def start(fault: str | None) -> str:
        port = pick_free_port()
        server = make_server("127.0.0.1", port, fake_deployment(tmp_path, fault), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_healthy_deployment_passes(serve, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main([serve(None), "--uploads", "2", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "ok: /metrics not public" in out and "ok: upload 2 of 2" in out, out
    assert "smoke test passed" in out


@pytest.mark.parametrize(("fault", "reason"), FAULTS.items())
def test_each_fault_fails_with_a_readable_reason(
    serve, fault: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke.main([serve(fault), "--uploads", "1", "--seed", "7"]) == 1
    err = capsys.readouterr().err
    assert reason in err, f"expected {reason!r} in:\n{err}"
    assert "smoke test failed" in err


def test_an_unreachable_url_fails_after_the_wait(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{pick_free_port()}"
    assert smoke.main([url, "--wait", "0"]) == 1
    assert f"GET {url}/healthz failed" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://example.invalid"])
def test_url_must_be_http(url: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        smoke.main([url])
    assert exit_info.value.code == 2


def test_sample_images_differ_per_seed_and_have_edges() -> None:
    first, second = edge_reference.sample_png(1), edge_reference.sample_png(2)
    assert first != second, "each run must upload new bytes, or the service answers from cache"
    assert edge_reference.sample_png(1) == first, "a seed must reproduce its image"
    assert np.count_nonzero(edge_reference.expected_edges(first)) > 100, "too few edges to compare"


@pytest.mark.parametrize(("blur", "low", "high"), [(3, 100, 200), (5, 50, 200), (5, 100, 250)])
def test_other_pipeline_parameters_change_the_expected_map(blur: int, low: int, high: int) -> None:
    data = edge_reference.sample_png(3)
    gray = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2GRAY)
    other = cv2.Canny(cv2.GaussianBlur(gray, (blur, blur), 0), low, high)
    assert np.count_nonzero(other != edge_reference.expected_edges(data)) > 0, (
        "the sample image cannot tell these parameters from the defaults"
    )
