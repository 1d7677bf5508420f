"""The smoke test's checks against a stand-in deployment with one fault at a time.

The real local stack (tests/integration/smoke) shows the passing run and a broken backend;
here each other way a deployment can be wrong is produced on purpose.
"""

import itertools
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from flask import Flask, Response, abort, jsonify, request, send_file
from werkzeug.serving import make_server

from ci import edge_reference, smoke
from tests.conftest import pick_free_port

FAULTS = {
    "healthz_down": "gateway /healthz answered 503, expected 200",
    "metrics_public": "/metrics not public: /metrics is reachable from outside (HTTP 200)",
    "stub_status_public": "/stub_status not public: /stub_status is reachable from outside",
    "prefix_stripped": "/api/readyz not public: /api/readyz is reachable from outside",
    "upload_rejected": "POST /api/images answered 500",
    "other_thresholds": "edge map differs from the reference pipeline in",
    "other_params": "backend used params",
    "not_an_image": "the edge map is not a decodable image",
    "wrong_size": "edge map is (96, 72) pixels, expected (192, 144)",
    "edges_missing": "answered 404",
    "delete_broken": "answered 500, expected 204",
    "results_public": "is cacheable by shared caches (Cache-Control lacks private)",
    "gallery_shared": "another client lists 1 of the uploads",
    "foreign_get": "another client got GET /api/images/r1: 200",
    "foreign_delete": "another client's DELETE /api/images/r1: 204",
    "not_unlisted": "1 deleted uploads are still listed",
}
OWNER_COOKIE = "owner"


def edge_map(data: bytes, fault: str | None) -> tuple[bytes, tuple[int, int]]:
    """The edge map PNG the stand-in stores (wrong in the ways `fault` says) and the size."""
    gray = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2GRAY)
    low = 50 if fault == "other_thresholds" else 100
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), low, 200)
    if fault == "wrong_size":
        edges = cv2.resize(edges, (96, 72))
    png = b"not a png" if fault == "not_an_image" else cv2.imencode(".png", edges)[1].tobytes()
    return png, (gray.shape[1], gray.shape[0])


def add_owned_routes(app: Flask, owned: dict[str, set[str]], fault: str | None) -> None:
    """Listing, metadata and delete, each seeing only the caller's uploads unless `fault`."""

    def callers_ids() -> set[str]:
        if fault == "gallery_shared":
            return set().union(*owned.values())
        return owned.get(request.cookies.get(OWNER_COOKIE, ""), set())

    @app.get("/api/images")
    def listing() -> Response:
        return jsonify({"items": [{"id": image_id} for image_id in callers_ids()], "next": None})

    @app.get("/api/images/<image_id>")
    def metadata(image_id: str) -> tuple[object, int]:
        visible = image_id in callers_ids() or fault == "foreign_get"
        return ({"id": image_id}, 200) if visible else ({}, 404)

    @app.delete("/api/images/<image_id>")
    def delete(image_id: str) -> tuple[str, int]:
        if fault == "delete_broken":
            return "", 500
        mine = callers_ids()
        if image_id not in mine and fault != "foreign_delete":
            return "", 404
        if fault not in ("not_unlisted", "foreign_delete"):
            mine.discard(image_id)
        return "", 204


def fake_deployment(results: Path, fault: str | None) -> Flask:
    """The public surface of a deployment, computing edges the documented way unless told not,
    each upload owned by the client whose cookie it came with (or a new one)."""
    app = Flask(__name__)
    owned: dict[str, set[str]] = {}
    counter = itertools.count(1)
    add_owned_routes(app, owned, fault)

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
    def upload() -> tuple[object, int] | Response:
        if fault == "upload_rejected":
            return "boom", 500
        key = request.cookies.get(OWNER_COOKIE) or secrets.token_urlsafe(8)
        image_id = f"r{next(counter)}"
        owned.setdefault(key, set()).add(image_id)
        png, (width, height) = edge_map(request.files["file"].read(), fault)
        if fault != "edges_missing":
            (results / f"{image_id}.png").write_bytes(png)
        other_blur = fault in ("other_params", "other_defaults")
        params = {"low": 100, "high": 200, "blur": 3 if other_blur else 5}
        if fault != "other_params":  # that fault ignores what the client sent
            params |= {name: int(value) for name, value in request.form.items()}
        if fault == "new_neutral_param":
            params["sharpen"] = 0
        body = {"id": image_id, "edges_url": f"/results/{image_id}.png", "params": params}
        answer = jsonify(body | {"width": width, "height": height})
        answer.status_code = 201
        answer.set_cookie(OWNER_COOKIE, key, httponly=True, samesite="Lax")
        return answer

    @app.get("/results/<name>")
    def result(name: str) -> object:
        path = results / name
        if not path.exists():
            abort(404)
        answer = send_file(path, mimetype="image/png")
        public = fault == "results_public"
        answer.headers["Cache-Control"] = f"{'public' if public else 'private'}, max-age=31536000"
        return answer

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
    assert "ok: uploads hidden from other clients" in out, out
    assert "ok: deleted uploads unlisted" in out, out
    assert "smoke test passed" in out


def test_a_new_parameter_whose_default_changes_nothing_passes(serve) -> None:
    """Adding an image parameter must not mean editing the smoke test (docs/architecture.md,
    "Adding an image parameter"): the edges decide."""
    assert smoke.main([serve("new_neutral_param"), "--uploads", "1", "--seed", "7"]) == 0


def test_the_smoke_test_sends_the_params_it_compares(serve) -> None:
    """A deployment whose defaults differ from the reference still passes: the smoke test
    sends the reference's params and checks only those came back."""
    assert smoke.main([serve("other_defaults"), "--uploads", "1", "--seed", "7"]) == 0


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
