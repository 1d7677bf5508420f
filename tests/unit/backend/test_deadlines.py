"""Deadlines agree: the backend answers before the gateway gives up on it, and stores
nothing after its own deadline (issue 28: an upload answered 503 by the gateway at 60 s
was stored at 64.7 s)."""

import io
import re
import time
from pathlib import Path

import pytest
from canny import create_app
from canny.extensions import pipeline_runner
from canny.pipeline_runner import PipelineRunner
from canny.settings import Settings
from flask.testing import FlaskClient

from tests.unit.backend.results_folder import visible_files

TEMPLATE = Path(__file__).parents[3] / "app" / "gateway" / "nginx.conf.template"


def gateway_read_timeout_seconds() -> float:
    """The API location's proxy_read_timeout (the server-level one it inherits)."""
    [seconds] = re.findall(r"^        proxy_read_timeout (\d+)s;", TEMPLATE.read_text(), re.M)
    return float(seconds)


def test_the_backend_deadline_is_shorter_than_the_gateway_read_timeout() -> None:
    settings = Settings()
    assert settings.max_processing_seconds < settings.request_deadline_seconds
    # Margin for storing the result and the answer's way back through nginx.
    assert settings.request_deadline_seconds + 10 <= gateway_read_timeout_seconds()


def test_a_deadline_that_cannot_hold_a_run_is_refused() -> None:
    with pytest.raises(ValueError, match="REQUEST_DEADLINE_SECONDS must be greater"):
        Settings(max_processing_seconds=10, request_deadline_seconds=10)


def test_a_result_finished_after_the_deadline_is_not_stored(
    tmp_path: Path, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        results_dir=tmp_path / "results", max_processing_seconds=0.2, request_deadline_seconds=0.3
    )
    app = create_app(settings)
    pipeline_runner(app).start()  # children ready: the deadline is spent on the run alone
    client: FlaskClient = app.test_client()
    real_run = PipelineRunner.run

    def late(*args: object, **kwargs: object) -> object:
        result = real_run(*args, **kwargs)
        time.sleep(0.4)  # as if the machine stalled after the run
        return result

    monkeypatch.setattr(PipelineRunner, "run", late)
    response = client.post("/api/images", data={"file": (io.BytesIO(shapes_png), "a.png")})
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "busy"
    assert response.headers["Retry-After"] == "1"
    assert visible_files(settings.results_dir) == []
