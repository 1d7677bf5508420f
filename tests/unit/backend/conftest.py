"""Backend fixtures: an app on a private results directory and its test client."""

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from canny import create_app
from canny.settings import Settings
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.unit.backend import sample_images


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(results_dir=tmp_path / "results")


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def upload(client: FlaskClient) -> Callable[..., TestResponse]:
    """POST bytes as the multipart `file` field, with optional form fields."""

    def post(data: bytes, filename: str = "upload.bin", **fields: Any) -> TestResponse:
        form: dict[str, Any] = {name: str(value) for name, value in fields.items()}
        form["file"] = (io.BytesIO(data), filename)
        return client.post("/api/images", data=form, content_type="multipart/form-data")

    return post


@pytest.fixture
def shapes_png() -> bytes:
    return sample_images.encode(sample_images.shapes(), "png")
