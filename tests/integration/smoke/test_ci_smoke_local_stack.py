"""`python -m ci.smoke` against the real local stack (nginx + two gunicorn backends): it
passes on a good deployment and names the fault when one backend answers wrong images."""

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from canny import create_app, pipeline
from canny.edge_params import EdgeParams
from canny.pipeline_runner import PipelineRunner
from canny.settings import Settings
from flask import Flask, Response, request
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
    # The gallery is per owner: only the smoke test's own session could see its uploads,
    # so the smoke test checks itself that they are hidden from others and deleted.
    assert "ok: uploads hidden from other clients" in result.stdout
    assert "ok: deleted uploads unlisted" in result.stdout


def miscalibrated_backend(
    results_dir: Path, uploads: list[str], monkeypatch: pytest.MonkeyPatch
) -> Flask:
    """A real backend on the shared results folder (so owners, listing and deletes work as
    on the others) whose edge detection uses other thresholds (50/150) while it reports
    the defaults: it answers every request well-formed, only its edge maps are wrong.
    It computes in its own process (the product runs the pipeline in a child process,
    which a monkeypatch here would not reach)."""
    calibrated = pipeline.edges_of_gray

    def miscalibrated(gray: np.ndarray, params: EdgeParams) -> np.ndarray:
        return calibrated(gray, EdgeParams(low=50, high=150, blur=params.blur))

    def run_here(
        runner: PipelineRunner,
        data: bytes,
        params: EdgeParams,
        pixels: int,
        with_view: bool,
        deadline: float | None = None,
    ) -> pipeline.EdgeResult:
        return pipeline.run(data, params, with_view)

    monkeypatch.setattr(pipeline, "edges_of_gray", miscalibrated)
    monkeypatch.setattr(PipelineRunner, "run", run_here)
    app = create_app(Settings(results_dir=results_dir))

    @app.after_request
    def remember_upload(response: Response) -> Response:
        if request.method == "POST" and response.status_code == 201:
            uploads.append(response.get_json()["id"])
        return response

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
def stack_with_a_bad_backend(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalStack, list[str]]]:
    """The local stack with backend-2 replaced, on its own port, by the miscalibrated one."""
    uploads: list[str] = []
    port = local_stack.backends[1].port
    local_stack.kill_backend(1)
    wait_until_port_is_free(port)
    app = miscalibrated_backend(local_stack.results_dir, uploads, monkeypatch)
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
    assert "edge map differs from the reference pipeline in" in result.stderr, result.stderr
    assert "ok: upload" in result.stdout, "uploads served by the good backend must still pass"
    assert result.stderr.rstrip().endswith("smoke test failed: 2 check(s)"), result.stderr
