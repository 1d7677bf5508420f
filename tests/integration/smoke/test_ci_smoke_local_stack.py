"""`python -m ci.smoke` against the real local stack (nginx + two gunicorn backends): it
passes on a good deployment and names the fault when one backend answers wrong images."""

import hashlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from localrun.stack import LocalStack

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_smoke(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ci.smoke", url, "--wait", "10", *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_smoke_test_passes_on_the_local_stack(local_stack: LocalStack) -> None:
    result = run_smoke(local_stack.url, "--uploads", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
    gallery = requests.get(f"{local_stack.url}/api/images", timeout=10).json()
    assert gallery["items"] == [], "the smoke test must delete what it uploaded"


def miscalibrated_backend(results_dir: Path, uploads: list[str]) -> Flask:
    """A backend built with other Canny thresholds (50/150) that still reports the defaults:
    it answers every request well-formed, only its edge maps are wrong."""
    app = Flask(__name__)

    @app.post("/api/images")
    def upload() -> tuple[object, int]:
        data = request.files["file"].read()
        image_id = hashlib.sha256(data).hexdigest()[:32]
        gray = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2GRAY)
        edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 50, 150)
        (results_dir / f"{image_id}.png").write_bytes(cv2.imencode(".png", edges)[1].tobytes())
        uploads.append(image_id)
        body = {
            "id": image_id,
            "edges_url": f"/results/{image_id}.png",
            "width": gray.shape[1],
            "height": gray.shape[0],
            "params": {"low": 100, "high": 200, "blur": 5},
        }
        return jsonify(body), 201

    @app.delete("/api/images/<image_id>")
    def delete(image_id: str) -> tuple[str, int]:
        (results_dir / f"{image_id}.png").unlink(missing_ok=True)
        return "", 204

    return app


def wait_until_port_is_free(port: int, timeout: float = 10.0) -> None:
    """A SIGKILLed gunicorn's processes release the listening socket a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(0.1)


@pytest.fixture
def stack_with_a_bad_backend(local_stack: LocalStack) -> Iterator[tuple[LocalStack, list[str]]]:
    """The local stack with backend-2 replaced, on its own port, by the miscalibrated one."""
    uploads: list[str] = []
    port = local_stack.backends[1].port
    local_stack.kill_backend(1)
    wait_until_port_is_free(port)
    app = miscalibrated_backend(local_stack.results_dir, uploads)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield local_stack, uploads
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_smoke_test_fails_when_one_backend_answers_wrong_images(
    stack_with_a_bad_backend: tuple[LocalStack, list[str]],
) -> None:
    stack, bad_uploads = stack_with_a_bad_backend
    result = run_smoke(stack.url, "--uploads", "4")
    assert result.returncode == 1, result.stdout + result.stderr
    assert bad_uploads, "no upload reached the miscalibrated backend: the test proves nothing"
    assert "edge map differs from the DESIGN.md pipeline in" in result.stderr, result.stderr
    assert "ok: upload" in result.stdout, "uploads served by the good backend must still pass"
    assert result.stderr.rstrip().endswith("smoke test failed: 2 check(s)"), result.stderr
