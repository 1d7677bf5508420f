"""The OpenAPI document is generated (spectree) from the pydantic models the API is built
with, and describing a route never makes the library read a request body."""

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from canny.api_models import ImageList, LookupResult, UploadResult
from canny.edge_params import param_ranges
from flask.testing import FlaskClient
from spectree.plugins.flask_plugin import FlaskPlugin
from werkzeug.formparser import FormDataParser
from werkzeug.test import TestResponse

Upload = Callable[..., TestResponse]


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/openapi.json").get_json()


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def test_every_parameter_range_in_the_document_is_the_models(document: dict[str, Any]) -> None:
    """The form, the query and the re-run body all say what EdgeParams accepts."""
    lookup = document["paths"]["/api/images/lookup"]["get"]["parameters"]
    places = {
        "upload form": schema(document, "UploadForm")["properties"],
        "re-run body": schema(document, "RerunFields")["properties"],
        "lookup query": {parameter["name"]: parameter["schema"] for parameter in lookup},
    }
    for place, properties in places.items():
        for name, spec in param_ranges().items():
            described = properties[name]
            found = (described["minimum"], described["maximum"], described["default"])
            assert found == (spec["min"], spec["max"], spec["default"]), f"{name} in {place}"
            if spec.get("odd"):
                assert described["enum"] == list(range(spec["min"], spec["max"] + 1, 2))


def test_the_rerun_takes_json_or_a_urlencoded_form_and_no_body_at_all(
    document: dict[str, Any],
) -> None:
    body = document["paths"]["/api/images/{image_id}/rerun"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "application/x-www-form-urlencoded"}
    assert body["required"] is False
    assert schema(document, "RerunFields")["additionalProperties"] is False


def test_every_id_in_a_path_is_described_by_its_pattern(document: dict[str, Any]) -> None:
    described = [
        parameter["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for parameter in operation["parameters"]
        if parameter["in"] == "path"
    ]
    assert len(described) == 4, "get, delete, re-run and preview take an id"
    assert all(schema == {"type": "string", "pattern": "^[0-9a-f]{32}$"} for schema in described)


def test_the_preview_is_documented_as_a_png(document: dict[str, Any]) -> None:
    answer = document["paths"]["/api/images/{image_id}/preview.png"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["image/png"]


def test_answers_are_what_the_documented_models_accept(
    client: FlaskClient, upload: Upload, shapes_png: bytes
) -> None:
    created = upload(shapes_png).get_json()
    UploadResult.model_validate(created)
    assert "owner_key" in created
    again = client.post(f"/api/images/{created['id']}/rerun", json={"low": 10}).get_json()
    UploadResult.model_validate(again)
    sha256 = hashlib.sha256(shapes_png).hexdigest()
    LookupResult.model_validate(client.get(f"/api/images/lookup?sha256={sha256}").get_json())
    listed = ImageList.model_validate(client.get("/api/images").get_json())
    assert {item.id for item in listed.items} == {created["id"], again["id"]}


def test_the_upload_is_never_parsed_by_werkzeug_or_the_openapi_library(
    upload: Upload, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads stream through `multipart` only: a library validating the declared form
    would read the body again through werkzeug's form parser (request.form)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("werkzeug's form parser read the upload")

    monkeypatch.setattr(FormDataParser, "parse", refuse)
    assert upload(shapes_png, low=10, high=20, blur=3).status_code == 201


def test_answers_are_not_taken_apart_and_rebuilt_by_the_openapi_library(
    client: FlaskClient, upload: Upload, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 31: spectree's wrapper, even told to skip validation, rebuilt every answer
    (FlaskPlugin.validate_response), a tenth of a lookup's CPU in the app. Described routes
    run their handlers directly and still appear in the document."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("spectree's wrapper ran for a request")

    monkeypatch.setattr(FlaskPlugin, "validate", refuse)
    created = upload(shapes_png).get_json()
    sha256 = hashlib.sha256(shapes_png).hexdigest()
    assert client.get(f"/api/images/lookup?sha256={sha256}").status_code == 200
    assert client.get(f"/api/images/{created['id']}").status_code == 200
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/images", "/api/images/lookup"} <= set(paths)
