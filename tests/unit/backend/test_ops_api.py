"""Liveness, readiness, metrics, request ids and the OpenAPI document."""

import os
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from canny import create_app
from canny.settings import Settings
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from prometheus_client import REGISTRY
from werkzeug.test import TestResponse


def test_healthz_answers_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_ready_with_a_writable_results_dir(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_results_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("results cannot live below a regular file")
    client = create_app(Settings(results_dir=blocker / "results")).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"
    assert client.get("/healthz").status_code == 200, "liveness must not depend on storage"


def test_readyz_is_503_when_free_space_cannot_hold_an_upload(tmp_path: Path) -> None:
    """The probe saw readiness say yes with 432 KB free while every upload got 507: an
    upload limit larger than the disk's free space now makes the backend not ready."""
    free = os.statvfs(tmp_path)
    room = free.f_bavail * free.f_frsize
    client = create_app(Settings(results_dir=tmp_path, max_upload_bytes=room)).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"


UPLOAD_CREATED = {"route": "/api/images", "method": "POST", "status": "201"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_stages_bytes_pixels_and_cache_hits(
    client: FlaskClient, upload: Callable[..., TestResponse], shapes_png: bytes
) -> None:
    names = {
        "requests": (
            "canny_http_requests_total",
            {"route": "/api/images", "method": "POST", "status": "201"},
        ),
        "decode": ("canny_pipeline_stage_seconds_count", {"stage": "decode"}),
        "canny": ("canny_pipeline_stage_seconds_count", {"stage": "canny"}),
        "encode": ("canny_pipeline_stage_seconds_count", {"stage": "encode"}),
        "bytes": ("canny_input_bytes_sum", {}),
        "pixels": ("canny_pixels_processed_total", {}),
        "hits": ("canny_cache_hits_total", {}),
        "processed": ("canny_images_processed_total", {}),
    }
    before = {key: sample(name, **labels) for key, (name, labels) in names.items()}
    upload(shapes_png)
    upload(shapes_png)
    after = {key: sample(name, **labels) for key, (name, labels) in names.items()}
    growth = {key: after[key] - before[key] for key in names}
    assert growth == {
        "requests": 2,
        "decode": 1,
        "canny": 1,
        "encode": 1,
        "bytes": 2 * len(shapes_png),
        "pixels": 160 * 120,
        "hits": 1,
        "processed": 1,
    }
    exposition = client.get("/metrics")
    assert exposition.status_code == 200
    assert exposition.content_type.startswith("text/plain")
    assert b"canny_pipeline_stage_seconds_bucket" in exposition.data


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("gateway-req-42", True), ("a" * 129, False), ("bad id\twith space", False), ("", False)],
)
def test_request_id_is_echoed_when_sane(client: FlaskClient, sent: str, kept: bool) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    echoed = response.headers["X-Request-ID"]
    assert (echoed == sent) is kept, f"sent {sent!r}, got {echoed!r}"
    assert 1 <= len(echoed) <= 128


def test_openapi_document_is_valid_and_covers_every_route(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    validate(document)
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = {
        # Flask's `<converter(args):name>` is OpenAPI's `{name}`.
        (re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == documented, f"served but undocumented or vice versa: {served ^ documented}"


def test_every_error_status_of_the_upload_is_documented(client: FlaskClient) -> None:
    responses = client.get("/api/openapi.json").get_json()["paths"]["/api/images"]["post"]
    assert {"201", "400", "413", "415", "507"} <= set(responses["responses"])


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_opencv_warnings_are_silenced_so_logs_stay_json(app: Flask) -> None:
    assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_ERROR


def test_every_images_operation_documents_the_owner_key(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ownerCookie"]["name"] == "canny_owner"
    assert schemes["ownerBearer"]["scheme"] == "bearer"
    for path in ("/api/images", "/api/images/{image_id}"):
        for method, operation in document["paths"][path].items():
            if method == "parameters":
                continue
            assert "401" in operation["responses"], f"{method} {path} lacks its 401"
            assert {"ownerCookie": []} in operation["security"], f"{method} {path}"
