"""The API on either store: cached repeats, JSON errors, and the store's faults mapped."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from canny import create_app
from canny.settings import Settings
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from infra.rehearse.s3_emulator import MotoServer
from tests.unit.backend import sample_images


@pytest.fixture(params=["file", "s3"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, s3_credentials: dict[str, str]
) -> FlaskClient:
    if request.param == "file":
        return create_app(Settings(results_dir=tmp_path / "results")).test_client()
    server: MotoServer = request.getfixturevalue("moto_server")
    bucket = request.getfixturevalue("bucket")
    settings = Settings(storage="s3", s3_bucket=bucket, s3_endpoint_url=server.endpoint_url)
    return create_app(settings).test_client()


def post(client: FlaskClient, data: bytes) -> TestResponse:
    form = {"file": (io.BytesIO(data), "upload.png")}
    return client.post("/api/images", data=form, content_type="multipart/form-data")


def test_a_repeat_upload_is_cached_and_listed_once(client: FlaskClient) -> None:
    data = sample_images.encode(sample_images.shapes())
    first = post(client, data)
    assert first.status_code == 201, first.json
    assert first.json["cached"] is False
    client.set_cookie("canny_owner", first.json["owner_key"], path="/api/")
    second = post(client, data)
    assert second.status_code == 201
    assert second.json["cached"] is True
    assert second.json["id"] == first.json["id"]
    listing = client.get("/api/images").json
    assert [item["id"] for item in listing["items"]] == [first.json["id"]]
    edges_url = client.get(f"/api/images/{first.json['id']}").json["edges_url"]
    assert urlsplit(edges_url).path == f"/results/{first.json['id']}.png"
    assert client.delete(f"/api/images/{first.json['id']}").status_code == 204
    assert client.get(f"/api/images/{first.json['id']}").status_code == 404
    assert client.get("/readyz").status_code == 200


def test_an_unreachable_store_answers_503_storage_unavailable(
    tmp_path: Path, free_port: int, s3_credentials: dict[str, str]
) -> None:
    settings = Settings(
        storage="s3", s3_bucket="canny-gone", s3_endpoint_url=f"http://127.0.0.1:{free_port}"
    )
    client = create_app(settings).test_client()
    answer = post(client, sample_images.encode(sample_images.shapes()))
    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "storage_unavailable"
    assert client.get("/api/images").json["error"]["code"] == "storage_unavailable"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["error"]["code"] == "not_ready"


def test_the_api_description_names_the_storage_failure(tmp_path: Path) -> None:
    document = create_app(Settings(results_dir=tmp_path)).test_client().get("/api/openapi.json")
    for path in ("/api/images", "/api/images/{image_id}/rerun"):
        assert "503" in document.json["paths"][path]["post"]["responses"], path


def test_image_urls_match_the_api_description(client: FlaskClient) -> None:
    """On S3 the URLs carry their signature: the OpenAPI patterns must take it."""
    created = post(client, sample_images.encode(sample_images.shapes()))
    assert created.status_code == 201, created.json
    document = client.get("/api/openapi.json").json
    properties = document["components"]["schemas"]["ImageRecord"]["properties"]
    for name in ("original_url", "view_url", "edges_url"):
        assert re.fullmatch(properties[name]["pattern"], created.json[name]), name
